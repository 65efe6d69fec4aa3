"""The concept graph: built from the *train* split only, saved, loaded, exported to PyG.

``build_graph`` runs: lexicon -> mined terms (:mod:`kg.terms`) -> mentions
(:mod:`kg.mentions`) -> relations (:mod:`kg.relations`) -> a ``networkx.MultiDiGraph``.
Nodes are concept names (sorted) with ``domain``, ``definition``, ``aliases``, ``source``
(lexicon | mined) and ``freq`` (train Q&As mentioning it); edges are keyed by relation and
carry ``relation``, ``weight``, ``support``, ``edge_id`` and ``provenance``. The same input
and settings give the same graph, byte for byte once saved.

``to_pyg`` exports a ``torch_geometric.data.Data`` whose node features are sentence
embeddings of ``"name: definition"`` (Sentence-BERT, https://arxiv.org/abs/1908.10084) and
whose ``edge_type`` indexes :data:`kg.relations.RELATIONS`, as relational GNNs such as
R-GCN (Schlichtkrull et al. 2018, https://arxiv.org/abs/1703.06103) expect.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from functools import partial
from pathlib import Path

import networkx as nx
import numpy as np

from kg.corpus import QARecord
from kg.embeddings import embed_texts
from kg.io import atomic_write_text
from kg.lexicon import Concept
from kg.mentions import MentionMatcher, make_nlp, normalise
from kg.relations import RELATIONS, Edge, cooccurrence_edges, lexicon_edges, pattern_edges, sentences
from kg.terms import mine_concepts

log = logging.getLogger(__name__)


class GraphError(ValueError):
    """The graph cannot be built from this input; the message says what to provide."""


def _merge(edges: list[Edge], max_provenance: int) -> list[Edge]:
    """One edge per (head, relation, tail): a pattern edge that restates a lexicon edge joins it."""
    merged: dict[str, Edge] = {}
    for e in edges:
        if e.edge_id not in merged:
            merged[e.edge_id] = e
            continue
        m = merged[e.edge_id]
        m.weight = max(m.weight, e.weight)
        m.support += e.support
        m.provenance = (m.provenance + e.provenance)[:max_provenance + 1]  # the lexicon entry + max_provenance
    return sorted(merged.values(), key=lambda e: (e.head, e.relation, e.tail))


def build_graph(records: list[QARecord], lexicon: dict[str, Concept], *, encoder=None,
                spacy_model: str | None = None, mine_terms: bool = True, term_max_len: int = 4,
                term_min_freq: int = 3, max_terms: int = 200, synonym_threshold: float = 0.9,
                abbreviations: bool = True, patterns: bool = True, pattern_max_gap: int = 3,
                cooc_min_count: int = 2, npmi_threshold: float = 0.2, related_top_k: int = 10,
                max_provenance: int = 5) -> nx.MultiDiGraph:
    """Build the concept graph from the train records of ``records`` (other splits are ignored).

    Args:
        records: corpus records; only ``split == "train"`` ones are read.
        lexicon: curated concepts (:func:`kg.lexicon.load_lexicon`).
        encoder: sentence encoder for the synonym merge; None skips it. Default None.
        spacy_model: full spaCy pipeline instead of ``spacy.blank("en")``. Default None.
        mine_terms, term_max_len, term_min_freq, max_terms, synonym_threshold, abbreviations:
            term mining (:func:`kg.terms.mine_concepts`). Defaults True, 4, 3, 200, 0.9, True.
        patterns, pattern_max_gap: cue-phrase relations (:func:`kg.relations.pattern_edges`).
            Defaults True, 3.
        cooc_min_count, npmi_threshold, related_top_k: ``related_to`` edges
            (:func:`kg.relations.cooccurrence_edges`). Defaults 2, 0.2, 10.
        max_provenance: most provenance entries per edge. Default 5.

    Raises:
        GraphError: no train records or an empty lexicon.
    """
    train = [r for r in records if r.split == "train"]
    if not train:
        raise GraphError(f"none of the {len(records)} corpus records is in the train split; the graph is built "
                         "from train answers only: assign splits (kg.splits.assign_splits) first")
    if not lexicon:
        raise GraphError("the lexicon is empty; point kg.lexicon at data/lexicon.jsonl")
    nlp = make_nlp(spacy_model)
    docs = list(nlp.pipe([r.answer for r in train], batch_size=256))
    if mine_terms:
        concepts = mine_concepts(
            docs, [r.answer for r in train], [r.domain for r in train], lexicon, partial(normalise, nlp), encoder,
            max_len=term_max_len, min_freq=term_min_freq, max_terms=max_terms,
            synonym_threshold=synonym_threshold, abbreviations=abbreviations)
    else:
        concepts = dict(lexicon)
    matcher = MentionMatcher({c.name: c.aliases for c in concepts.values()}, nlp=nlp)
    answer_mentions = [matcher.find_in_doc(d) for d in docs]
    question_mentions = matcher.find_many([r.question for r in train])

    edges = lexicon_edges(concepts)
    if patterns:
        edges += pattern_edges([(r.id, r.answer, ms) for r, ms in zip(train, answer_mentions)],
                               max_gap=pattern_max_gap, max_provenance=max_provenance)
    cooc = []
    for r, qm, am in zip(train, question_mentions, answer_mentions):
        sents = [(r.question, {m.concept for m in qm})]
        sents += [(r.answer[s:e].strip(), {m.concept for m in am if s <= m.start < e}) for s, e in sentences(r.answer)]
        cooc.append((r.id, sents))
    edges += cooccurrence_edges(cooc, min_count=cooc_min_count, min_npmi=npmi_threshold, top_k=related_top_k,
                                max_provenance=max_provenance)
    freq = Counter(c for _, sents in cooc for c in set().union(*(cs for _, cs in sents)))

    G = nx.MultiDiGraph(relations=list(RELATIONS), n_train=len(train))
    for name in sorted(concepts):
        c = concepts[name]
        G.add_node(name, domain=c.domain, definition=c.definition, aliases=list(c.aliases), source=c.source,
                   freq=freq.get(name, 0))
    for e in _merge(edges, max_provenance):
        G.add_edge(e.head, e.tail, key=e.relation, relation=e.relation, weight=e.weight, support=e.support,
                   edge_id=e.edge_id, provenance=e.provenance)
    log.info("graph: %d concepts (%d mined), %d edges from %d train Q&As", G.number_of_nodes(),
             sum(c.source == "mined" for c in concepts.values()), G.number_of_edges(), len(train))
    return G


def node_text(G: nx.MultiDiGraph, name: str) -> str:
    """What a node's feature embeds: ``"name: definition"``, or the name when there is no definition."""
    d = G.nodes[name].get("definition") or ""
    return f"{name}: {d}" if d else name


def node_embeddings(G: nx.MultiDiGraph, encoder, batch_size: int = 64) -> np.ndarray:
    """Embeddings of :func:`node_text` for every node, in ``G.nodes`` order.

    Shapes:
        output: ``(num_nodes, D)`` float32, unit rows.
    """
    return embed_texts(encoder, [node_text(G, n) for n in G.nodes], batch_size=batch_size)


def save_graph(G: nx.MultiDiGraph, folder: str | Path) -> None:
    """Write ``graph.json`` (node-link, the format :func:`load_graph` reads) and ``graph.graphml``.

    GraphML has no lists, so list and dict attributes are JSON strings there and None is ``""``.
    """
    folder = Path(folder)
    data = nx.node_link_data(G, edges="edges")
    atomic_write_text(folder / "graph.json", json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1) + "\n")
    H = nx.MultiDiGraph(**{k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in G.graph.items()})

    def flat(attrs: dict) -> dict:
        return {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else ("" if v is None else v)
                for k, v in attrs.items()}

    H.add_nodes_from((n, flat(a)) for n, a in G.nodes(data=True))
    H.add_edges_from((u, v, k, flat(a)) for u, v, k, a in G.edges(keys=True, data=True))
    atomic_write_text(folder / "graph.graphml", "\n".join(nx.generate_graphml(H)) + "\n")


def load_graph(path: str | Path) -> nx.MultiDiGraph:
    """Read a graph saved by :func:`save_graph` (its folder or its ``graph.json``)."""
    path = Path(path)
    path = path / "graph.json" if path.is_dir() else path
    if not path.is_file():
        raise GraphError(f"{path}: no saved graph; run `studyllama kg` to build one")
    data = json.loads(path.read_text(encoding="utf-8"))
    return nx.node_link_graph(data, directed=True, multigraph=True, edges="edges")


def to_pyg(G: nx.MultiDiGraph, embeddings: np.ndarray):
    """Export to ``torch_geometric.data.Data``.

    Args:
        G: the concept graph.
        embeddings: node features in ``G.nodes`` order (:func:`node_embeddings`).

    Returns:
        ``Data`` with ``x``, ``edge_index``, ``edge_type``, ``edge_weight`` and, as Python
        lists, ``node_names`` (row i of ``x`` is ``node_names[i]``), ``edge_ids``
        (column j of ``edge_index``) and ``relations`` (``edge_type`` indexes it).

    Shapes:
        x: ``(N, D)`` float32; edge_index: ``(2, E)`` int64; edge_type: ``(E,)`` int64;
        edge_weight: ``(E,)`` float32.
    """
    import torch
    from torch_geometric.data import Data

    names = list(G.nodes)
    if embeddings.shape[0] != len(names):
        raise GraphError(f"embeddings have {embeddings.shape[0]} rows for {len(names)} nodes; recompute them")
    index = {n: i for i, n in enumerate(names)}
    rel_index = {r: i for i, r in enumerate(RELATIONS)}
    edges = list(G.edges(keys=True, data=True))
    edge_index = torch.tensor([[index[u] for u, _, _, _ in edges], [index[v] for _, v, _, _ in edges]],
                              dtype=torch.long).reshape(2, len(edges))  # (2, E)
    return Data(x=torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32)), edge_index=edge_index,
                edge_type=torch.tensor([rel_index[a["relation"]] for *_, a in edges], dtype=torch.long),
                edge_weight=torch.tensor([a["weight"] for *_, a in edges], dtype=torch.float32),
                node_names=names, edge_ids=[a["edge_id"] for *_, a in edges], relations=list(RELATIONS))
