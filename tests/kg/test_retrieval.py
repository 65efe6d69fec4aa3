import logging

import numpy as np
import pytest

from kg.linking import EntityLinker, Link
from kg.retrieval import Evidence, MindMapRetriever, triple_tokens
from tests.kg.conftest import ONE_HOT, four_node_graph

Q = "How does alpha relate to gamma?"


def retriever(**kw):
    G = four_node_graph()
    return MindMapRetriever(G, ONE_HOT, EntityLinker.from_graph(G, ONE_HOT), **kw)


def unit(*v):
    v = np.array(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_paths_ranked_by_weight_when_relevance_ties():
    ev = retriever(top_paths=1).retrieve(Q, unit(1, 0, 1, 0))
    assert ev.linked == [Link("alpha", 1.0, "mention"), Link("gamma", 1.0, "mention")]
    [path] = ev.paths
    assert [t["edge_id"] for t in path] == ["alpha|is_a|beta", "beta|uses|gamma"]
    assert path[0] == {"head": "alpha", "relation": "is_a", "tail": "beta", "weight": 1.0, "relevance": 0.3536,
                       "edge_id": "alpha|is_a|beta",
                       "provenance": [{"qa_id": "q1", "sentence": "alpha is_a beta.", "source": "pattern"}]}
    assert [t["edge_id"] for t in ev.neighbors] == ["alpha|related_to|delta", "delta|related_to|gamma"]
    assert ev.node_ids == ["alpha", "gamma", "beta", "delta"]
    assert ev.edge_ids == ["alpha|is_a|beta", "beta|uses|gamma", "alpha|related_to|delta", "delta|related_to|gamma"]


def test_relevance_to_the_question_can_outrank_weight():
    # delta is close to the question: the weaker alpha-delta-gamma path now scores higher.
    ev = retriever(top_paths=2).retrieve(Q, unit(1, 0, 1, 1))
    assert [[t["edge_id"] for t in p] for p in ev.paths] == [["alpha|related_to|delta", "delta|related_to|gamma"],
                                                             ["alpha|is_a|beta", "beta|uses|gamma"]]
    assert ev.neighbors == []  # every incident edge is already on a path


def test_max_hops_bounds_paths():
    ev = retriever(max_hops=1).retrieve(Q, unit(1, 0, 1, 0))
    assert ev.paths == []
    # round robin: alpha's best, gamma's best (weight 0.8 beats 0.5), alpha's next, gamma's next
    assert [t["edge_id"] for t in ev.neighbors] == ["alpha|is_a|beta", "delta|related_to|gamma",
                                                    "alpha|related_to|delta", "beta|uses|gamma"]


def test_token_budget_drops_neighbours_before_paths():
    assert triple_tokens({"head": "alpha", "relation": "is_a", "tail": "beta"}) == 4
    ev = retriever(top_paths=1, token_budget=8).retrieve(Q, unit(1, 0, 1, 0))
    assert len(ev.paths) == 1 and ev.neighbors == []
    ev = retriever(top_paths=1, token_budget=7).retrieve(Q, unit(1, 0, 1, 0))
    assert ev.paths == [] and [t["edge_id"] for t in ev.neighbors] == ["alpha|related_to|delta"]


def test_top_neighbors_round_robin_over_linked_concepts():
    ev = retriever(max_hops=1, top_neighbors=2).retrieve(Q, unit(1, 0, 1, 0))
    assert [t["edge_id"] for t in ev.neighbors] == ["alpha|is_a|beta", "delta|related_to|gamma"]


def test_no_linked_concept_gives_empty_evidence_and_logs(caplog):
    with caplog.at_level(logging.INFO, logger="kg.retrieval"):
        ev = retriever().retrieve("What is love?")
    assert ev.is_empty and ev.paths == [] and ev.neighbors == [] and ev.node_ids == [] and ev.edge_ids == []
    assert "no concept linked for 'What is love?'" in caplog.text
    assert ev.to_dict() == {"question": "What is love?", "linked": [], "paths": [], "neighbors": [], "node_ids": [],
                            "edge_ids": []}


def test_to_dict_is_plain_data():
    d = retriever(top_paths=1).retrieve(Q, unit(1, 0, 1, 0)).to_dict()
    assert d["linked"] == [{"concept": "alpha", "score": 1.0, "source": "mention"},
                           {"concept": "gamma", "score": 1.0, "source": "mention"}]
    assert set(d["paths"][0][0]) == {"head", "relation", "tail", "weight", "relevance", "edge_id", "provenance"}


def test_retrieve_many_embeds_once(encoder):
    G = four_node_graph()
    emb = encoder.encode([f"{n}: the {n} concept" for n in G.nodes])
    calls = []

    class Counting:
        def encode(self, texts, **kw):
            calls.append(len(texts))
            return encoder.encode(texts, **kw)

    r = MindMapRetriever(G, emb, EntityLinker.from_graph(G, emb, Counting()))
    evs = r.retrieve_many([Q, "alpha?", "What is love?"])
    assert calls == [3] and [e.is_empty for e in evs] == [False, False, True]
    assert isinstance(evs[0], Evidence) and evs[0].paths[0][0]["relevance"] == pytest.approx(
        round(float(emb[0] @ encoder.encode([Q])[0] + emb[1] @ encoder.encode([Q])[0]) / 2, 4))
