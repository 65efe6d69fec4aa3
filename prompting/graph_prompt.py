"""Build a question's graph prompt from its retrieved evidence, and record what the model saw.

The evidence comes from ``kg.retrieval`` as a plain mapping (``Evidence.to_dict()``):
``{"linked": [...], "paths": [[triple, ...], ...], "neighbors": [triple, ...],
"node_ids": [...], "edge_ids": [...]}``. The budget for evidence is the smaller of the
configured ``evidence_budget`` and what the model's context leaves once the prompt
without evidence and ``max_new_tokens`` of answer are counted.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Mapping

from prompting.evidence import fit_to_budget, mindmap_items, triples_items
from prompting.templates import build_prompt

log = logging.getLogger(__name__)
STYLES = {"mindmap": mindmap_items, "triples": triples_items}


@dataclass
class PromptVariant:
    """A prompt variant as flat values (what ``conf/prompt/*.yaml`` holds)."""

    name: str
    format: str
    system: str
    template: str
    evidence: str = "none"
    cite_evidence: bool = False
    cite_instruction: str = ""
    evidence_budget: int = 384


@dataclass
class BuiltPrompt:
    prompt: str
    variant: str  # the variant actually used (the fallback's name when it was used)
    evidence_ids: list[str] = field(default_factory=list)
    shown_edge_ids: list[str] = field(default_factory=list)
    subgraph: dict = field(default_factory=lambda: {"nodes": [], "edges": []})
    linked: list = field(default_factory=list)
    evidence_text: str = ""
    evidence_tokens: int = 0
    evidence_dropped: int = 0
    fallback_reason: str | None = None

    def record(self) -> dict:
        """What goes into predictions.jsonl beside the answer."""
        d = asdict(self)
        d.pop("prompt")
        return d


def render_plain(v: PromptVariant, question: str, tokenizer, evidence: str = "") -> str:
    return build_prompt(question, fmt=v.format, system=v.system, template=v.template, tokenizer=tokenizer,
                        evidence=evidence, cite=v.cite_instruction if v.cite_evidence else "")


def build_graph_prompt(question: str, evidence: Mapping | None, variant: PromptVariant, tokenizer, *,
                       fallback: PromptVariant | None, context_length: int, max_new_tokens: int) -> BuiltPrompt:
    """The prompt for one question: graph evidence when there is some, else the fallback.

    Args:
        evidence: the retrieved subgraph (mapping above), or None.
        variant: a variant with ``evidence`` set to ``mindmap`` or ``triples``.
        fallback: the non-graph variant used when no evidence fits (None: the graph
            template with an empty evidence block).
        context_length: the model's maximum sequence length.
    """
    if variant.evidence not in STYLES:
        raise ValueError(f"prompt.evidence={variant.evidence!r}: use one of {['none', *STYLES]}")
    count = lambda text: len(tokenizer(text, add_special_tokens=False).input_ids)  # noqa: E731
    paths = list((evidence or {}).get("paths", []))
    neighbors = list((evidence or {}).get("neighbors", []))
    subgraph = {"nodes": list((evidence or {}).get("node_ids", [])), "edges": list((evidence or {}).get("edge_ids", []))}
    linked = list((evidence or {}).get("linked", []))
    items = STYLES[variant.evidence](paths, neighbors)
    room = context_length - count(render_plain(variant, question, tokenizer)) - max_new_tokens - 8
    block = fit_to_budget(items, variant.evidence, min(variant.evidence_budget, room), count)
    if not block.items:
        reason = "no linked concept" if not linked else "no evidence" if not items else "evidence over budget"
        log.info("question without graph evidence (%s): %s", reason, question[:80])
        fb = fallback or variant
        return BuiltPrompt(render_plain(fb, question, tokenizer), fb.name, subgraph=subgraph, linked=linked,
                           evidence_dropped=len(items), fallback_reason=reason)
    return BuiltPrompt(
        render_plain(variant, question, tokenizer, block.text), variant.name, evidence_ids=block.ids,
        shown_edge_ids=sorted({e for i in block.items for e in i.edge_ids}), subgraph=subgraph, linked=linked,
        evidence_text=block.text, evidence_tokens=block.tokens, evidence_dropped=block.dropped)
