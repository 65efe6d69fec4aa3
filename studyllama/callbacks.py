"""Hydra callbacks: write the sweep report when an ``eval`` multirun ends (conf/hydra/callbacks/report.yaml)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class ReportOnMultirunEnd(Callback):
    """After the last job of a multirun, ``studyllama report <sweep dir>``.

    A failed report is logged with the command to redo it and does not fail the sweep,
    whose jobs have finished and written their results.

    Args:
        enabled: set ``hydra.callbacks.report.enabled=false`` to skip it. Default True.
        drilldown_limit: questions in the HTML drill-down. Default None: all.
    """

    def __init__(self, enabled: bool = True, drilldown_limit: int | None = None):
        self.enabled, self.drilldown_limit = enabled, drilldown_limit

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            from evaluation.report import build_report

            files = build_report(sweep_dir, drilldown_limit=self.drilldown_limit)
            print(f"\nreport: {files['md']}\n        {files['html']}")
        except Exception:  # noqa: BLE001  (the sweep's results are safe; say how to redo the report)
            log.exception("the sweep report failed; redo it with `studyllama report %s`", sweep_dir)
