import json

import networkx as nx
import numpy as np
import pytest
import torch

from kg.cache import build_or_load, cache_key
from kg.corpus import load_corpus
from kg.graph import GraphError, build_graph, load_graph, node_embeddings, save_graph, to_pyg
from kg.lexicon import load_lexicon
from kg.relations import RELATIONS
from tests.conftest import write_corpus
from tests.kg.conftest import MARKERS, ONE_HOT, corpus_rows, four_node_graph

SETTINGS = dict(term_min_freq=2, cooc_min_count=2, npmi_threshold=0.0)


@pytest.fixture
def graph(corpus_path, lexicon_path, encoder):
    return build_graph(load_corpus(corpus_path), load_lexicon(lexicon_path), encoder=encoder, **SETTINGS)


def edges(G):
    return sorted((u, k, v) for u, v, k in G.edges(keys=True))


def test_graph_from_fixture(graph):
    assert list(graph.nodes) == ["bagging", "decision tree", "machine learning", "random forest"]
    assert graph.nodes["random forest"]["aliases"] == ["RF"]
    assert graph.nodes["random forest"]["freq"] == 4 and graph.graph["n_train"] == 4
    assert edges(graph) == [
        ("bagging", "part_of", "random forest"), ("bagging", "related_to", "decision tree"),
        ("bagging", "related_to", "random forest"), ("bagging", "used_for", "decision tree"),
        ("bagging", "used_for", "random forest"), ("decision tree", "contrasts_with", "random forest"),
        ("decision tree", "is_a", "machine learning"), ("decision tree", "related_to", "random forest"),
        ("machine learning", "has_example", "decision tree"), ("machine learning", "has_example", "random forest"),
        ("random forest", "is_a", "machine learning"), ("random forest", "uses", "bagging")]
    # decision tree and random forest share all 4 train Q&As: NPMI 1; bagging is in 3 of them: NPMI 0.
    assert graph.edges["decision tree", "random forest", "related_to"]["weight"] == 1.0
    assert graph.edges["bagging", "random forest", "related_to"]["weight"] == 0.0
    assert graph.edges["bagging", "random forest", "part_of"]["provenance"] == [
        {"qa_id": None, "sentence": "Averaging models fit on bootstrap samples.", "source": "lexicon"}]
    e = graph.edges["random forest", "bagging", "uses"]
    assert e["edge_id"] == "random forest|uses|bagging" and e["weight"] == 0.5 and e["support"] == 1
    assert e["provenance"] == [{"qa_id": "q0", "sentence": "A random forest uses bagging of many decision trees.",
                                "source": "pattern"}]


def test_train_only_no_dev_or_test_text_or_id_reaches_the_graph(graph, tmp_path):
    held_out_ids = {r["id"] for r in corpus_rows() if r["split"] != "train"}
    dump = json.dumps(nx.node_link_data(graph, edges="edges"))
    for marker in MARKERS:
        assert marker not in dump
    for *_, a in graph.edges(keys=True, data=True):
        for p in a["provenance"]:
            assert p["qa_id"] not in held_out_ids
            assert p["qa_id"] in {None, "q0", "q1", "q2", "q3"}
    # The held-out answers would have added these edges:
    assert ("bagging", "is_a", "machine learning") not in edges(graph)
    assert ("decision tree", "uses", "random forest") not in edges(graph)


def test_cache_key_ignores_dev_and_test(corpus_path, lexicon_path, tmp_path):
    rows = corpus_rows()
    more = write_corpus(tmp_path / "more.jsonl", rows + [dict(rows[-1], id="q99", answer="Another quuxplode.")])
    key = cache_key(load_corpus(corpus_path), lexicon_path, SETTINGS, "enc")
    assert cache_key(load_corpus(more), lexicon_path, SETTINGS, "enc") == key
    assert cache_key(load_corpus(corpus_path), lexicon_path, dict(SETTINGS, max_terms=1), "enc") != key
    changed = write_corpus(tmp_path / "changed.jsonl", [dict(rows[0], answer="Changed.")] + rows[1:])
    assert cache_key(load_corpus(changed), lexicon_path, SETTINGS, "enc") != key


def test_deterministic_and_saved_as_node_link_and_graphml(corpus_path, lexicon_path, encoder, tmp_path, graph):
    again = build_graph(load_corpus(corpus_path), load_lexicon(lexicon_path), encoder=encoder, **SETTINGS)
    save_graph(graph, tmp_path / "a")
    save_graph(again, tmp_path / "b")
    for name in ("graph.json", "graph.graphml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    loaded = load_graph(tmp_path / "a")
    assert list(loaded.nodes) == list(graph.nodes) and edges(loaded) == edges(graph)
    assert loaded.edges["random forest", "bagging", "uses"] == graph.edges["random forest", "bagging", "uses"]
    gml = nx.read_graphml(tmp_path / "a" / "graph.graphml")
    assert json.loads(gml.nodes["random forest"]["aliases"]) == ["RF"]
    prov = json.loads(gml.edges["random forest", "bagging", "uses"]["provenance"])
    assert prov[0]["qa_id"] == "q0"


def test_build_or_load_reuses_the_folder(corpus_path, lexicon_path, encoder, tmp_path):
    recs, lex = load_corpus(corpus_path), load_lexicon(lexicon_path)
    first = build_or_load(recs, lex, lexicon_path, tmp_path / "cache", encoder, "hash", **SETTINGS)
    second = build_or_load(recs, lex, lexicon_path, tmp_path / "cache", encoder, "hash", **SETTINGS)
    assert (first.reused, second.reused) == (False, True) and first.folder == second.folder
    assert sorted(p.name for p in first.folder.iterdir()) == ["graph.graphml", "graph.json", "meta.json",
                                                             "node_embeddings.npy"]
    assert edges(second.graph) == edges(first.graph) and (second.embeddings == first.embeddings).all()
    assert second.embeddings.shape == (4, encoder.dim)


def test_to_pyg_on_four_nodes():
    G = four_node_graph()
    data = to_pyg(G, ONE_HOT)
    assert data.x.shape == (4, 4) and data.edge_index.shape == (2, 4) and data.edge_type.shape == (4,)
    assert data.node_names == ["alpha", "beta", "gamma", "delta"]
    assert data.edge_index.tolist() == [[0, 0, 1, 3], [1, 3, 2, 2]]
    assert data.edge_type.tolist() == [RELATIONS.index(r) for r in ("is_a", "related_to", "uses", "related_to")]
    assert data.edge_ids == ["alpha|is_a|beta", "alpha|related_to|delta", "beta|uses|gamma", "delta|related_to|gamma"]
    assert torch.allclose(data.edge_weight, torch.tensor([1.0, 0.4, 0.5, 0.8]))
    assert data.relations == list(RELATIONS)
    with pytest.raises(GraphError, match="3 rows for 4 nodes"):
        to_pyg(G, ONE_HOT[:3])


def test_node_features_embed_name_and_definition(encoder):
    G = four_node_graph()
    emb = node_embeddings(G, encoder)
    assert emb.shape == (4, encoder.dim)
    assert np.allclose(emb[0], encoder.encode(["alpha: the alpha concept"])[0])


def test_no_train_records_is_a_clear_error(tmp_path, lexicon_path):
    rows = [r for r in corpus_rows() if r["split"] != "train"]
    recs = load_corpus(write_corpus(tmp_path / "c.jsonl", rows))
    with pytest.raises(GraphError, match="none of the 2 corpus records is in the train split"):
        build_graph(recs, load_lexicon(lexicon_path))
    with pytest.raises(GraphError, match="the lexicon is empty"):
        build_graph(load_corpus(write_corpus(tmp_path / "d.jsonl", corpus_rows())), {})


def test_text_embeddings_are_reused_across_builds(corpus_path, lexicon_path, encoder, tmp_path):
    recs, lex = load_corpus(corpus_path), load_lexicon(lexicon_path)
    calls = []

    class Counting:
        def encode(self, texts, **kw):
            calls.append(len(texts))
            return encoder.encode(texts, **kw)

    first = build_or_load(recs, lex, lexicon_path, tmp_path / "cache", Counting(), "hash", **SETTINGS)
    n_first = sum(calls)
    assert n_first > 0 and len(list((tmp_path / "cache").glob("text_embeddings-*.npz"))) == 1
    calls.clear()
    again = build_or_load(recs, lex, lexicon_path, tmp_path / "cache", Counting(), "hash", rebuild=True, **SETTINGS)
    assert calls == [] and not again.reused  # rebuilt, but nothing embedded twice
    assert np.allclose(again.embeddings, first.embeddings) and edges(again.graph) == edges(first.graph)
