"""Link a question to concepts of the graph.

Lexical first: every concept whose name or alias the question mentions
(:class:`kg.mentions.MentionMatcher`, score 1.0, source ``mention``). Only when there is
none, the nearest concepts by cosine similarity between the question's sentence
embedding and the nodes' ``"name: definition"`` embeddings (dense retrieval as in
Sentence-BERT, https://arxiv.org/abs/1908.10084), kept above ``threshold`` (source
``embedding``).
"""

from __future__ import annotations

from typing import NamedTuple

import networkx as nx
import numpy as np

from kg.embeddings import cosine, embed_texts
from kg.mentions import MentionMatcher


class Link(NamedTuple):
    """A linked concept; unpacks as ``(concept, score, source)``."""

    concept: str
    score: float
    source: str  # "mention" | "embedding"


class EntityLinker:
    """Links questions to the concepts of one graph.

    Args:
        matcher: finds name/alias mentions of the graph's concepts.
        node_names: concept names in the row order of ``node_embeddings``.
        node_embeddings: unit-norm node embeddings, or None to disable the fallback.
        encoder: embeds questions when no embedding is passed in; None disables the fallback.
        threshold: least cosine similarity for an embedding link. Default 0.5.
        fallback_k: most concepts linked by embedding. Default 2.

    Shapes:
        node_embeddings: ``(N, D)``.
    """

    def __init__(self, matcher: MentionMatcher, node_names: list[str], node_embeddings: np.ndarray | None,
                 encoder=None, threshold: float = 0.5, fallback_k: int = 2):
        self.matcher = matcher
        self.node_names = list(node_names)
        self.node_embeddings = node_embeddings
        self.encoder = encoder
        self.threshold = threshold
        self.fallback_k = fallback_k

    @classmethod
    def from_graph(cls, G: nx.MultiDiGraph, node_embeddings: np.ndarray | None, encoder=None, *,
                   spacy_model: str | None = None, threshold: float = 0.5, fallback_k: int = 2) -> "EntityLinker":
        """A linker over every node of ``G``, matching its names and aliases."""
        matcher = MentionMatcher({n: a.get("aliases", []) for n, a in G.nodes(data=True)}, spacy_model=spacy_model)
        return cls(matcher, list(G.nodes), node_embeddings, encoder, threshold, fallback_k)

    def embed(self, questions: list[str]) -> np.ndarray | None:
        """Question embeddings (None without an encoder). Shapes: ``(len(questions), D)``."""
        return embed_texts(self.encoder, questions) if self.encoder is not None else None

    def link(self, question: str, question_embedding: np.ndarray | None = None) -> list[Link]:
        """Concepts the question is about, mentions in text order first-seen, else nearest by embedding.

        Args:
            question: the question text.
            question_embedding: its unit-norm embedding, if already computed (batching
                saves time); computed with ``encoder`` only when the fallback needs it.

        Shapes:
            question_embedding: ``(D,)``.
        """
        seen: dict[str, Link] = {}
        for m in self.matcher.find(question):
            seen.setdefault(m.concept, Link(m.concept, 1.0, "mention"))
        if seen:
            return list(seen.values())
        if self.node_embeddings is None or not len(self.node_names):
            return []
        if question_embedding is None:
            emb = self.embed([question])
            if emb is None:
                return []
            question_embedding = emb[0]
        sims = cosine(self.node_embeddings, question_embedding)  # (N,)
        top = np.argsort(-sims, kind="stable")[:self.fallback_k]
        return [Link(self.node_names[i], round(float(sims[i]), 4), "embedding") for i in top
                if sims[i] >= self.threshold]
