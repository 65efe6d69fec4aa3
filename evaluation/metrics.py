"""Reference-based metrics, per answer, behind a small registry.

``@register_metric(name)`` adds a scorer ``(hyps, refs) -> {column: [score or None]}``;
``eval.metrics`` in the config lists the names to run. ``None`` means "could not be
computed" and is reported as missing, never as zero.

Tokenization for BLEU is stated here because it changes the numbers: lower-cased,
``\\w+`` words and single punctuation marks. BLEU uses nltk's ``SmoothingFunction().method1``
(Chen & Cherry 2014: add epsilon=0.1 to zero n-gram counts), since most single answers
share no 4-gram with the reference and unsmoothed sentence BLEU would then be 0.
"""

from __future__ import annotations

import logging
import re
import sys
from contextlib import contextmanager
from typing import Callable, Sequence

log = logging.getLogger(__name__)

Scores = dict[str, list[float | None]]
METRICS: dict[str, Callable[[Sequence[str], Sequence[str]], Scores]] = {}
MAX_ROUGE_TOKENS = 4000
_TOKEN = re.compile(r"\w+|[^\w\s]")


def register_metric(name: str):
    def deco(fn):
        METRICS[name] = fn
        return fn
    return deco


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


@contextmanager
def _recursion_limit(limit: int):
    # The `rouge` package computes ROUGE-L with a recursive LCS walk (depth ~ len(hyp) + len(ref)).
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@register_metric("rouge")
def rouge_pkg(hyps: Sequence[str], refs: Sequence[str]) -> Scores:
    """ROUGE-1/2/L F1 from the ``rouge`` package (what the original work reported).

    Guards: an answer that is empty after the package's own cleaning scores 0 with a
    warning (the package raises); text beyond 4,000 tokens is cut with a warning.
    """
    from rouge import Rouge

    scorer = Rouge()
    out: Scores = {"rouge1": [], "rouge2": [], "rougeL": []}
    for i, (h, r) in enumerate(zip(hyps, refs)):
        h_tok, r_tok = h.split(), r.split()
        if len(h_tok) > MAX_ROUGE_TOKENS or len(r_tok) > MAX_ROUGE_TOKENS:
            log.warning("item %d: text longer than %d tokens cut for ROUGE", i, MAX_ROUGE_TOKENS)
            h, r = " ".join(h_tok[:MAX_ROUGE_TOKENS]), " ".join(r_tok[:MAX_ROUGE_TOKENS])
        try:
            with _recursion_limit(4 * (len(h_tok) + len(r_tok)) + 2000):
                s = scorer.get_scores(h, r)[0]
        except ValueError as e:  # "Hypothesis is empty." / "Reference is empty."
            log.warning("item %d: %s ROUGE scored 0", i, e)
            s = {k: {"f": 0.0} for k in ("rouge-1", "rouge-2", "rouge-l")}
        out["rouge1"].append(s["rouge-1"]["f"])
        out["rouge2"].append(s["rouge-2"]["f"])
        out["rougeL"].append(s["rouge-l"]["f"])
    return out


@register_metric("rouge_score")
def rouge_google(hyps: Sequence[str], refs: Sequence[str]) -> Scores:
    """ROUGE-1/2/L/Lsum F1 from Google's ``rouge-score`` (Porter stemmer on)."""
    from rouge_score import rouge_scorer

    keys = ("rouge1", "rouge2", "rougeL", "rougeLsum")
    scorer = rouge_scorer.RougeScorer(list(keys), use_stemmer=True)
    out: Scores = {f"rs_{k}": [] for k in keys}
    for h, r in zip(hyps, refs):
        s = scorer.score(r, h)
        for k in keys:
            out[f"rs_{k}"].append(s[k].fmeasure)
    return out


@register_metric("bleu")
def bleu_nltk(hyps: Sequence[str], refs: Sequence[str]) -> Scores:
    """Sentence BLEU-1..4 (individual n-gram orders) and cumulative BLEU-4, nltk, smoothing method1."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    smooth = SmoothingFunction().method1
    weights = {"bleu1": (1, 0, 0, 0), "bleu2": (0, 1, 0, 0), "bleu3": (0, 0, 1, 0), "bleu4": (0, 0, 0, 1),
               "bleu": (0.25, 0.25, 0.25, 0.25)}
    out: Scores = {k: [] for k in weights}
    for h, r in zip(hyps, refs):
        ht, rt = tokenize(h), tokenize(r)
        for k, w in weights.items():
            out[k].append(float(sentence_bleu([rt], ht, weights=w, smoothing_function=smooth)) if ht and rt else 0.0)
    return out


def corpus_sacrebleu(hyps: Sequence[str], refs: Sequence[str]) -> dict:
    """Corpus-level sacreBLEU (0-100) with its signature, so the number can be reproduced."""
    import sacrebleu

    bleu = sacrebleu.metrics.BLEU()
    score = bleu.corpus_score(list(hyps), [list(refs)])
    return {"score": score.score, "signature": str(bleu.get_signature())}


def score_all(names: Sequence[str], hyps: Sequence[str], refs: Sequence[str],
              options: dict[str, dict] | None = None) -> Scores:
    """Run the named metrics; an unknown name fails listing the known ones.

    Args:
        options: keyword arguments per metric name, e.g. ``{"bertscore": {"model_path": ...}}``.
    """
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise KeyError(f"eval.metrics: unknown metric(s) {unknown}; known: {sorted(METRICS)}")
    empty = [i for i, h in enumerate(hyps) if not h.strip()]
    if empty:
        log.warning("%d empty answer(s) score 0 on reference metrics (items %s)", len(empty), empty[:10])
    out: Scores = {}
    for n in names:
        out.update(METRICS[n](hyps, refs, **(options or {}).get(n, {})))
    return out


# Metrics in their own modules register themselves on import (they need register_metric above).
from evaluation import bertscore, embed_sim, meteor  # noqa: E402,F401
