"""MindMap evidence retrieval: the question's evidence subgraph as triples with provenance.

Wen, Wang & Sun (2023), "MindMap: Knowledge Graph Prompting Sparks Graph of Thoughts in
Large Language Models", https://arxiv.org/abs/2308.09729. After linking the question's
concepts (:mod:`kg.linking`), two kinds of evidence are gathered:

* **Path-based**: for each pair of linked concepts, the shortest paths between them of at
  most ``max_hops`` edges (direction ignored), each hop taking its strongest edge; the
  ``top_paths`` best overall by ``score = (1 - lam) * mean weight + lam * mean relevance``
  (``lam = relevance_weight``). MindMap chains the pairs greedily; scoring every pair lets
  the best paths win regardless of link order.
* **Neighbour-based**: the edges incident to each linked concept, ranked by the same score,
  taken round-robin over the linked concepts up to ``top_neighbors``.

A triple's relevance is the mean cosine similarity of the question embedding to its head
and tail node embeddings. Evidence then fits a token budget (about 4 characters per token
of the verbalised triples), paths first. Every triple is a dict
``{head, relation, tail, weight, relevance, edge_id, provenance}``; ``node_ids`` and
``edge_ids`` name the subgraph for the GNN (rows of ``to_pyg(...).node_names`` and
columns of its ``edge_ids``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import networkx as nx
import numpy as np

from kg.embeddings import cosine
from kg.linking import EntityLinker, Link
from kg.relations import RELATIONS

log = logging.getLogger(__name__)
MAX_CANDIDATES = 64  # shortest paths enumerated per pair before ranking (bounds the time on hub nodes)


@dataclass
class Evidence:
    """What the graph knows about one question (stable interface for prompting and the GNN)."""

    question: str
    linked: list[Link] = field(default_factory=list)
    paths: list[list[dict]] = field(default_factory=list)  # each path: its triples, head to tail
    neighbors: list[dict] = field(default_factory=list)
    node_ids: list[str] = field(default_factory=list)
    edge_ids: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.linked

    def triples(self) -> list[dict]:
        """Every distinct triple, path triples first, in rank order."""
        seen, out = set(), []
        for t in [t for p in self.paths for t in p] + self.neighbors:
            if t["edge_id"] not in seen:
                seen.add(t["edge_id"])
                out.append(t)
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["linked"] = [{"concept": c, "score": s, "source": src} for c, s, src in self.linked]
        return d


def triple_tokens(t: dict) -> int:
    """Approximate prompt tokens of ``"head relation tail"`` (about 4 characters a token)."""
    return math.ceil((len(t["head"]) + len(t["relation"]) + len(t["tail"]) + 2) / 4)


class MindMapRetriever:
    """Path- and neighbour-based evidence from one graph.

    Args:
        G: the concept graph.
        node_embeddings: unit-norm node embeddings in ``G.nodes`` order, or None (relevance 0).
        linker: links questions to ``G``'s nodes.
        max_hops: ``k``, the longest path between two linked concepts. Default 2.
        top_paths: ``N``, paths kept. Default 5.
        paths_per_pair: paths kept per pair of linked concepts before the overall cut. Default 2.
        top_neighbors: neighbour triples kept. Default 10.
        relevance_weight: ``lam`` in the score. Default 0.5.
        token_budget: most evidence tokens (:func:`triple_tokens`). Default 256.

    Shapes:
        node_embeddings: ``(N, D)``.
    """

    def __init__(self, G: nx.MultiDiGraph, node_embeddings: np.ndarray | None, linker: EntityLinker, *,
                 max_hops: int = 2, top_paths: int = 5, paths_per_pair: int = 2, top_neighbors: int = 10,
                 relevance_weight: float = 0.5, token_budget: int = 256):
        self.G, self.emb, self.linker = G, node_embeddings, linker
        self.max_hops, self.top_paths, self.paths_per_pair = max_hops, top_paths, paths_per_pair
        self.top_neighbors, self.lam, self.token_budget = top_neighbors, relevance_weight, token_budget
        self.names = list(G.nodes)
        self.index = {n: i for i, n in enumerate(self.names)}
        prio = {r: i for i, r in enumerate(RELATIONS)}
        self.incident: list[list[dict]] = [[] for _ in self.names]
        self.best: dict[tuple[int, int], dict] = {}  # unordered pair -> its strongest edge
        for u, v, _, a in G.edges(keys=True, data=True):
            e = {"head": u, "relation": a["relation"], "tail": v, "weight": float(a["weight"]),
                 "edge_id": a["edge_id"], "provenance": a["provenance"]}
            iu, iv = self.index[u], self.index[v]
            self.incident[iu].append(e)
            if iu != iv:
                self.incident[iv].append(e)
            pair = (min(iu, iv), max(iu, iv))
            old = self.best.get(pair)
            if old is None or (-e["weight"], prio[e["relation"]], e["edge_id"]) < (
                    -old["weight"], prio[old["relation"]], old["edge_id"]):
                self.best[pair] = e
        adj: list[set[int]] = [set() for _ in self.names]
        for i, j in self.best:
            adj[i].add(j)
            adj[j].add(i)
        self.adj = [frozenset(sorted(a)) for a in adj]

    def _shortest_paths(self, s: int, targets: set[int]) -> dict[int, list[list[int]]]:
        """Shortest paths of <= ``max_hops`` edges from ``s`` to each reachable target (capped)."""
        preds: dict[int, list[int]] = {s: []}
        frontier, found = [s], {}
        for depth in range(1, self.max_hops + 1):
            layer: dict[int, list[int]] = {}
            last = depth == self.max_hops
            for u in frontier:
                for v in sorted(self.adj[u] & targets if last else self.adj[u]):
                    if v not in preds:
                        layer.setdefault(v, []).append(u)
            preds.update(layer)
            for t in sorted(targets & layer.keys()):
                found[t] = self._unroll(preds, s, t)
            targets = targets - layer.keys()
            frontier = sorted(layer)
            if not targets or not frontier:
                break
        return found

    def _unroll(self, preds: dict[int, list[int]], s: int, t: int) -> list[list[int]]:
        paths, stack = [], [[t]]
        while stack and len(paths) < MAX_CANDIDATES:
            p = stack.pop()
            if p[-1] == s:
                paths.append(p[::-1])
                continue
            stack.extend(p + [u] for u in reversed(preds[p[-1]]))
        return paths

    def _triple(self, e: dict, sims: np.ndarray | None) -> dict:
        rel = 0.0 if sims is None else round(float(sims[self.index[e["head"]]] + sims[self.index[e["tail"]]]) / 2, 4)
        return {"head": e["head"], "relation": e["relation"], "tail": e["tail"], "weight": e["weight"],
                "relevance": rel, "edge_id": e["edge_id"], "provenance": list(e["provenance"])}

    def _score(self, triples: list[dict]) -> float:
        w = sum(t["weight"] for t in triples) / len(triples)
        r = sum(t["relevance"] for t in triples) / len(triples)
        return (1 - self.lam) * w + self.lam * r

    def _paths(self, linked: list[int], sims) -> list[list[dict]]:
        pool = []
        for a, s in enumerate(linked):
            targets = set(linked[a + 1:])
            for t, paths in self._shortest_paths(s, targets).items():
                cands = [[self._triple(self.best[(min(x, y), max(x, y))], sims) for x, y in zip(p, p[1:])]
                         for p in paths]
                cands.sort(key=lambda p: (-self._score(p), [t["edge_id"] for t in p]))
                pool += cands[:self.paths_per_pair]
        pool.sort(key=lambda p: (-self._score(p), [t["edge_id"] for t in p]))
        return pool[:self.top_paths]

    def _neighbors(self, linked: list[int], sims, used: set[str]) -> list[dict]:
        ranked = []
        for i in linked:
            ts = [self._triple(e, sims) for e in self.incident[i] if e["edge_id"] not in used]
            ranked.append(sorted(ts, key=lambda t: (-self._score([t]), t["edge_id"])))
        out, seen = [], set(used)
        for rank in range(max((len(r) for r in ranked), default=0)):
            for r in ranked:
                if rank < len(r) and r[rank]["edge_id"] not in seen and len(out) < self.top_neighbors:
                    seen.add(r[rank]["edge_id"])
                    out.append(r[rank])
        return out

    def _fit_budget(self, paths: list[list[dict]], neighbors: list[dict]):
        left, kept_paths, kept_nb = self.token_budget, [], []
        for p in paths:
            cost = sum(triple_tokens(t) for t in p)
            if cost <= left:
                kept_paths.append(p)
                left -= cost
        for t in neighbors:
            if triple_tokens(t) <= left:
                kept_nb.append(t)
                left -= triple_tokens(t)
        return kept_paths, kept_nb

    def retrieve(self, question: str, question_embedding: np.ndarray | None = None) -> Evidence:
        """Link ``question`` and gather its evidence; empty (and logged) when nothing links.

        Shapes:
            question_embedding: ``(D,)``, unit norm; computed with the linker's encoder if None.
        """
        if question_embedding is None and self.linker.encoder is not None:
            question_embedding = self.linker.embed([question])[0]
        links = self.linker.link(question, question_embedding)
        if not links:
            log.info("retrieval: no concept linked for %r; empty evidence (prompts fall back to no graph)",
                     question[:80])
            return Evidence(question)
        sims = None if self.emb is None or question_embedding is None else cosine(self.emb, question_embedding)
        linked = [self.index[c] for c, _, _ in links]
        paths = self._paths(linked, sims)
        neighbors = self._neighbors(linked, sims, {t["edge_id"] for p in paths for t in p})
        paths, neighbors = self._fit_budget(paths, neighbors)
        ev = Evidence(question, links, paths, neighbors)
        nodes = [c for c, _, _ in links] + [x for t in ev.triples() for x in (t["head"], t["tail"])]
        ev.node_ids = list(dict.fromkeys(nodes))
        ev.edge_ids = [t["edge_id"] for t in ev.triples()]
        return ev

    def retrieve_many(self, questions: list[str]) -> list[Evidence]:
        """:meth:`retrieve` for many questions, embedding them in one batch."""
        embs = self.linker.embed(list(questions))
        return [self.retrieve(q, None if embs is None else embs[i]) for i, q in enumerate(questions)]
