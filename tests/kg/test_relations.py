import pytest

from kg.mentions import MentionMatcher
from kg.relations import cooccurrence_edges, lexicon_edges, npmi, pattern_edges, sentences
from kg.lexicon import Concept

FORMS = {"ensemble method": [], "bagging": [], "boosting": [], "random forest": [], "decision tree": [],
         "variance": [], "classification": [], "ridge regression": [], "l2 penalty": [], "regression": []}


@pytest.fixture(scope="module")
def matcher():
    return MentionMatcher(FORMS)


def triples(matcher, text):
    return {(e.head, e.relation, e.tail) for e in pattern_edges([("q1", text, matcher.find(text))])}


@pytest.mark.parametrize("text,expected", [
    ("Ensemble methods such as bagging, boosting and random forests are common.",
     {("ensemble method", "has_example", "bagging"), ("ensemble method", "has_example", "boosting"),
      ("ensemble method", "has_example", "random forest")}),
    ("A random forest is a kind of ensemble method.", {("random forest", "is_a", "ensemble method")}),
    ("Decision trees are commonly used for classification.", {("decision tree", "used_for", "classification")}),
    ("Ridge regression uses an l2 penalty.", {("ridge regression", "uses", "l2 penalty")}),
    ("Bagging vs boosting.", {("bagging", "contrasts_with", "boosting")}),
    ("Unlike boosting, bagging trains models independently.", {("bagging", "contrasts_with", "boosting")}),
    ("Bagging reduces variance, whereas boosting reduces bias.", {("bagging", "contrasts_with", "boosting")}),
    ("Bagging reduces variance. Boosting is different.", set()),
])
def test_pattern_relations(matcher, text, expected):
    assert triples(matcher, text) == expected


def test_pattern_edge_weight_and_provenance(matcher):
    text = "Ridge regression uses an l2 penalty. It is fast."
    a = [("q2", text, matcher.find(text)), ("q1", text, matcher.find(text))]
    [e] = pattern_edges(a, max_provenance=1)
    assert (e.weight, e.support, e.edge_id) == (round(2 / 3, 4), 2, "ridge regression|uses|l2 penalty")
    assert e.provenance == [{"qa_id": "q1", "sentence": "Ridge regression uses an l2 penalty.", "source": "pattern"}]


def test_sentences_split_before_capitals_only():
    text = "One e.g. two. Three? four. 5 is five."
    assert [text[s:e] for s, e in sentences(text)] == ["One e.g. two.", "Three? four.", "5 is five."]


def test_lexicon_edges_carry_the_definition():
    [e] = lexicon_edges({"a": Concept("a", "cs", "A thing.", is_a=("b",)), "b": Concept("b", "cs", "B.")})
    assert (e.head, e.relation, e.tail, e.weight) == ("a", "is_a", "b", 1.0)
    assert e.provenance == [{"qa_id": None, "sentence": "A thing.", "source": "lexicon"}]


def test_npmi_values():
    assert npmi(2, 2, 2, 4) == pytest.approx(1.0)
    assert npmi(1, 2, 2, 4) == pytest.approx(0.0)
    assert npmi(4, 4, 4, 4) == 1.0


def test_cooccurrence_edges_npmi_threshold_and_provenance():
    recs = [("q1", [("x and y?", {"x", "y"})]), ("q2", [("x here.", {"x"}), ("y there.", {"y"})]),
            ("q3", [("z alone", {"z"})]), ("q4", [("w", {"w"}), ("x", {"x"})])]
    [e] = cooccurrence_edges(recs, min_count=2, min_npmi=0.2)
    assert (e.head, e.relation, e.tail, e.support) == ("x", "related_to", "y", 2)
    assert e.weight == round(npmi(2, 3, 2, 4), 4)
    assert e.provenance == [{"qa_id": "q1", "sentence": "x and y?", "source": "cooccurrence"},
                            {"qa_id": "q2", "sentence": "x here. ... y there.", "source": "cooccurrence"}]
    assert cooccurrence_edges(recs, min_count=3) == []
