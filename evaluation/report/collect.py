"""Find every job of a sweep and name each by what varies between them.

A job is a folder with a ``metrics.json`` (written by ``studyllama eval``; ``studyllama run``
writes one per prompt variant in a subfolder). Its Hydra overrides come from the nearest
``.hydra/overrides.yaml`` at or above it inside the sweep. A job's factors are its
model/method/prompt/data (from ``metrics.json``) plus its overrides; a variant's label
lists the factors whose values differ between the jobs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from kg.io import read_jsonl_tolerant

SUMMARY_FACTORS = ("model", "method", "prompt", "data")
IGNORED_OVERRIDES = ("hydra.", "eval.progress", "eval.resume")


@dataclass
class Job:
    dir: Path
    summary: dict
    overrides: list[str]
    factors: dict[str, str] = field(default_factory=dict)
    label: str = ""

    def predictions(self) -> list[dict]:
        return list(read_jsonl_tolerant(self.dir / "predictions.jsonl"))


def read_overrides(job_dir: Path, root: Path) -> list[str]:
    """The overrides of the nearest ``.hydra/overrides.yaml`` from ``job_dir`` up to ``root``."""
    from omegaconf import OmegaConf

    for d in (job_dir, *job_dir.parents):
        f = d / ".hydra" / "overrides.yaml"
        if f.is_file():
            return [str(o) for o in OmegaConf.load(f)]
        if d == root:
            break
    return []


def parse_factors(summary: dict, overrides: list[str]) -> dict[str, str]:
    factors = {k: str(summary[k]) for k in SUMMARY_FACTORS if summary.get(k) is not None}
    for o in overrides:
        key, sep, value = o.lstrip("+~").partition("=")
        if sep and not key.startswith(IGNORED_OVERRIDES):
            factors.setdefault(key, value)
    return factors


def label_jobs(jobs: list[Job]) -> None:
    """Set each job's label to its varying factors (``method=lora prompt=chat``), unique.

    An override that the other varying factors already tell apart (``variant=lora_chat`` next to
    ``method=lora prompt=chat``) is left out of the labels.
    """
    keys = sorted({k for j in jobs for k in j.factors},
                  key=lambda k: (SUMMARY_FACTORS.index(k) if k in SUMMARY_FACTORS else len(SUMMARY_FACTORS), k))
    varying = [k for k in keys if len({j.factors.get(k, "") for j in jobs}) > 1]

    def distinct(ks) -> int:
        return len({tuple(j.factors.get(k, "") for k in ks) for j in jobs})

    for k in [k for k in reversed(varying) if k not in SUMMARY_FACTORS]:
        rest = [x for x in varying if x != k]
        if rest and distinct(rest) == distinct(varying):
            varying = rest
    seen: dict[str, int] = {}
    for j in jobs:
        label = " ".join(f"{k}={j.factors.get(k, '')}" for k in varying) or f"{j.factors.get('method', '?')}/" \
            f"{j.factors.get('prompt', '?')}"
        seen[label] = seen.get(label, 0) + 1
        j.label = label if seen[label] == 1 else f"{label} #{seen[label]}"


def collect_jobs(sweep_dir: str | Path, exclude: str | Path | None = None) -> list[Job]:
    """Every job under ``sweep_dir``, labelled and sorted by label; ``exclude`` is skipped (the report folder).

    Raises:
        FileNotFoundError: no ``metrics.json`` anywhere under ``sweep_dir``.
    """
    root = Path(sweep_dir).resolve()
    skip = Path(exclude).resolve() if exclude else None
    jobs = []
    for f in sorted(root.rglob("metrics.json")):
        rel = f.relative_to(root).parts
        if any(p.startswith(".") for p in rel) or (skip and f.resolve().is_relative_to(skip)):
            continue
        summary = json.loads(f.read_text(encoding="utf-8"))
        overrides = read_overrides(f.parent, root)
        jobs.append(Job(dir=f.parent, summary=summary, overrides=overrides,
                        factors=parse_factors(summary, overrides)))
    if not jobs:
        raise FileNotFoundError(f"{root}: no job's metrics.json under it; pass the folder of a `studyllama eval -m` "
                                "sweep (multirun/eval/<date>) or of one run")
    label_jobs(jobs)
    return sorted(jobs, key=lambda j: j.label)
