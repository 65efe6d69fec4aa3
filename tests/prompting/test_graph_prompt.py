"""Graph prompts from a hand-made 4-node graph: dropout, regularization technique,
overfitting, batch normalization."""

import pytest

from prompting.evidence import fit_to_budget, mindmap_items, render, verbalize_path, verbalize_triple
from prompting.graph_prompt import PromptVariant, build_graph_prompt


def t(h, r, tail, rel, eid):
    return {"head": h, "relation": r, "tail": tail, "relevance": rel, "edge_id": eid, "weight": 1.0}


E1 = t("dropout", "is_a", "regularization technique", 0.9, "e1")
E2 = t("regularization technique", "used_for", "overfitting", 0.8, "e2")
E3 = t("dropout", "contrasts_with", "batch normalization", 0.3, "e3")
E4 = t("batch normalization", "related_to", "overfitting", 0.6, "e4")
EVIDENCE = {"linked": [{"concept": "dropout", "score": 1.0}], "paths": [[E1, E2]], "neighbors": [E3, E4],
            "node_ids": ["batch normalization", "dropout", "overfitting", "regularization technique"],
            "edge_ids": ["e1", "e2", "e3", "e4"]}
RAW = PromptVariant("mindmap_seed", "raw", "SYS", "{system}\n### Evidence:\n{evidence}\n### Question:\n{question}\n{cite}",
                    evidence="mindmap", cite_instruction="Cite ids.")
FALLBACK = PromptVariant("seed", "raw", "SYS", "{system}\n### Question:\n{question}\n")


def count_chars(text):
    return len(text)


def test_verbalization_templates():
    assert verbalize_triple(E1) == "dropout is a kind of regularization technique"
    assert verbalize_path([E1, E2]) == ("dropout is a kind of regularization technique; "
                                        "regularization technique is used for overfitting.")
    assert verbalize_triple(t("a", "trained_with", "b", 0, "x")) == "a trained with b"


def test_exact_mindmap_prompt(tiny):
    _, tok = tiny
    built = build_graph_prompt("Why use dropout?", EVIDENCE, RAW, tok, fallback=FALLBACK, context_length=4096,
                               max_new_tokens=64)
    assert built.prompt == (
        "SYS\n### Evidence:\n"
        "Path-based evidence:\n"
        "Path-based evidence 1 [P1]: dropout is a kind of regularization technique; "
        "regularization technique is used for overfitting.\n"
        "Neighbor-based evidence:\n"
        "Neighbor-based evidence 1 [N1]: dropout contrasts with batch normalization.\n"
        "Neighbor-based evidence 2 [N2]: batch normalization is related to overfitting.\n"
        "### Question:\nWhy use dropout?\n")
    assert built.evidence_ids == ["P1", "N1", "N2"] and built.shown_edge_ids == ["e1", "e2", "e3", "e4"]
    assert built.fallback_reason is None and built.variant == "mindmap_seed"


def test_cite_option_appends_the_instruction(tiny):
    _, tok = tiny
    v = PromptVariant(**{**RAW.__dict__, "cite_evidence": True})
    built = build_graph_prompt("Q?", EVIDENCE, v, tok, fallback=FALLBACK, context_length=4096, max_new_tokens=8)
    assert built.prompt.endswith("### Question:\nQ?\nCite ids.")


def test_exact_triples_prompt(tiny):
    _, tok = tiny
    v = PromptVariant("triples_seed", "raw", "SYS", "{evidence}\nQ: {question}", evidence="triples")
    built = build_graph_prompt("Q?", EVIDENCE, v, tok, fallback=FALLBACK, context_length=4096, max_new_tokens=8)
    assert built.prompt == (
        "Nodes: batch normalization; dropout; overfitting; regularization technique\nEdges:\n"
        "E1. (dropout, is_a, regularization technique)\nE2. (regularization technique, used_for, overfitting)\n"
        "E3. (dropout, contrasts_with, batch normalization)\nE4. (batch normalization, related_to, overfitting)\n"
        "Q: Q?")


def test_budget_keeps_the_most_relevant_evidence():
    items = mindmap_items([[E1, E2]], [E3, E4])  # relevance: path 0.85, E3 0.3, E4 0.6
    full = len(render(mindmap_items([[E1, E2]], [E3, E4]), "mindmap"))
    block = fit_to_budget(items, "mindmap", full - 10, count_chars)
    assert [i.edge_ids for i in block.items] == [["e1", "e2"], ["e4"]]  # the least relevant (e3) is cut
    assert block.ids == ["P1", "N1"] and block.dropped == 1
    assert len(block.text) <= full - 10


def test_budget_of_the_model_context_is_respected(tiny):
    _, tok = tiny
    base = len(build_graph_prompt("Q?", {}, RAW, tok, fallback=None, context_length=10_000, max_new_tokens=0).prompt)
    built = build_graph_prompt("Q?", EVIDENCE, RAW, tok, fallback=FALLBACK, context_length=base + 8 + 150 + 100,
                               max_new_tokens=100)
    assert 0 < built.evidence_tokens <= 150 and built.evidence_dropped > 0


def test_no_linked_concept_falls_back_and_says_so(tiny):
    _, tok = tiny
    built = build_graph_prompt("What is love?", {"linked": [], "paths": [], "neighbors": []}, RAW, tok,
                               fallback=FALLBACK, context_length=4096, max_new_tokens=8)
    assert built.prompt == "SYS\n### Question:\nWhat is love?\n"
    assert built.variant == "seed" and built.fallback_reason == "no linked concept"
    assert built.record()["evidence_ids"] == []


def test_unknown_evidence_style_is_rejected(tiny):
    _, tok = tiny
    with pytest.raises(ValueError, match="prompt.evidence='graph'"):
        build_graph_prompt("Q", EVIDENCE, PromptVariant("x", "raw", "s", "{question}", evidence="graph"), tok,
                           fallback=None, context_length=100, max_new_tokens=1)
