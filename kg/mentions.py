"""Find concept mentions in text with spaCy's PhraseMatcher.

By default the pipeline is ``spacy.blank("en")`` (tokenizer only: no official spaCy model
is on PyPI) plus one component that sets each token's ``NORM`` to its lowercase singular
form (:func:`singular`), so "Neural Networks" matches the concept "neural network". A full
pipeline (``spacy_model="en_core_web_sm"``, installed separately) can be named instead; its
lemmas then feed the same normaliser.

All-caps aliases of up to :data:`ACRONYM_MAX` letters ("MAP", "CNN") match case-sensitively
(plus a plural "s"), because lowercased they are often English words ("map", "cap"). Of
overlapping matches the longest wins (``spacy.util.filter_spans``), so "logistic regression"
is one mention, not also "regression".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

ACRONYM_MAX = 6
_IRREGULAR = {"indices": "index", "matrices": "matrix", "vertices": "vertex", "analyses": "analysis",
              "hypotheses": "hypothesis", "axes": "axis", "criteria": "criterion", "phenomena": "phenomenon",
              "theses": "thesis", "parentheses": "parenthesis", "children": "child", "appendices": "appendix"}
_INVARIANT = {"series", "species", "news", "bias", "alias", "atlas", "canvas", "gas", "lens", "yes", "this", "its",
              "statistics", "mathematics", "physics", "analytics", "economics", "linguistics", "robotics",
              "logistics", "ethics", "genetics", "kinematics", "diagnostics", "semantics", "pragmatics",
              "always", "perhaps", "whereas", "thus", "various", "previous", "across", "less", "unless"}


def singular(word: str) -> str:
    """Lowercase singular of one token by suffix rules: ``"queries" -> "query"``, ``"CNNs" -> "cnn"``.

    Deliberately simple (no dictionary): text and patterns go through the same function,
    so it only has to map the plural and the singular of a term to the same string.
    """
    w = word.lower()
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if len(w) <= 3 or w in _INVARIANT or not w.isalpha():
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def is_acronym(form: str) -> bool:
    letters = [ch for ch in form if ch.isalpha()]
    return " " not in form and 2 <= len(letters) <= ACRONYM_MAX and all(ch.isupper() for ch in letters)


def normalise(nlp, text: str) -> str:
    """The matching key of a phrase under ``nlp`` (:func:`make_nlp`): its token norms joined by spaces."""
    return " ".join(t.norm_ for t in nlp(text))


@dataclass(frozen=True)
class Mention:
    concept: str
    start: int  # character offsets into the matched text
    end: int
    text: str


def _normaliser(nlp):
    from spacy.language import Language

    name = "studyllama_singular_norm"
    if not Language.has_factory(name):
        @Language.component(name)
        def singular_norm(doc):
            has_lemma = doc.has_annotation("LEMMA")
            for tok in doc:
                tok.norm_ = singular(tok.lemma_ if has_lemma and tok.lemma_ else tok.text)
            return doc
    nlp.add_pipe(name, last=True)
    return nlp


def make_nlp(spacy_model: str | None = None):
    """``spacy.blank("en")`` (or the named pipeline) plus the singular-``NORM`` component."""
    import spacy

    from spacy.util import compile_infix_regex

    nlp = spacy.load(spacy_model, exclude=["ner", "parser"]) if spacy_model else spacy.blank("en")
    # "ARIMA(p, d, q)" and "AR(1)": split an opening bracket glued to a word.
    infixes = list(nlp.Defaults.infixes) + [r"(?<=[A-Za-z0-9])\((?=[A-Za-z0-9])"]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    return _normaliser(nlp)


class MentionMatcher:
    """Finds mentions of a fixed set of concepts.

    Args:
        surface_forms: concept name -> its surface forms (name and aliases).
        nlp: a pipeline from :func:`make_nlp` to share (docs it made can be matched
            directly). Default None: a new one.
        spacy_model: the pipeline :func:`make_nlp` loads when ``nlp`` is None. Default None:
            ``spacy.blank("en")``.
    """

    def __init__(self, surface_forms: dict[str, Iterable[str]], nlp=None, spacy_model: str | None = None):
        from spacy.matcher import PhraseMatcher

        self.nlp = nlp if nlp is not None else make_nlp(spacy_model)
        self.norm_matcher = PhraseMatcher(self.nlp.vocab, attr="NORM")
        self.exact_matcher = PhraseMatcher(self.nlp.vocab, attr="ORTH")
        self.concepts: list[str] = []
        normed, exact = [], []
        for concept in sorted(surface_forms):
            forms = sorted({f.strip() for f in [concept, *surface_forms[concept]] if f.strip()})
            self.concepts.append(concept)
            normed += [(concept, f) for f in forms if not is_acronym(f)]
            exact += [(concept, v) for f in forms if is_acronym(f) for v in (f, f + "s")]
        self._add(self.norm_matcher, normed, self.nlp.pipe)
        self._add(self.exact_matcher, exact, lambda texts: (self.nlp.make_doc(t) for t in texts))

    def _add(self, matcher, pairs, make_docs) -> None:
        by_concept: dict[str, list] = {}
        for (concept, _), doc in zip(pairs, make_docs([f for _, f in pairs])):
            by_concept.setdefault(concept, []).append(doc)
        for concept, docs in by_concept.items():
            matcher.add(concept, docs)

    def normalise(self, text: str) -> str:
        """The matching key of a phrase: lowercase, singular tokens joined by spaces."""
        return normalise(self.nlp, text)

    def find_in_doc(self, doc) -> list[Mention]:
        """Longest non-overlapping mentions in a processed ``Doc``, in text order."""
        from spacy.util import filter_spans

        labels: dict[tuple[int, int], str] = {}
        for matcher in (self.norm_matcher, self.exact_matcher):
            for key, s, e in matcher(doc):
                concept = self.nlp.vocab.strings[key]
                # Two concepts sharing a surface form: the alphabetically first wins, deterministically.
                if (s, e) not in labels or concept < labels[(s, e)]:
                    labels[(s, e)] = concept
        spans = filter_spans([doc[s:e] for s, e in sorted(labels)])
        return [Mention(labels[(sp.start, sp.end)], sp.start_char, sp.end_char, sp.text) for sp in spans]

    def find(self, text: str) -> list[Mention]:
        """Mentions in ``text``: longest match wins, in text order."""
        return self.find_in_doc(self.nlp(text))

    def find_many(self, texts: list[str], batch_size: int = 256) -> list[list[Mention]]:
        return [self.find_in_doc(doc) for doc in self.nlp.pipe(texts, batch_size=batch_size)]
