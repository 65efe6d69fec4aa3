"""The sweep report: collect every job's ``metrics.json`` and overrides into ``results.csv``,
``results.md``, grouped bar charts and a static HTML page with a per-question drill-down.

Entry points: ``studyllama report <sweep_dir>`` and the Hydra callback
``studyllama.callbacks.ReportOnMultirunEnd`` (run at the end of every ``eval`` multirun).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

from evaluation.report.collect import collect_jobs
from evaluation.report.html import render_report
from evaluation.report.plots import plot_all
from evaluation.report.table import metric_names, to_csv, to_markdown
from kg.io import atomic_write_text

log = logging.getLogger(__name__)


def build_report(sweep_dir: str | Path, out_dir: str | Path | None = None, *, metrics: Sequence[str] | None = None,
                 title: str | None = None, plots: bool = True, drilldown_limit: int | None = None) -> dict[str, Path]:
    """Write the report of the sweep in ``sweep_dir`` and return the written files by kind.

    Args:
        out_dir: where the files go. Default ``<sweep_dir>/report``.
        metrics: metric names for the table and plots. Default None: every metric present.
        title: page and table title. Default ``"studyllama report: <sweep folder name>"``.
        plots: draw the bar charts (matplotlib, Agg). Default True.
        drilldown_limit: questions in the HTML drill-down. Default None: all.
    """
    t0 = time.perf_counter()
    sweep = Path(sweep_dir).resolve()
    out = Path(out_dir).resolve() if out_dir else sweep / "report"
    title = title or f"studyllama report: {sweep.name}"
    jobs = collect_jobs(sweep, exclude=out)
    names = metric_names(jobs, metrics)
    files = {"csv": out / "results.csv", "md": out / "results.md", "html": out / "report.html"}
    atomic_write_text(files["csv"], to_csv(jobs, names, sweep))
    atomic_write_text(files["md"], to_markdown(jobs, names, title))
    pngs = plot_all(jobs, names, out / "plots") if plots else {}
    atomic_write_text(files["html"], render_report(jobs, names, pngs, out, title=title, sweep_dir=sweep,
                                                   limit=drilldown_limit))
    files.update({f"plot_{k}": v for k, v in pngs.items()})
    log.info("report: %d variants, %d metrics -> %s in %.1fs", len(jobs), len(names), out, time.perf_counter() - t0)
    return files
