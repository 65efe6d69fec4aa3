"""Aggregate per-answer scores into ``metrics.json`` and print one-screen tables."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from evaluation.stats import bootstrap_ci

# Columns of the printed summary, in order; any other metric is still in metrics.json.
HEADLINE = ("rouge1", "rouge2", "rougeL", "bleu1", "bleu2", "bleu3", "bleu4", "bleu", "meteor", "embed_sim", "geval")


def aggregate(rows: Sequence[dict], metric_names: Sequence[str], *, n_resamples: int = 1000,
              level: float = 0.95, seed: int = 0) -> dict:
    """Means with bootstrap CIs of every per-item metric, plus stopping statistics.

    ``rows`` are prediction records with ``metrics``, ``finish_reason`` and
    ``completion_tokens``. ``eos_rate`` is the share of answers that stopped by
    themselves at EOS; ``stop_rate`` the share cut at a stop string.
    """
    aggs = {m: bootstrap_ci([r["metrics"].get(m) for r in rows], n_resamples=n_resamples, level=level, seed=seed)
            for m in metric_names}
    reasons = Counter(r["finish_reason"] for r in rows)
    n = len(rows)
    return {
        "metrics": aggs,
        "finish_reasons": dict(sorted(reasons.items())),
        "eos_rate": reasons.get("eos", 0) / n if n else None,
        "stop_rate": reasons.get("stop", 0) / n if n else None,
        "mean_answer_tokens": sum(r["completion_tokens"] for r in rows) / n if n else None,
        "mean_answer_words": sum(len(r["answer"].split()) for r in rows) / n if n else None,
    }


def _fmt(a: dict | None) -> str:
    if not a or a.get("mean") is None:
        return "missing"
    return f"{a['mean']:.4f} [{a['ci_low']:.4f}, {a['ci_high']:.4f}]"


def format_table(results: Sequence[dict], labels: Sequence[str]) -> str:
    """Metrics as rows, runs as columns: mean [95% CI]."""
    names = [m for m in HEADLINE if any(m in r["metrics"] for r in results)]
    names += sorted({m for r in results for m in r["metrics"]} - set(names) - {"rs_rougeLsum"})
    rows = [("metric", *labels)]
    for m in names:
        rows.append((m, *(_fmt(r["metrics"].get(m)) for r in results)))
    rows.append(("sacreBLEU (corpus)", *(
        f"{r['sacrebleu']['score']:.2f}" if r.get("sacrebleu") else "missing" for r in results)))
    rows.append(("EOS rate", *(f"{r['eos_rate']:.1%}" for r in results)))
    rows.append(("finish reasons", *(" ".join(f"{k}={v}" for k, v in r["finish_reasons"].items()) for r in results)))
    rows.append(("mean answer tokens", *(f"{r['mean_answer_tokens']:.1f}" for r in results)))
    rows.append(("n", *(str(r["n"]) for r in results)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
