"""Typed relations between concepts, each with provenance.

Three sources, all from data the graph may see (the lexicon and the *train* Q&As):

* ``is_a`` / ``part_of`` from the lexicon's parent lists (weight 1).
* Lexico-syntactic patterns in answer sentences, after Hearst (1992, "Automatic
  acquisition of hyponyms from large text corpora", https://aclanthology.org/C92-2082):
  "X is a kind of Y" -> ``is_a``, "X is used for Y" -> ``used_for``, "X uses / relies on Y"
  -> ``uses``, "X such as / e.g. / including Y" -> ``has_example``, "X vs / unlike / compared
  to / whereas Y" -> ``contrasts_with``. Weight ``n / (n + 1)`` for n supporting Q&As.
* Co-occurrence within one Q&A, weighted by normalised PMI (Bouma 2009, "Normalized
  (pointwise) mutual information in collocation extraction"), as ``related_to``; each
  concept keeps its ``top_k`` strongest such edges.

Every edge carries ``provenance``: a list of ``{"qa_id", "sentence", "source"}`` (``qa_id``
is None and ``sentence`` the definition for lexicon edges). Symmetric relations are stored
once, head before tail alphabetically.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations

from kg.lexicon import LEXICON_RELATIONS, Concept
from kg.mentions import Mention

RELATIONS = ("is_a", "part_of", "used_for", "uses", "has_example", "contrasts_with", "related_to")
SYMMETRIC = frozenset({"contrasts_with", "related_to"})

# relation, cue, how head and tail sit around the cue
CUES = (
    ("is_a", re.compile(r"\b(?:is|are)\s+(?:a|an|one)?\s*(?:kind|type|form|class|special case|instance|variant|"
                        r"subclass|subtype|family)s?\s+of\b", re.I), "infix"),
    ("used_for", re.compile(r"\b(?:is|are)\s+(?:\w+ly\s+)?used\s+(?:for|to)\b", re.I), "infix"),
    ("uses", re.compile(r"\b(?:uses|relies on|rely on|(?:is|are) based on|builds? on|employs|leverages)\b", re.I),
     "infix"),
    ("has_example", re.compile(r"(?:\bsuch as\b|\bfor example\b|\bfor instance\b|\be\.g\.|\bincluding\b)", re.I),
     "infix"),
    ("contrasts_with", re.compile(r"\b(?:vs|versus)\b\.?", re.I), "infix"),
    ("contrasts_with", re.compile(r"\b(?:unlike|compared (?:to|with)|in contrast to|as opposed to)\b", re.I),
     "prefix"),
    ("contrasts_with", re.compile(r"\bwhereas\b", re.I), "clause"),
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")
_LIST_SEP = re.compile(r"[\s,]*(?:(?:and|or|as well as)\s+)?(?:(?:the|a|an)\s+)?", re.I)


@dataclass
class Edge:
    head: str
    relation: str
    tail: str
    weight: float = 1.0
    support: int = 0  # distinct train Q&As behind the edge; 0 for lexicon edges
    provenance: list[dict] = field(default_factory=list)

    @property
    def edge_id(self) -> str:
        """Stable id, the same across builds: ``"head|relation|tail"``."""
        return f"{self.head}|{self.relation}|{self.tail}"


def sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text`` (split after . ! ? before a capital or digit)."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def lexicon_edges(concepts: dict[str, Concept]) -> list[Edge]:
    """``is_a`` and ``part_of`` edges from each concept to the parents its lexicon entry lists."""
    out = []
    for c in concepts.values():
        for rel in LEXICON_RELATIONS:
            for parent in getattr(c, rel):
                prov = [{"qa_id": None, "sentence": c.definition, "source": "lexicon"}]
                out.append(Edge(c.name, rel, parent, 1.0, 0, prov))
    return out


def _gap(text: str, start: int, end: int) -> int:
    return len(re.findall(r"\w+", text[start:end])) if end > start else 0


def _list_from(text: str, mentions: list[Mention]) -> list[Mention]:
    """The first mention and those joined to it by commas / and / or ("A, B and C")."""
    out = mentions[:1]
    for m in mentions[1:]:
        if not _LIST_SEP.fullmatch(text[out[-1].end:m.start]):
            break
        out.append(m)
    return out


def _pairs_at(text: str, cue: re.Match, mode: str, ms: list[Mention], max_gap: int) -> list[tuple[str, str]]:
    before = [m for m in ms if m.end <= cue.start()]
    after = [m for m in ms if m.start >= cue.end()]
    if not after or _gap(text, cue.end(), after[0].start) > max_gap:
        return []
    if before and _gap(text, before[-1].end, cue.start()) <= max_gap and mode != "clause":
        return [(before[-1].concept, t.concept) for t in _list_from(text, after)]
    if mode == "prefix" and len(after) > 1:  # "Unlike X, Y ..."
        return [(after[1].concept, after[0].concept)]
    if mode == "clause" and before:  # "X does this, whereas Y ..."
        return [(before[0].concept, after[0].concept)]
    return []


def pattern_edges(answers: list[tuple[str, str, list[Mention]]], max_gap: int = 3,
                  max_provenance: int = 5) -> list[Edge]:
    """Relations stated by cue phrases in answer sentences.

    Args:
        answers: ``(qa_id, answer text, mentions in that text)`` per train record.
        max_gap: most words between a mention and the cue. Default 3.
        max_provenance: most provenance entries kept per edge (lowest qa ids). Default 5.
    """
    found: dict[tuple[str, str, str], dict[str, str]] = defaultdict(dict)  # key -> qa_id -> sentence
    for qa_id, text, mentions in answers:
        for s, e in sentences(text):
            ms = [m for m in mentions if s <= m.start and m.end <= e]
            if len(ms) < 2:
                continue
            for rel, regex, mode in CUES:
                for cue in regex.finditer(text, s, e):
                    for head, tail in _pairs_at(text, cue, mode, ms, max_gap):
                        if head == tail:
                            continue
                        if rel in SYMMETRIC:
                            head, tail = sorted((head, tail))
                        found[(head, rel, tail)].setdefault(qa_id, text[s:e].strip())
    return [_edge(key, ids, len(ids) / (len(ids) + 1), "pattern", max_provenance)
            for key, ids in sorted(found.items())]


def _edge(key, ids: dict[str, str], weight: float, source: str, max_provenance: int) -> Edge:
    prov = [{"qa_id": q, "sentence": ids[q], "source": source} for q in sorted(ids)[:max_provenance]]
    return Edge(key[0], key[1], key[2], round(float(weight), 4), len(ids), prov)


def npmi(n_xy: int, n_x: int, n_y: int, n: int) -> float:
    """Normalised PMI in [-1, 1]: ``log(p(x,y) / (p(x) p(y))) / -log p(x,y)``; 1 when x, y always co-occur."""
    p_xy = n_xy / n
    if p_xy >= 1.0:
        return 1.0
    return math.log(p_xy / ((n_x / n) * (n_y / n))) / -math.log(p_xy)


def cooccurrence_edges(records: list[tuple[str, list[tuple[str, set[str]]]]], min_count: int = 2,
                       min_npmi: float = 0.2, top_k: int = 10, max_provenance: int = 5) -> list[Edge]:
    """``related_to`` edges between concepts mentioned in the same Q&A, weighted by NPMI.

    Args:
        records: ``(qa_id, [(sentence, concepts mentioned in it), ...])`` per train Q&A,
            the question counting as one sentence.
        min_count: fewest Q&As a pair must share. Default 2.
        min_npmi: least NPMI kept. Default 0.2.
        top_k: each concept keeps its ``top_k`` strongest pairs; an edge stays if either end
            keeps it. Default 10.
        max_provenance: most provenance entries per edge. Default 5.
    """
    n = len(records)
    n_x: Counter[str] = Counter()
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    for qa_id, sents in records:
        concepts = sorted(set().union(*(c for _, c in sents))) if sents else []
        n_x.update(concepts)
        for pair in combinations(concepts, 2):
            where[pair].append(qa_id)
    scored = {p: npmi(len(ids), n_x[p[0]], n_x[p[1]], n) for p, ids in where.items() if len(ids) >= min_count}
    scored = {p: s for p, s in scored.items() if s >= min_npmi}
    ranked: dict[str, list[tuple[float, str, tuple[str, str]]]] = defaultdict(list)
    for p, s in scored.items():
        ranked[p[0]].append((-s, p[1], p))
        ranked[p[1]].append((-s, p[0], p))
    keep = {p for lst in ranked.values() for _, _, p in sorted(lst)[:top_k]}
    by_id = dict(records)
    out = []
    for x, y in sorted(keep):
        ids = {}
        for q in sorted(where[(x, y)])[:max_provenance]:
            sents = by_id[q]
            both = [s for s, c in sents if x in c and y in c]
            ids[q] = both[0] if both else " ... ".join(
                next(s for s, c in sents if z in c) for z in (x, y))
        e = _edge((x, "related_to", y), ids, scored[(x, y)], "cooccurrence", max_provenance)
        e.support = len(where[(x, y)])
        out.append(e)
    return out
