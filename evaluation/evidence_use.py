"""How answers use the graph evidence they were given (MindMap-style prompts).

Three numbers, in ``metrics.json`` under ``evidence_use``:

* ``cite_rate``: share of evidence-prompted answers that cite an evidence id (``[P1]``,
  ``[N2]``, ``[E3]``); reported only when the prompt asked for citations.
* ``evidence_overlap``: mean share of the evidence's content words (lower-cased, stopwords
  and ids removed) that reappear in the answer.
* ``by_evidence``: every metric's mean over answers that had evidence and over those that
  fell back to the non-graph prompt, with n for each.
"""

from __future__ import annotations

import re
from typing import Sequence

from evaluation.stats import bootstrap_ci

CITATION = re.compile(r"\[(?:P|N|E)\d+\]")
_WORD = re.compile(r"[a-z][a-z0-9'-]+")
STOPWORDS = frozenset(
    "a an the of to in for on by with and or is are was were be been it its as at from that this these those which "
    "kind part used uses related contrasts example examples evidence path-based neighbor-based nodes edges has".split())


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS}


def overlap(answer: str, evidence: str) -> float | None:
    ev = content_words(evidence)
    return len(ev & content_words(answer)) / len(ev) if ev else None


def evidence_use(rows: Sequence[dict], metric_names: Sequence[str], *, asked_to_cite: bool, seed: int = 0) -> dict:
    """Evidence-use statistics of prediction rows that carry a ``graph`` record."""
    had = [r for r in rows if r["graph"]["evidence_ids"]]
    without = [r for r in rows if not r["graph"]["evidence_ids"]]
    overlaps = [overlap(r["answer"], r["graph"]["evidence_text"]) for r in had]
    return {
        "n_with_evidence": len(had),
        "n_fallback": len(without),
        "mean_evidence_tokens": sum(r["graph"]["evidence_tokens"] for r in had) / len(had) if had else None,
        "cite_rate": (sum(bool(CITATION.search(r["answer"])) for r in had) / len(had)) if asked_to_cite and had else None,
        "evidence_overlap": bootstrap_ci(overlaps, seed=seed),
        "by_evidence": {
            group: {m: bootstrap_ci([r["metrics"].get(m) for r in rs], seed=seed) for m in metric_names}
            for group, rs in (("with_evidence", had), ("fallback", without))
        },
    }
