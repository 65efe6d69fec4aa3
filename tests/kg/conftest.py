"""Hand-made fixtures for the concept-graph tests: a 4-concept lexicon, a tiny corpus whose
dev/test answers carry marker words, a 4-node graph, and a deterministic stand-in encoder."""

import hashlib
import json

import networkx as nx
import numpy as np
import pytest

from tests.conftest import qa, write_corpus

LEXICON = [
    {"name": "machine learning", "domain": "ai", "aliases": ["ML"], "definition": "Learning from data.",
     "is_a": [], "part_of": []},
    {"name": "decision tree", "domain": "ai", "aliases": [], "definition": "A tree of feature tests.",
     "is_a": ["machine learning"], "part_of": []},
    {"name": "random forest", "domain": "ai", "aliases": ["RF"], "definition": "An average of many trees.",
     "is_a": ["machine learning"], "part_of": []},
    {"name": "bagging", "domain": "ai", "aliases": ["bootstrap aggregating"], "definition": "Averaging models fit "
     "on bootstrap samples.", "is_a": [], "part_of": ["random forest"]},
]

TRAIN = [
    ("A random forest uses bagging of many decision trees.", "What is a random forest?"),
    ("Machine learning methods such as decision trees and random forests learn from data.", "What is ML?"),
    ("Unlike a decision tree, a random forest averages many trees. Bagging reduces variance.", "Tree vs forest?"),
    ("Bagging is used for random forests and decision trees.", "What is bagging used for?"),
]
# Dev/test answers state relations the graph would pick up if it read them, plus marker words.
HELD_OUT = [
    ("dev", "Bagging is a kind of machine learning zebracorn. Decision trees use random forests.", "Bagging?"),
    ("test", "Decision trees are a kind of bagging quuxplode, unlike machine learning.", "Decision trees?"),
]
MARKERS = ("zebracorn", "quuxplode")


class HashEncoder:
    """Bag-of-words stand-in for MiniLM: texts sharing words get similar unit vectors."""

    dim = 64

    def encode(self, texts, batch_size=32, show_progress_bar=False, convert_to_numpy=True, normalize_embeddings=True):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().replace(":", " ").replace("?", " ").split():
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@pytest.fixture
def encoder():
    return HashEncoder()


@pytest.fixture
def lexicon_path(tmp_path):
    p = tmp_path / "lexicon.jsonl"
    p.write_text("".join(json.dumps(c) + "\n" for c in LEXICON), encoding="utf-8")
    return p


def corpus_rows():
    rows = [qa(i, "ai", "train", answer=a, question=q, concepts=["random forest"]) for i, (a, q) in enumerate(TRAIN)]
    rows += [qa(10 + i, "ai", s, answer=a, question=q, concepts=["bagging", "decision tree"])
             for i, (s, a, q) in enumerate(HELD_OUT)]
    return rows


@pytest.fixture
def corpus_path(tmp_path):
    return write_corpus(tmp_path / "corpus.jsonl", corpus_rows())


def four_node_graph() -> nx.MultiDiGraph:
    """alpha -is_a-> beta -uses-> gamma and alpha -related_to-> delta -related_to-> gamma."""
    G = nx.MultiDiGraph(relations=["is_a", "part_of", "used_for", "uses", "has_example", "contrasts_with",
                                   "related_to"], n_train=2)
    for n in ("alpha", "beta", "gamma", "delta"):
        G.add_node(n, domain="cs", definition=f"the {n} concept", aliases=[], source="lexicon", freq=1)
    for h, r, t, w in [("alpha", "is_a", "beta", 1.0), ("beta", "uses", "gamma", 0.5),
                       ("alpha", "related_to", "delta", 0.4), ("delta", "related_to", "gamma", 0.8)]:
        G.add_edge(h, t, key=r, relation=r, weight=w, support=1, edge_id=f"{h}|{r}|{t}",
                   provenance=[{"qa_id": "q1", "sentence": f"{h} {r} {t}.", "source": "pattern"}])
    return G


ONE_HOT = np.eye(4, dtype=np.float32)  # rows: alpha, beta, gamma, delta (G.nodes order)
