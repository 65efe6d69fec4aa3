"""The results table: one row per variant, each metric as mean [CI] and n; as CSV and Markdown."""

from __future__ import annotations

import csv
import io
from typing import Sequence

from evaluation.report.collect import Job
from evaluation.summary import HEADLINE


def metric_names(jobs: Sequence[Job], only: Sequence[str] | None = None) -> list[str]:
    """Metrics present in any job: the headline ones first, in their order, then the rest sorted."""
    present = {m for j in jobs for m in j.summary.get("metrics", {})}
    if only:
        return [m for m in only if m in present]
    return [m for m in HEADLINE if m in present] + sorted(present - set(HEADLINE))


def fmt_ci(a: dict | None, digits: int = 4) -> str:
    if not a or a.get("mean") is None:
        return "missing"
    return f"{a['mean']:.{digits}f} [{a['ci_low']:.{digits}f}, {a['ci_high']:.{digits}f}]"


def _num(v) -> str:
    return "" if v is None else str(v)  # full precision; the Markdown table rounds


def to_csv(jobs: Sequence[Job], metrics: Sequence[str], root) -> str:
    """One row per job: label, folder, factors, n, then mean/ci_low/ci_high/n/missing per metric."""
    factors = sorted({k for j in jobs for k in j.factors})
    head = ["variant", "job", *factors, "n"]
    for m in metrics:
        head += [f"{m}_mean", f"{m}_ci_low", f"{m}_ci_high", f"{m}_n", f"{m}_missing"]
    head += ["eos_rate", "stop_rate", "mean_answer_tokens", "sacrebleu", "judge"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for j in jobs:
        s = j.summary
        row = [j.label, str(j.dir.relative_to(root)), *(j.factors.get(k, "") for k in factors), s.get("n")]
        for m in metrics:
            a = s.get("metrics", {}).get(m) or {}
            row += [_num(a.get(k)) for k in ("mean", "ci_low", "ci_high", "n", "missing")]
        row += [_num(s.get("eos_rate")), _num(s.get("stop_rate")), _num(s.get("mean_answer_tokens")),
                _num((s.get("sacrebleu") or {}).get("score")), (s.get("judge") or {}).get("id", "")]
        w.writerow(row)
    return buf.getvalue()


def table_rows(jobs: Sequence[Job], metrics: Sequence[str]) -> list[list[str]]:
    """Header + one row per variant: variant, n, each metric's mean [CI], EOS rate."""
    rows = [["variant", "n", *metrics, "EOS rate"]]
    for j in jobs:
        s = j.summary
        eos = s.get("eos_rate")
        rows.append([j.label, str(s.get("n", "")), *(fmt_ci(s.get("metrics", {}).get(m)) for m in metrics),
                     "missing" if eos is None else f"{eos:.1%}"])
    return rows


def to_markdown(jobs: Sequence[Job], metrics: Sequence[str], title: str = "Results") -> str:
    level = next((j.summary.get("ci_level") for j in jobs if j.summary.get("ci_level")), 0.95)
    rows = table_rows(jobs, metrics)
    lines = [f"# {title}", "",
             f"Mean over questions [{level:.0%} percentile-bootstrap CI]; n = questions answered; "
             "missing = the metric could not be computed.", "",
             "| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows[1:]]
    judges = sorted({(j.summary.get("judge") or {}).get("id", "") for j in jobs} - {""})
    if judges:
        lines += ["", "G-Eval judge: " + ", ".join(f"`{x}`" for x in judges)]
    return "\n".join(lines) + "\n"
