from kg.corpus import QARecord
from kg.linking import EntityLinker
from kg.report import evidence_stats, format_report, graph_stats, linking_scores, quality_report
from kg.retrieval import MindMapRetriever
from tests.kg.conftest import ONE_HOT, four_node_graph


def rec(i, concepts, split="test"):
    return QARecord(id=f"q{i}", domain="cs", question="?", answer="!", split=split, concepts=tuple(concepts))


def test_graph_stats_on_four_nodes_plus_an_isolated_one():
    G = four_node_graph()
    G.add_node("epsilon", domain="cs", definition="", aliases=[], source="mined", freq=0)
    s = graph_stats(G)
    assert s == {"nodes": 5, "nodes_by_source": {"lexicon": 4, "mined": 1}, "edges": 4,
                 "edges_per_relation": {"is_a": 1, "part_of": 0, "used_for": 0, "uses": 1, "has_example": 0,
                                        "contrasts_with": 0, "related_to": 2},
                 "isolated_nodes": 1, "largest_component_share": 0.8}


def test_linking_scores_match_gold_by_key_and_alias():
    G = four_node_graph()
    G.nodes["beta"]["aliases"] = ["B-Concept"]
    linker = EntityLinker.from_graph(G, ONE_HOT)
    records = [rec(0, ["Alpha", "b-concepts", "omega"]), rec(1, ["gamma"])]
    # q0: gold {alpha, beta (by alias), omega}, predicted {alpha, delta}; q1: gold = predicted = {gamma}.
    # tp 2, 3 predicted, 4 gold; omega is not a graph concept.
    s = linking_scores(linker, G, records, [["alpha", "delta"], ["gamma"]])
    assert s == {"n": 2, "precision": round(2 / 3, 4), "recall": 0.5, "f1": round(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5), 4),
                 "gold_in_graph": 0.75}


def test_evidence_stats_and_report():
    G = four_node_graph()
    r = MindMapRetriever(G, None, EntityLinker.from_graph(G, ONE_HOT), top_paths=1)
    recs = [rec(0, ["alpha", "gamma"]), rec(1, ["beta"])]
    evs = [r.retrieve("alpha and gamma?"), r.retrieve("What is love?")]
    stats = evidence_stats(evs)
    assert stats == {"n": 2, "coverage": 0.5, "coverage_by_mention": 0.5, "mean_triples": 2.0, "mean_paths": 0.5,
                     "mean_nodes": 2.0}
    rep = quality_report(G, r.linker, {"test": evs}, {"test": recs})
    assert rep["test_coverage"] == 0.5 and rep["mean_evidence_triples"] == 2.0
    assert rep["linking_test"]["precision"] == 1.0 and rep["linking_test"]["recall"] == round(2 / 3, 4)
    text = format_report(rep)
    assert "nodes            4 (lexicon 4)" in text and "test  n=2    coverage 50.0%" in text


def test_empty_evidence_list():
    assert evidence_stats([])["coverage"] == 0.0
