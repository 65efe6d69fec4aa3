"""Aggregates with percentile-bootstrap confidence intervals."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def bootstrap_ci(values: Sequence[float | None], *, n_resamples: int = 1000, level: float = 0.95,
                 seed: int = 0) -> dict:
    """Mean and a percentile-bootstrap CI over items; ``None`` values are missing, not zero.

    Returns ``{"mean", "ci_low", "ci_high", "n", "missing"}``; the mean is None when no
    value could be computed.
    """
    vals = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    missing = len(values) - len(vals)
    if len(vals) == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0, "missing": missing}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(vals), size=(n_resamples, len(vals)))
    means = vals[idx].mean(axis=1)
    alpha = (1 - level) / 2
    return {"mean": float(vals.mean()), "ci_low": float(np.quantile(means, alpha)),
            "ci_high": float(np.quantile(means, 1 - alpha)), "n": int(len(vals)), "missing": missing}
