"""METEOR (Banerjee & Lavie 2005, https://aclanthology.org/W05-0909/), per answer, from nltk.

Unigram matching in three stages (exact, Porter stem, WordNet synonym), then an
F-mean weighted towards recall (alpha=0.9) times a fragmentation penalty
(gamma=0.5, beta=3): nltk's defaults. Tokens are :func:`evaluation.metrics.tokenize`'s
(lower-cased words and punctuation marks). nltk applies the synonym stage to stemmed
words, so a synonym matches only when its stem is itself a WordNet lemma.

WordNet cannot be downloaded at run time; :mod:`evaluation.wordnet` finds it offline.
When it is absent every item is None (missing, not zero) and one warning says how to
install it.
"""

from __future__ import annotations

from typing import Sequence

from evaluation.metrics import Scores, register_metric, tokenize
from evaluation.wordnet import DEBIAN_DIRS, load_wordnet


@register_metric("meteor")
def meteor(hyps: Sequence[str], refs: Sequence[str], *, wordnet_dirs: Sequence[str] = DEBIAN_DIRS,
           cache_dir: str | None = None, use_nltk_path: bool = True) -> Scores:
    """Sentence METEOR in [0, 1); an empty answer or reference scores 0.

    Args:
        wordnet_dirs: folders with Debian's WordNet files. Default ``("/usr/share/wordnet",)``.
        cache_dir: where nltk's copy of WordNet is built. Default the studyllama cache.
        use_nltk_path: also look in ``nltk.data.path`` (first). Default True.
    """
    from nltk.translate.meteor_score import meteor_score

    wordnet = load_wordnet(tuple(wordnet_dirs), cache_dir, use_nltk_path)
    if wordnet is None:
        return {"meteor": [None] * len(hyps)}
    out: list[float | None] = []
    for h, r in zip(hyps, refs):
        ht, rt = tokenize(h), tokenize(r)
        out.append(float(meteor_score([rt], ht, wordnet=wordnet)) if ht and rt else 0.0)
    return {"meteor": out}
