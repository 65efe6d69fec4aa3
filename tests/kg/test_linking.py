import numpy as np

from kg.linking import EntityLinker, Link
from tests.kg.conftest import ONE_HOT, four_node_graph


def test_mentions_first_in_text_order_once_each():
    linker = EntityLinker.from_graph(four_node_graph(), ONE_HOT)
    assert linker.link("Gamma or alpha, and gamma again?") == [Link("gamma", 1.0, "mention"), Link("alpha", 1.0,
                                                                                                 "mention")]


def test_embedding_fallback_above_threshold_only():
    linker = EntityLinker.from_graph(four_node_graph(), ONE_HOT, threshold=0.5, fallback_k=2)
    q = np.array([0.8, 0.0, 0.0, 0.6], dtype=np.float32)  # no mention: nearest are alpha (0.8), delta (0.6)
    assert linker.link("What is love?", q) == [Link("alpha", 0.8, "embedding"), Link("delta", 0.6, "embedding")]
    linker.threshold = 0.7
    assert linker.link("What is love?", q) == [Link("alpha", 0.8, "embedding")]
    linker.threshold = 0.9
    assert linker.link("What is love?", q) == []


def test_fallback_uses_the_encoder_when_no_embedding_is_given(encoder):
    G = four_node_graph()
    emb = encoder.encode(["alpha: first letter", "beta: second letter", "gamma: third one", "delta: river mouth"])
    linker = EntityLinker.from_graph(G, emb, encoder, threshold=0.3, fallback_k=1)
    q = "Where is the river mouth?"
    expected = round(float(emb[3] @ encoder.encode([q])[0]), 4)
    assert expected > 0.3
    assert linker.link(q) == [Link("delta", expected, "embedding")]


def test_without_embeddings_or_encoder_nothing_links():
    assert EntityLinker.from_graph(four_node_graph(), None).link("What is love?") == []
