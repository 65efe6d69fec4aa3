import pytest

from kg.mentions import MentionMatcher, singular


@pytest.mark.parametrize("word,expected", [
    ("queries", "query"), ("classes", "class"), ("batches", "batch"), ("trees", "tree"), ("CNNs", "cnn"),
    ("matrices", "matrix"), ("bias", "bias"), ("analysis", "analysis"), ("status", "status"), ("series", "series"),
    ("gas", "gas"), ("p", "p")])
def test_singular(word, expected):
    assert singular(word) == expected


@pytest.fixture(scope="module")
def matcher():
    return MentionMatcher({"decision tree": ["decision trees"], "regression": [], "logistic regression": ["logit"],
                           "maximum a posteriori": ["MAP"], "hash map": [], "autoregressive model": ["AR"]})


def test_case_and_plural_insensitive(matcher):
    ms = matcher.find("Decision Trees beat a single DECISION TREE.")
    assert [(m.concept, m.text) for m in ms] == [("decision tree", "Decision Trees"),
                                                 ("decision tree", "DECISION TREE")]
    assert (ms[0].start, ms[0].end) == (0, 14)


def test_longest_match_wins(matcher):
    assert [m.concept for m in matcher.find("logistic regression vs regression")] == ["logistic regression",
                                                                                       "regression"]


def test_acronyms_are_case_sensitive(matcher):
    assert [m.concept for m in matcher.find("the MAP estimate")] == ["maximum a posteriori"]
    assert [m.concept for m in matcher.find("a map of keys")] == []
    assert [m.concept for m in matcher.find("use a hash map")] == ["hash map"]


def test_bracket_glued_to_word_is_split(matcher):
    assert [m.concept for m in matcher.find("Describe the AR(1) model.")] == ["autoregressive model"]


def test_normalise_is_the_matching_key(matcher):
    assert matcher.normalise("Decision Trees") == matcher.normalise("decision tree") == "decision tree"
