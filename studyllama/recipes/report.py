"""``studyllama report <sweep_dir>``: the report of a sweep (or of one run's folder).

Steps: collect jobs -> results.csv + results.md -> plots -> report.html.
Files go to ``<sweep_dir>/report/`` unless ``out_dir=`` says otherwise.
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from evaluation.report import build_report

log = logging.getLogger(__name__)


def main(cfg: DictConfig) -> dict:
    log.info("report on %s", cfg.sweep_dir)
    files = build_report(cfg.sweep_dir, cfg.out_dir, metrics=list(cfg.metrics) if cfg.metrics else None,
                         title=cfg.title, plots=cfg.plots, drilldown_limit=cfg.drilldown_limit)
    print(files["md"].read_text(encoding="utf-8"))
    for kind in ("csv", "md", "html"):
        print(f"{kind}: {files[kind]}")
    return files
