"""G-Eval judges (Liu et al. 2023, "G-Eval: NLG Evaluation using GPT-4 with Better Human
Alignment", https://arxiv.org/abs/2303.16634) behind a small registry.

A judge reads a rendered judge prompt (question + answer in a G-Eval form) and returns a
:class:`~evaluation.judges.scoring.Verdict` whose score is the probability-weighted
sum over the score tokens, ``sum_s p(s) * s`` for s in 1..5, renormalised over those five
tokens. ``judge=<name>`` in the config picks an entry of :data:`JUDGES`:

``openai``: any OpenAI-compatible chat-completions server (:mod:`.openai_compat`).
``local``: any local causal LM, exact next-token probabilities (:mod:`.local`).

:func:`evaluation.judges.geval.score_answers` runs a judge over answers with a cache.
"""

from __future__ import annotations

from typing import Callable

JUDGES: dict[str, Callable] = {}


class JudgeConfigError(ValueError):
    """A judge is misconfigured (no key, no endpoint, unknown name); the message says what to set."""


def register_judge(name: str):
    """Register a judge class (or factory) under the name used as ``judge.name`` in configs."""
    def deco(cls):
        JUDGES[name] = cls
        return cls
    return deco


def make_judge(name: str, **kwargs):
    """Build the judge registered as ``name`` with keyword arguments (see each class)."""
    if name not in JUDGES:
        raise JudgeConfigError(f"judge={name!r}: unknown judge; known: {sorted(JUDGES)} (or judge=none)")
    return JUDGES[name](**kwargs)


# Judges in their own modules register themselves on import.
from evaluation.judges import local, openai_compat  # noqa: E402,F401
