"""Quality report of a concept graph: structure, test coverage, linking accuracy, evidence size.

Linking is scored against the corpus's gold ``concepts`` tags of each question, after
mapping both sides to matching keys (lowercase, singular; a gold tag equal to a node's
alias counts as that node). Precision, recall and F1 are micro-averaged over questions
(summed true positives), as is usual for entity linking (e.g. the GERBIL benchmark,
Usbeck et al. 2015, https://doi.org/10.1145/2736277.2741626). Only the question text is
linked, while tags describe the whole Q&A, so recall is bounded well below 1.
"""

from __future__ import annotations

from collections import Counter
from statistics import mean

import networkx as nx

from kg.corpus import QARecord
from kg.linking import EntityLinker
from kg.relations import RELATIONS
from kg.retrieval import Evidence


def graph_stats(G: nx.MultiDiGraph) -> dict:
    """Nodes (by source), edges per relation, isolated nodes and the largest component's share."""
    n = G.number_of_nodes()
    rel = Counter(a["relation"] for *_, a in G.edges(keys=True, data=True))
    largest = max((len(c) for c in nx.weakly_connected_components(G)), default=0)
    return {
        "nodes": n,
        "nodes_by_source": dict(sorted(Counter(a.get("source", "lexicon") for _, a in G.nodes(data=True)).items())),
        "edges": G.number_of_edges(),
        "edges_per_relation": {r: rel.get(r, 0) for r in RELATIONS},
        "isolated_nodes": sum(1 for v in G.nodes if G.degree(v) == 0),
        "largest_component_share": round(largest / n, 4) if n else 0.0,
    }


def _gold_keys(linker: EntityLinker, G: nx.MultiDiGraph) -> dict[str, str]:
    keys = {}
    for name, a in sorted(G.nodes(data=True)):
        for form in [*a.get("aliases", []), name]:  # the name wins over another node's alias
            keys[linker.matcher.normalise(form)] = name
    return keys


def linking_scores(linker: EntityLinker, G: nx.MultiDiGraph, records: list[QARecord],
                   linked: list[list[str]]) -> dict:
    """Micro precision/recall/F1 of ``linked`` (concept names per record) against gold tags.

    Returns:
        ``{"n", "precision", "recall", "f1", "gold_in_graph"}``; ``gold_in_graph`` is the
        share of gold tags that are graph concepts (the recall a perfect linker could reach).
    """
    keys = _gold_keys(linker, G)
    tp = n_pred = n_gold = in_graph = 0
    for rec, pred in zip(records, linked):
        gold = {keys.get(k, k) for k in (linker.matcher.normalise(c) for c in rec.concepts)}
        pred = set(pred)
        tp += len(gold & pred)
        n_pred += len(pred)
        n_gold += len(gold)
        in_graph += sum(g in G for g in gold)
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"n": len(records), "precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4),
            "gold_in_graph": round(in_graph / n_gold, 4) if n_gold else 0.0}


def evidence_stats(evidence: list[Evidence]) -> dict:
    """Coverage (share with a linked concept) and mean evidence size over questions."""
    if not evidence:
        return {"n": 0, "coverage": 0.0, "coverage_by_mention": 0.0, "mean_triples": 0.0, "mean_paths": 0.0,
                "mean_nodes": 0.0}
    return {
        "n": len(evidence),
        "coverage": round(mean(not e.is_empty for e in evidence), 4),
        "coverage_by_mention": round(mean(any(s == "mention" for _, _, s in e.linked) for e in evidence), 4),
        "mean_triples": round(mean(len(e.triples()) for e in evidence), 3),
        "mean_paths": round(mean(len(e.paths) for e in evidence), 3),
        "mean_nodes": round(mean(len(e.node_ids) for e in evidence), 3),
    }


def quality_report(G: nx.MultiDiGraph, linker: EntityLinker, evidence: dict[str, list[Evidence]],
                   records: dict[str, list[QARecord]]) -> dict:
    """The ``kg_report.json`` content.

    Args:
        G: the graph.
        linker: the linker the evidence came from.
        evidence: split -> evidence per record (``dev`` and ``test``).
        records: split -> the records, in the same order.
    """
    report = graph_stats(G)
    for split in sorted(evidence):
        ev, recs = evidence[split], records[split]
        report[f"linking_{split}"] = linking_scores(linker, G, recs, [[c for c, _, _ in e.linked] for e in ev])
        report[f"evidence_{split}"] = evidence_stats(ev)
    report["test_coverage"] = report.get("evidence_test", {}).get("coverage", 0.0)
    report["mean_evidence_triples"] = report.get("evidence_test", {}).get("mean_triples", 0.0)
    return report


def format_report(report: dict) -> str:
    """A short human-readable summary of :func:`quality_report`'s output."""
    rel = ", ".join(f"{r} {c}" for r, c in report["edges_per_relation"].items())
    src = ", ".join(f"{k} {v}" for k, v in report["nodes_by_source"].items())
    lines = [f"nodes            {report['nodes']} ({src})", f"edges            {report['edges']} ({rel})",
             f"isolated nodes   {report['isolated_nodes']}",
             f"largest comp.    {report['largest_component_share']:.1%} of nodes"]
    for split in ("dev", "test"):
        if f"linking_{split}" in report:
            li, ev = report[f"linking_{split}"], report[f"evidence_{split}"]
            lines.append(f"{split:<5} n={li['n']:<4} coverage {ev['coverage']:.1%} (by mention "
                         f"{ev['coverage_by_mention']:.1%}), linking P {li['precision']:.3f} R {li['recall']:.3f} "
                         f"F1 {li['f1']:.3f} (gold tags in graph {li['gold_in_graph']:.1%}), evidence "
                         f"{ev['mean_triples']:.1f} triples / {ev['mean_paths']:.1f} paths / {ev['mean_nodes']:.1f} "
                         "nodes")
    return "\n".join(lines)
