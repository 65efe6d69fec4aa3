"""Verbalise knowledge-graph evidence into numbered sentences, within a token budget.

MindMap (Wen et al. 2023, "MindMap: Knowledge Graph Prompting Sparks Graph of Thoughts
in Large Language Models", https://arxiv.org/abs/2308.09729) gives the model two kinds
of evidence: paths between the question's concepts and their 1-hop neighbours. MindMap
turns them into text with an LLM; here each relation has a fixed template, so a prompt
is a deterministic function of the subgraph. ``triples`` renders the raw subgraph as a
node and edge list instead, the textual-graph baseline of G-Retriever (He et al. 2024,
https://arxiv.org/abs/2402.07630).

A triple is a mapping with ``head``, ``relation``, ``tail``, ``relevance`` and ``edge_id``
(see ``kg.retrieval``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

Triple = Mapping[str, object]

RELATION_TEMPLATES = {
    "is_a": "{head} is a kind of {tail}",
    "part_of": "{head} is part of {tail}",
    "used_for": "{head} is used for {tail}",
    "uses": "{head} uses {tail}",
    "has_example": "{head} has {tail} as an example",
    "contrasts_with": "{head} contrasts with {tail}",
    "related_to": "{head} is related to {tail}",
}


def verbalize_triple(t: Triple) -> str:
    """One triple as a clause: ``dropout is a kind of regularization technique``."""
    rel = str(t["relation"])
    template = RELATION_TEMPLATES.get(rel, "{head} " + rel.replace("_", " ") + " {tail}")
    return template.format(head=t["head"], tail=t["tail"])


def verbalize_path(path: Sequence[Triple]) -> str:
    """A path as a chain of clauses: ``A is a kind of B; B is used for C.``"""
    return "; ".join(verbalize_triple(t) for t in path) + "."


@dataclass
class EvidenceItem:
    """One numbered line of evidence. ``kind`` is ``path`` (id P1..) or ``neighbor`` (N1..)."""

    kind: str
    text: str
    relevance: float
    edge_ids: list[str]
    nodes: list[str] = field(default_factory=list)
    id: str = ""


@dataclass
class EvidenceBlock:
    text: str
    items: list[EvidenceItem] = field(default_factory=list)
    dropped: int = 0  # items cut by the token budget
    tokens: int = 0

    @property
    def ids(self) -> list[str]:
        return [i.id for i in self.items]


def _path_relevance(path: Sequence[Triple]) -> float:
    return sum(float(t.get("relevance", 0.0)) for t in path) / max(len(path), 1)


def mindmap_items(paths: Sequence[Sequence[Triple]], neighbors: Sequence[Triple]) -> list[EvidenceItem]:
    items = [EvidenceItem("path", verbalize_path(p), _path_relevance(p), [str(t["edge_id"]) for t in p])
             for p in paths if p]
    items += [EvidenceItem("neighbor", verbalize_triple(t) + ".", float(t.get("relevance", 0.0)), [str(t["edge_id"])])
              for t in neighbors]
    return items


def triples_items(paths: Sequence[Sequence[Triple]], neighbors: Sequence[Triple]) -> list[EvidenceItem]:
    """Every distinct edge of the subgraph as ``(head, relation, tail)``."""
    seen, items = set(), []
    for t in [t for p in paths for t in p] + list(neighbors):
        if t["edge_id"] in seen:
            continue
        seen.add(t["edge_id"])
        items.append(EvidenceItem("edge", f"({t['head']}, {t['relation']}, {t['tail']})",
                                  float(t.get("relevance", 0.0)), [str(t["edge_id"])], [str(t["head"]), str(t["tail"])]))
    return items


def render(items: Sequence[EvidenceItem], style: str) -> str:
    """Number the items and lay them out as MindMap's two sections or one edge list."""
    if style == "triples":
        nodes = sorted({n for i in items for n in i.nodes})
        for n, item in enumerate(items, 1):
            item.id = f"E{n}"
        return "Nodes: " + "; ".join(nodes) + "\nEdges:\n" + "\n".join(f"{i.id}. {i.text}" for i in items)
    lines = []
    for kind, title, prefix in (("path", "Path-based evidence", "P"), ("neighbor", "Neighbor-based evidence", "N")):
        group = [i for i in items if i.kind == kind]
        for n, item in enumerate(group, 1):
            item.id = f"{prefix}{n}"
        if group:
            lines.append(f"{title}:")
            lines += [f"{title} {item.id[1:]} [{item.id}]: {item.text}" for item in group]
    return "\n".join(lines)


def fit_to_budget(items: Sequence[EvidenceItem], style: str, budget_tokens: int,
                  count_tokens: Callable[[str], int]) -> EvidenceBlock:
    """Keep the most relevant items whose rendered block fits in ``budget_tokens``.

    Items are admitted in order of decreasing relevance (ties keep their order); an item
    that does not fit is skipped and smaller ones may still enter. The kept items are
    shown in their original order (paths before neighbours), numbered after the cut, so
    ids are always 1..n.
    """
    order = sorted(range(len(items)), key=lambda i: -items[i].relevance)
    kept: list[int] = []
    for i in order:
        trial = sorted(kept + [i])
        if count_tokens(render([items[j] for j in trial], style)) <= budget_tokens:
            kept = trial
    chosen = [items[j] for j in kept]
    text = render(chosen, style)
    return EvidenceBlock(text, chosen, dropped=len(items) - len(chosen), tokens=count_tokens(text) if chosen else 0)
