import math
from collections import Counter

import pytest

from kg.lexicon import Concept
from kg.mentions import make_nlp, normalise
from kg.terms import count_ngrams, cvalue, find_abbreviations, merge_synonyms, mine_concepts


@pytest.fixture(scope="module")
def nlp():
    return make_nlp()


def test_ngrams_are_stopword_bounded_and_singular(nlp):
    counts = count_ngrams(nlp("The gradient boosting machines use p-values."), max_len=3)
    assert counts == Counter({("gradient", "boosting"): 1, ("gradient", "boosting", "machine"): 1,
                              ("boosting", "machine"): 1})
    assert count_ngrams(nlp("small p-values of the test statistic"), max_len=2) == Counter(
        {("small", "p-value"): 1, ("test", "statistic"): 1})


def test_cvalue_discounts_nested_terms():
    freq = Counter({("neural", "network"): 10, ("deep", "neural", "network"): 4, ("red", "cat"): 3, ("x", "y"): 2})
    scores = cvalue(freq, min_freq=3)
    assert scores["neural network"] == pytest.approx(math.log2(2) * (10 - 4))
    assert scores["deep neural network"] == pytest.approx(math.log2(3) * 4)
    assert scores["red cat"] == pytest.approx(3.0)
    assert "x y" not in scores  # below min_freq


def test_abbreviations_schwartz_hearst():
    found = find_abbreviations(["We fit by maximum likelihood estimation (MLE) here.",
                                "A Hidden Markov Models (HMMs) example; f(x) (OK) and sqrt(MSE) are not definitions."])
    assert found == {"MLE": "maximum likelihood estimation", "HMMs": "hidden markov model"}


def test_synonyms_merge_into_concepts_then_into_earlier_terms(encoder):
    merged = merge_synonyms(["random forest model", "forest random", "boosted tree"], ["random forest", "bagging"],
                            encoder, threshold=0.85)  # BoW cosine of the first two: 0.816
    assert merged == {"forest random": "random forest"}
    merged = merge_synonyms(["tree boosted", "boosted tree"], [], encoder, threshold=0.99)
    assert merged == {"boosted tree": "tree boosted"}


def test_mine_concepts_adds_terms_and_abbreviation_aliases(nlp):
    texts = ["Gradient boosting machines (GBM) add trees.", "Gradient boosting machines are strong.",
             "Many gradient boosting machines exist.", "A decision tree splits."]
    lex = {"decision tree": Concept("decision tree", "ai", "A tree.")}
    out = mine_concepts([nlp(t) for t in texts], texts, ["ai", "ai", "stats", "cs"], lex, lambda t: normalise(nlp, t),
                        None, min_freq=3, max_terms=1)
    assert sorted(out) == ["decision tree", "gradient boosting machine"]
    g = out["gradient boosting machine"]
    assert (g.source, g.domain, g.aliases, g.definition) == ("mined", "ai", ("GBM",), "")
