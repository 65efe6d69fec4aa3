"""Grouped bar charts of the sweep: one PNG per metric family, variants side by side, CI error bars."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from evaluation.report.collect import Job

# Metrics on one scale share a chart; any other metric gets a chart of its own.
FAMILIES = {
    "rouge": ("rouge1", "rouge2", "rougeL"),
    "rouge_score": ("rs_rouge1", "rs_rouge2", "rs_rougeL", "rs_rougeLsum"),
    "bleu": ("bleu1", "bleu2", "bleu3", "bleu4", "bleu"),
    "similarity": ("meteor", "embed_sim", "bertscore_p", "bertscore_r", "bertscore_f1"),
    "geval": ("geval",),
}


def families(metrics: Sequence[str]) -> dict[str, list[str]]:
    out = {name: [m for m in members if m in metrics] for name, members in FAMILIES.items()}
    known = {m for members in FAMILIES.values() for m in members}
    out.update({m: [m] for m in metrics if m not in known})
    return {k: v for k, v in out.items() if v}


def grouped_bars(jobs: Sequence[Job], metrics: Sequence[str], path: Path, title: str = "") -> Path:
    """Bars of each job's mean per metric with its CI as error bar; missing values are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    n_v = len(jobs)
    width = 0.8 / max(n_v, 1)
    x = np.arange(len(metrics))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 + len(metrics) * (0.5 + 0.35 * n_v)), 3.6))
    colors = plt.get_cmap("tab10" if n_v <= 10 else "tab20").colors
    for i, j in enumerate(jobs):
        aggs = [j.summary.get("metrics", {}).get(m) or {} for m in metrics]
        mean = np.array([a.get("mean") if a.get("mean") is not None else np.nan for a in aggs], dtype=float)
        lo = np.array([a.get("ci_low") if a.get("ci_low") is not None else np.nan for a in aggs], dtype=float)
        hi = np.array([a.get("ci_high") if a.get("ci_high") is not None else np.nan for a in aggs], dtype=float)
        ax.bar(x + (i - (n_v - 1) / 2) * width, mean, width, yerr=np.nan_to_num([mean - lo, hi - mean]),
               capsize=2, label=j.label, color=colors[i % len(colors)])
    ax.set_xticks(x, metrics)
    ax.set_ylabel("mean [CI]")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_all(jobs: Sequence[Job], metrics: Sequence[str], out_dir: Path) -> dict[str, Path]:
    """``<out_dir>/<family>.png`` for each metric family present; returns family -> path."""
    return {name: grouped_bars(jobs, members, out_dir / f"{name}.png", title=name)
            for name, members in families(metrics).items()}
