"""Draw the fixed train/dev/test splits once, stratified by topic.

The split is stored in each record and never re-drawn: :func:`assign_splits` only
fills records whose split is ``unassigned``. Per topic, the share of each split follows
the global targets (1,000 / 50 / 481), rounded by largest remainder so the totals are
exact; within a topic, records are ordered by a hash of their id, so the draw does not
depend on file order.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict

TARGETS = {"test": 481, "dev": 50, "train": 1000}


def _largest_remainder(weights: dict[str, float], total: int) -> dict[str, int]:
    floors = {k: math.floor(w) for k, w in weights.items()}
    left = total - sum(floors.values())
    for k in sorted(weights, key=lambda k: (-(weights[k] - floors[k]), k))[:left]:
        floors[k] += 1
    return floors


def assign_splits(rows: list[dict], targets: dict[str, int] = TARGETS) -> list[dict]:
    """Return ``rows`` with every ``unassigned`` split drawn; counts per split equal ``targets``.

    Raises:
        ValueError: if some rows already have splits (a partial re-draw would change the
            fixed splits) or the corpus size differs from the sum of ``targets``.
    """
    if any(r["split"] != "unassigned" for r in rows):
        raise ValueError("some records already have a split; splits are drawn once and never re-drawn")
    if len(rows) != sum(targets.values()):
        raise ValueError(f"corpus has {len(rows)} records; the fixed splits need exactly {sum(targets.values())}")
    by_topic: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_topic[r["topic"]].append(r)
    counts = {}
    for split in ("test", "dev"):
        share = targets[split] / len(rows)
        counts[split] = _largest_remainder({t: len(rs) * share for t, rs in by_topic.items()}, targets[split])
    for topic, rs in by_topic.items():
        rs.sort(key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest())
        n_test, n_dev = counts["test"][topic], counts["dev"][topic]
        for i, r in enumerate(rs):
            r["split"] = "test" if i < n_test else "dev" if i < n_test + n_dev else "train"
    return rows
