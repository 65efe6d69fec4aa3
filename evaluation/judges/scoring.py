"""From score-token probabilities or sampled replies to one G-Eval score.

G-Eval (Liu et al. 2023, https://arxiv.org/abs/2303.16634, eq. 1) scores
``sum_s p(s) * s`` over the score tokens 1..5. The probabilities are renormalised over
those five tokens, so mass the judge puts on other tokens does not pull the score
towards 0; that mass is kept (``mass``) to show how much the judge followed the form.
When a server returns no probabilities, n replies are sampled and the parsed scores
averaged: temperature 2, top_p 1, n 10 as in the original work this project replicates
(G-Eval's released code samples n 20 with the same temperature and top_p).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

SCORES = (1, 2, 3, 4, 5)
_SCORE = re.compile(r"(?<![\d.])([1-5])(?!\d|\.\d)")  # "4", "4/5", "4." but not "2.5" or "10"


@dataclass
class Verdict:
    """One judged answer. ``score`` is None when the judge gave no usable reply (missing, never 0)."""

    score: float | None
    method: str  # "logprobs" | "samples" | "next_token" | "failed"
    probs: dict[str, float] | None = None  # renormalised p(s) over the score tokens
    mass: float | None = None  # probability the judge put on any score token before renormalising
    samples: list[int] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def score_token_value(token: str) -> int | None:
    """The score a token stands for (``"4"``, ``" 4"``, ``"Ġ4"``, ``"▁4"``), or None."""
    t = token.replace("Ġ", "").replace("▁", "").strip()
    return int(t) if t in {str(s) for s in SCORES} else None


def expected_score(probs: Mapping[int, float]) -> Verdict | None:
    """``sum_s p(s) * s`` with ``p`` renormalised over 1..5; None when no mass is on any score."""
    mass = float(sum(probs.get(s, 0.0) for s in SCORES))
    if mass <= 0:
        return None
    p = {s: float(probs.get(s, 0.0)) / mass for s in SCORES}
    return Verdict(score=sum(s * q for s, q in p.items()), method="logprobs",
                   probs={str(s): q for s, q in p.items()}, mass=mass)


def parse_score(text: str | None) -> int | None:
    """The first standalone digit 1-5 in a reply ("4", "Score: 4", "- Quality: 4/5"), or None."""
    m = _SCORE.search(text or "")
    return int(m.group(1)) if m else None


def mean_of_samples(samples: Sequence[int]) -> float | None:
    return sum(samples) / len(samples) if samples else None
