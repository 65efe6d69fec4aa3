"""Mine concept terms from the training answers to extend the curated lexicon.

Three steps, each citing its method:

* **Termhood** by C-value (Frantzi, Ananiadou & Mima 2000, "Automatic recognition of
  multi-word terms: the C-value/NC-value method", https://doi.org/10.1007/s007999900023):
  candidates are stopword-bounded n-grams of 2..``max_len`` words;
  ``C(a) = log2|a| * (f(a) - mean f(b) over longer candidates b containing a)``.
* **Abbreviations** from "long form (ABBR)" by the Schwartz & Hearst (2003) algorithm
  ("A simple algorithm for identifying abbreviation definitions in biomedical text",
  https://psb.stanford.edu/psb-online/proceedings/psb03/schwartz.pdf).
* **Synonym merge** by cosine similarity of sentence embeddings (Sentence-BERT, Reimers &
  Gurevych 2019, https://arxiv.org/abs/1908.10084): a mined term at least ``threshold``
  similar to a concept name becomes that concept's alias instead of a new node.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Iterable

import numpy as np
from spacy.lang.en.stop_words import STOP_WORDS

from kg.embeddings import embed_texts
from kg.lexicon import Concept
from kg.mentions import singular

_ABBR = re.compile(r"(?<=\s)\(([A-Za-z][A-Za-z0-9\-]{1,9})\)")
# Words that bound a candidate like stopwords do (spaCy's list lacks them): "examples include", "et al".
BOUNDARY = frozenset({"include", "includes", "including", "like", "et", "al", "etc", "via", "vs", "versus",
                      "use", "uses", "using", "used", "e.g", "i.e", "eg", "ie", "example", "examples"})


def _runs(doc) -> list[list]:
    """Runs of content tokens (alphabetic, not stopwords); an attached hyphen joins two words."""
    runs, run = [], []
    for tok in doc:
        nxt = doc[tok.i + 1] if tok.i + 1 < len(doc) else None
        joins = tok.text == "-" and run and not run[-1].whitespace_ and not tok.whitespace_ and nxt is not None
        content = tok.is_alpha and not tok.is_stop and tok.lower_ not in BOUNDARY
        if joins or (content and (len(tok) > 1 or (nxt is not None and nxt.text == "-"))):
            run.append(tok)
            continue
        runs.append(run)
        run = []
    runs.append(run)
    return [r for r in runs if r]


def _ngram_key(tokens) -> tuple[str, ...] | None:
    if tokens[0].text == "-" or tokens[-1].text == "-" or tokens[-1].lower_.endswith(("ed", "ly")):
        return None  # a participle or an adverb ends no term ("model trained", "grows linearly")
    words = "".join(t.text_with_ws for t in tokens).strip().lower().split()
    *head, last = words[-1].split("-")
    words[-1] = "-".join([*head, singular(last)])
    return tuple(words)


def count_ngrams(doc, max_len: int = 4) -> Counter:
    """Candidate terms of one doc: n-grams of 2..``max_len`` content words, with their counts."""
    counts: Counter[tuple[str, ...]] = Counter()
    for run in _runs(doc):
        for i in range(len(run)):
            if i and run[i - 1].text == "-":
                continue  # never start inside a hyphenated word
            for j in range(i + 2, min(len(run), i + max_len * 2) + 1):
                if j < len(run) and run[j].text == "-":
                    continue  # nor end inside one
                key = _ngram_key(run[i:j])
                if key and 2 <= len(key) <= max_len:
                    counts[key] += 1
    return counts


def cvalue(freq: Counter, min_freq: int = 3) -> dict[str, float]:
    """C-value of every candidate seen at least ``min_freq`` times.

    Args:
        freq: candidate (tuple of words) -> corpus frequency, from :func:`count_ngrams`.
        min_freq: fewest occurrences for a candidate to be scored. Default 3.

    Returns:
        term (words joined by spaces) -> C-value, only terms with a positive C-value.
    """
    cands = {k: f for k, f in freq.items() if f >= min_freq}
    nested: dict[tuple, list[int]] = defaultdict(list)  # a -> frequencies of longer candidates containing a
    for b, fb in cands.items():
        subs = {b[i:j] for i in range(len(b)) for j in range(i + 2, len(b) + 1) if j - i < len(b)}
        for a in subs & cands.keys():
            nested[a].append(fb)
    out = {}
    for a, fa in cands.items():
        ta = nested.get(a)
        c = math.log2(len(a)) * (fa - (sum(ta) / len(ta) if ta else 0.0))
        if c > 0:
            out[" ".join(a)] = c
    return out


def _sh_long_form(words: list[str], abbr: str) -> str | None:
    """Schwartz & Hearst: match ``abbr``'s characters right to left inside the candidate words."""
    cand = " ".join(words)
    s, li = len(abbr) - 1, len(cand) - 1
    while s >= 0:
        ch = abbr[s].lower()
        if not ch.isalnum():
            s -= 1
            continue
        while li >= 0 and (cand[li].lower() != ch or (s == 0 and li > 0 and cand[li - 1].isalnum())):
            li -= 1
        if li < 0:
            return None
        s, li = s - 1, li - 1
    start = cand.rfind(" ", 0, li + 1) + 1
    long_form = cand[start:]
    return long_form if len(long_form.split()) >= 2 else None


def find_abbreviations(texts: Iterable[str]) -> dict[str, str]:
    """Abbreviations defined as "long form (ABBR)" in ``texts``.

    Returns:
        abbreviation (as written, e.g. ``"MLE"``) -> long form lowercased with a singular
        last word; the first definition in text order wins.
    """
    found: dict[str, str] = {}
    for text in texts:
        for m in _ABBR.finditer(text):
            abbr = m.group(1)
            if abbr in found or sum(ch.isupper() for ch in abbr) < 2:
                continue
            before = re.split(r"[.;:!?()\[\]]", text[:m.start()])[-1]
            words = re.findall(r"[A-Za-z0-9][\w\-']*", before)[-min(len(abbr) + 5, len(abbr) * 2):]
            long_form = _sh_long_form(words, abbr) if words else None
            if long_form and not {long_form.split()[0].lower(), long_form.split()[-1].lower()} & STOP_WORDS:
                parts = long_form.lower().split()
                found[abbr] = " ".join(parts[:-1] + [singular(parts[-1])])
    return found


def merge_synonyms(terms: list[str], concepts: list[str], encoder, threshold: float = 0.9,
                   batch_size: int = 64) -> dict[str, str]:
    """Map each mined term to a synonym: an existing concept, or an earlier (higher-ranked) term.

    Args:
        terms: mined terms, best first.
        concepts: canonical names of existing concepts.
        encoder: a sentence encoder with ``encode(texts, ...)`` (MiniLM by default).
        threshold: the least cosine similarity for two names to be synonyms. Default 0.9.

    Returns:
        term -> the name it merges into; terms left out stay new concepts.
    """
    if not terms:
        return {}
    emb = embed_texts(encoder, concepts + terms, batch_size=batch_size)  # (C + T, D), unit rows
    ce, te = emb[:len(concepts)], emb[len(concepts):]
    merged: dict[str, str] = {}
    kept: list[int] = []
    sims = te @ ce.T if len(concepts) else np.zeros((len(terms), 0), dtype=np.float32)  # (T, C)
    for i, term in enumerate(terms):
        if sims.shape[1] and sims[i].max() >= threshold:
            merged[term] = concepts[int(sims[i].argmax())]
            continue
        if kept:
            s = te[kept] @ te[i]
            if s.max() >= threshold:
                merged[term] = terms[kept[int(s.argmax())]]
                continue
        kept.append(i)
    return merged


def mine_concepts(docs: list, texts: list[str], domains: list[str], lexicon: dict[str, Concept], normalise,
                  encoder=None, *, max_len: int = 4, min_freq: int = 3, max_terms: int = 200,
                  synonym_threshold: float = 0.9, abbreviations: bool = True) -> dict[str, Concept]:
    """The lexicon extended with mined terms, abbreviations and synonyms (train answers only).

    Args:
        docs: spaCy docs of the training answers (same order as ``texts`` and ``domains``).
        texts: the training answers.
        domains: the domain of each answer (a mined term takes its most frequent one).
        lexicon: curated concepts by name.
        normalise: phrase -> matching key (:meth:`kg.mentions.MentionMatcher.normalise`).
        encoder: sentence encoder for the synonym merge; None skips the merge.
        max_len, min_freq: C-value candidate settings. Defaults 4 and 3.
        max_terms: most mined terms added as new concepts. Default 200.
        synonym_threshold: cosine similarity above which names merge. Default 0.9.
        abbreviations: detect "long form (ABBR)" and add ABBR as an alias. Default True.

    Returns:
        Concepts by name: curated ones (with aliases added) and mined ones (``source="mined"``).
    """
    known = {normalise(f): c.name for c in lexicon.values() for f in (c.name, *c.aliases)}
    per_doc = [count_ngrams(doc, max_len) for doc in docs]
    total: Counter = Counter()
    for counts in per_doc:
        total.update(counts)
    scores = cvalue(total, min_freq=min_freq)
    ranked = sorted((t for t in scores if normalise(t) not in known), key=lambda t: (-scores[t], t))
    ranked = ranked[:max_terms * 2]  # room for the ones merged away
    names = sorted(lexicon)
    merged = merge_synonyms(ranked, names, encoder, synonym_threshold) if encoder is not None else {}
    new_terms = [t for t in ranked if t not in merged][:max_terms]
    extra_aliases: dict[str, set[str]] = defaultdict(set)
    for term, target in merged.items():
        extra_aliases[target].add(term)
    if abbreviations:
        for abbr, long_form in sorted(find_abbreviations(texts).items()):
            target = known.get(normalise(long_form)) or (long_form if long_form in new_terms else None)
            target = target or merged.get(long_form)
            if target is None and len(long_form.split()) >= 2:
                new_terms.append(long_form)
                target = long_form
            if target and normalise(abbr) not in known:
                extra_aliases[target].add(abbr)
    domain_votes: dict[str, Counter] = defaultdict(Counter)
    wanted = {tuple(t.split()) for t in new_terms}
    for counts, dom in zip(per_doc, domains):
        for key in wanted & counts.keys():
            domain_votes[" ".join(key)][dom] += 1
    out = {}
    for c in lexicon.values():
        aliases = tuple(sorted(set(c.aliases) | extra_aliases.get(c.name, set())))
        out[c.name] = Concept(c.name, c.domain, c.definition, aliases, c.is_a, c.part_of, c.source, c.location)
    for t in new_terms:
        if t in out:
            continue
        votes = domain_votes.get(t) or Counter({"cs": 0})  # an abbreviation's long form may not be a candidate
        dom = min(votes.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        out[t] = Concept(t, dom, "", tuple(sorted(extra_aliases.get(t, set()) - {t})), source="mined")
    return out
