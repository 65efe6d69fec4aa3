"""Load and validate interview Q&A corpora stored as JSONL.

One record per line: ``{id, domain, topic, question, answer, concepts, difficulty, split}``
(``data/README.md`` is the datasheet). A path may be one ``.jsonl`` file or a folder,
read recursively in sorted order. Every problem is reported as ``file:line`` plus
what to fix, and all problems of a file are reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kg.io import jsonl_lines

DOMAINS = ("cs", "stats", "ai")
SPLITS = ("train", "dev", "test")
DIFFICULTIES = ("basic", "intermediate", "advanced")
REQUIRED = ("id", "domain", "question", "answer")


class CorpusError(ValueError):
    """A corpus file is missing or has invalid records."""


@dataclass(frozen=True)
class QARecord:
    id: str
    domain: str
    question: str
    answer: str
    split: str
    topic: str | None = None
    concepts: tuple[str, ...] = ()
    difficulty: str | None = None
    source: str | None = None
    license: str | None = None
    location: str = field(default="", compare=False)  # "file:line", for error messages


def _check(rec: dict, where: str, default_split: str | None) -> tuple[QARecord | None, list[str]]:
    errs = []
    if not isinstance(rec, dict):
        return None, [f"{where}: expected a JSON object, got {type(rec).__name__}"]
    for key in REQUIRED:
        if not isinstance(rec.get(key), str) or not rec[key].strip():
            errs.append(f"{where}: key '{key}' is missing or not a non-empty string")
    if isinstance(rec.get("domain"), str) and rec["domain"] not in DOMAINS:
        errs.append(f"{where}: domain '{rec['domain']}' is not one of {list(DOMAINS)}")
    split = rec.get("split", default_split)
    if split is None:
        errs.append(f"{where}: key 'split' is missing (one of {list(SPLITS)})")
    elif split not in SPLITS:
        errs.append(f"{where}: split '{split}' is not one of {list(SPLITS)}")
    concepts = rec.get("concepts", [])
    if not isinstance(concepts, list) or not all(isinstance(c, str) and c for c in concepts):
        errs.append(f"{where}: key 'concepts' must be a list of non-empty strings")
        concepts = []
    diff = rec.get("difficulty")
    if diff is not None and diff not in DIFFICULTIES:
        errs.append(f"{where}: difficulty '{diff}' is not one of {list(DIFFICULTIES)}")
    if errs:
        return None, errs
    return QARecord(
        id=rec["id"], domain=rec["domain"], question=rec["question"].strip(), answer=rec["answer"].strip(),
        split=split, topic=rec.get("topic"), concepts=tuple(concepts), difficulty=diff,
        source=rec.get("source"), license=rec.get("license"), location=where,
    ), []


def corpus_files(path: str | Path) -> list[Path]:
    path = Path(path).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(path.rglob("*.jsonl"))
        if files:
            return files
        raise CorpusError(f"{path}: folder holds no .jsonl files; point data.path at a corpus file or folder")
    raise CorpusError(f"{path}: no such file or folder; set data.path to a corpus .jsonl file or folder")


def load_corpus(path: str | Path, *, splits: tuple[str, ...] | None = None,
                default_split: str | None = None) -> list[QARecord]:
    """Read and validate every record under ``path``.

    Args:
        path: a ``.jsonl`` file or a folder of them.
        splits: keep only these splits (default: all).
        default_split: split given to records without one (public benchmark sets have
            none: they are evaluation-only). Default None: a missing split is an error.

    Raises:
        CorpusError: listing every invalid line as ``file:line: problem`` and any id
            that appears twice with both locations.
    """
    records, errors, seen = [], [], {}
    for file in corpus_files(path):
        for where, raw, bad_json in jsonl_lines(file):
            if bad_json:
                errors.append(bad_json)
                continue
            rec, errs = _check(raw, where, default_split)
            errors.extend(errs)
            if rec is None:
                continue
            if rec.id in seen:
                errors.append(f"{where}: id '{rec.id}' already used at {seen[rec.id]}; ids must be unique")
                continue
            seen[rec.id] = where
            records.append(rec)
    if errors:
        shown = "\n  ".join(errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise CorpusError(f"{len(errors)} invalid record(s):\n  {shown}{more}")
    if not records:
        raise CorpusError(f"{path}: the corpus is empty; add JSONL records (see data/README.md)")
    if splits is not None:
        records = [r for r in records if r.split in splits]
    return records


def stratified_subset(records: list[QARecord], limit: int | None, seed: int = 0) -> list[QARecord]:
    """Pick ``limit`` records, as even across domains as possible, deterministically.

    Records are taken round-robin over domains, each domain in an order fixed by
    hashing ``seed`` with the record id, so a subset of n is a prefix of the subset
    of n + 1 and adding records to one domain never reshuffles another.
    """
    if limit is None or limit >= len(records):
        return list(records)
    import hashlib

    def key(r: QARecord) -> str:
        return hashlib.sha256(f"{seed}:{r.id}".encode()).hexdigest()

    by_domain: dict[str, list[QARecord]] = {}
    for r in sorted(records, key=key):
        by_domain.setdefault(r.domain, []).append(r)
    queues = [by_domain[d] for d in sorted(by_domain)]
    out: list[QARecord] = []
    i = 0
    while len(out) < limit:
        q = queues[i % len(queues)]
        if q:
            out.append(q.pop(0))
        i += 1
    return out
