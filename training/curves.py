"""Training logs: ``metrics.jsonl`` (the record), TensorBoard event files and ``curves.png``.

Every scalar goes to all three. A resumed run appends to ``metrics.jsonl``; steps logged
after the last checkpoint of an interrupted run are logged again on resume, and the plot
keeps the newest value of each step.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kg.io import append_jsonl, atomic_write_jsonl, read_jsonl_tolerant


class MetricsLog:
    """Scalars to ``<out_dir>/metrics.jsonl``, ``<out_dir>/tensorboard/`` and ``<out_dir>/curves.png``.

    Args:
        out_dir: the run folder.
        enabled: False on non-main processes of a distributed run (they log nothing).
        fresh: a run starting from step 0: delete the logs of an earlier run in the same folder
            (otherwise its later steps would be plotted after this run's first ones).
    """

    def __init__(self, out_dir: str | Path, enabled: bool = True, fresh: bool = False):
        self.out_dir = Path(out_dir)
        self.enabled = enabled
        self.writer = None
        if enabled and fresh:
            self.path.unlink(missing_ok=True)
            (self.out_dir / "curves.png").unlink(missing_ok=True)
            shutil.rmtree(self.out_dir / "tensorboard", ignore_errors=True)
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            if self.path.is_file():  # a run killed mid-write may have left a partial last line
                atomic_write_jsonl(self.path, list(read_jsonl_tolerant(self.path)))

            self.writer = SummaryWriter(str(self.out_dir / "tensorboard"))

    @property
    def path(self) -> Path:
        return self.out_dir / "metrics.jsonl"

    def log(self, kind: str, step: int, epoch: float, values: dict) -> None:
        """Record ``values`` (name -> float) of ``kind`` (``train`` or ``dev``) at optimizer step ``step``."""
        if not self.enabled:
            return
        append_jsonl(self.path, [dict(kind=kind, step=step, epoch=epoch, **values)])
        for name, value in values.items():
            self.writer.add_scalar(f"{kind}/{name}", value, step)
        self.writer.flush()

    def plot(self) -> Path | None:
        """Draw train loss and LR per step and the dev metrics per epoch to ``curves.png``."""
        if not self.enabled:
            return None
        rows: dict[tuple[str, int], dict] = {}
        for r in read_jsonl_tolerant(self.path):
            rows[(r["kind"], r["step"])] = r  # newest wins (a resumed run re-logs some steps)
        train = sorted((r for (k, _), r in rows.items() if k == "train"), key=lambda r: r["step"])
        dev = sorted((r for (k, _), r in rows.items() if k == "dev"), key=lambda r: r["step"])
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        panels = [("train", "loss"), ("train", "lr"), ("dev", "loss"), ("dev", "rougeL"), ("dev", "eos_rate")]
        fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
        for ax, (kind, name) in zip(axes, panels):
            pts = [(r["epoch"] if kind == "dev" else r["step"], r[name]) for r in (train if kind == "train" else dev)
                   if name in r]
            if pts:
                ax.plot(*zip(*pts), marker="o" if kind == "dev" else None)
            ax.set_title(f"{kind} {name}")
            ax.set_xlabel("epoch" if kind == "dev" else "optimizer step")
            ax.grid(alpha=0.3)
        fig.subplots_adjust(left=0.04, right=0.99, bottom=0.17, top=0.9, wspace=0.3)  # tight_layout: 3x slower
        out = self.out_dir / "curves.png"
        fig.savefig(out, dpi=100)
        plt.close(fig)
        return out

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_metrics(out_dir: str | Path) -> list[dict]:
    path = Path(out_dir) / "metrics.jsonl"
    return list(read_jsonl_tolerant(path)) if path.is_file() else []

