"""Benchmark the concept graph on the full corpus against issue 4's targets.

Measures: build time (lexicon + mining + relations + graph + node embeddings; encoder
load excluded), median linking + retrieval time per test question (question embeddings
computed in one batch beforehand, as evaluation does; the single-question encode time is
printed separately), test coverage and linking P/R/F1 against the gold ``concepts`` tags.

Targets: build <= 30 s on 2 CPU cores, <= 10 ms median, coverage >= 95%.

Usage::

    python bench/kg_bench.py                      # data/corpus, data/lexicon.jsonl, 2 threads
    taskset -c 0,1 python bench/kg_bench.py       # pin to 2 cores on a bigger machine
    python bench/kg_bench.py --draft-splits       # corpus without splits yet: draw them in a temp copy
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TARGETS = {"build_s": 30.0, "median_ms": 10.0, "coverage": 0.95}


class TimedEncoder:
    """Counts the texts embedded during the build and the seconds spent on them."""

    def __init__(self, encoder):
        self.encoder, self.seconds, self.texts = encoder, 0.0, 0

    def encode(self, texts, **kwargs):
        t = time.perf_counter()
        out = self.encoder.encode(texts, **kwargs)
        self.seconds += time.perf_counter() - t
        self.texts += len(texts)
        return out


def draft_copy(corpus: Path, out: Path) -> Path:
    """A copy of ``corpus`` whose unassigned splits are drawn in proportion to the fixed targets."""
    from kg.splits import TARGETS as SPLIT_TARGETS
    from kg.splits import assign_splits

    files = sorted(corpus.rglob("*.jsonl"))
    rows = {f: [json.loads(line) for line in f.read_text().splitlines() if line.strip()] for f in files}
    flat = [r for rs in rows.values() for r in rs if r.get("split") == "unassigned"]
    if flat:
        n, total = len(flat), sum(SPLIT_TARGETS.values())
        test, dev = round(SPLIT_TARGETS["test"] / total * n), round(SPLIT_TARGETS["dev"] / total * n)
        assign_splits(flat, {"test": test, "dev": dev, "train": n - test - dev})
    for f, rs in rows.items():
        target = out / f.relative_to(corpus)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(json.dumps(r) + "\n" for r in rs))
    return out


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=str(ROOT / "data" / "corpus"))
    ap.add_argument("--lexicon", default=str(ROOT / "data" / "lexicon.jsonl"))
    ap.add_argument("--encoder", help="local sentence-transformers folder (default: the embedded MiniLM)")
    ap.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                    help="build-time embeddings under CPU bf16 autocast (auto: where the CPU has native bf16, "
                         "as `studyllama kg` does)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (the target is for 2 cores)")
    ap.add_argument("--draft-splits", action="store_true", help="draw missing splits in a temporary copy")
    ap.add_argument("--json", help="also write the numbers to this file")
    return ap.parse_args()


def measure_build(records, lexicon, encoder, bf16: bool) -> tuple:
    """Build the graph and its node embeddings, timed (wall and CPU), the encoder's share apart."""
    from kg.embeddings import Bf16Encoder
    from kg.graph import build_graph, node_embeddings

    timed = TimedEncoder(Bf16Encoder(encoder) if bf16 else encoder)
    wall, cpu = time.perf_counter(), time.process_time()
    G = build_graph(records, lexicon, encoder=timed)
    emb = node_embeddings(G, timed)
    numbers = {"build_s": round(time.perf_counter() - wall, 2), "build_cpu_s": round(time.process_time() - cpu, 2),
               "build_encode_s": round(timed.seconds, 2), "build_texts_encoded": timed.texts, "build_bf16": bf16}
    return G, emb, numbers


def measure_split(G, linker, retriever, recs) -> dict:
    """Link and retrieve each question (embeddings batched first), timing each; quality numbers."""
    from kg.report import evidence_stats, linking_scores

    questions = [r.question for r in recs]
    t = time.perf_counter()
    q_emb = linker.embed(questions)
    batch_ms = (time.perf_counter() - t) * 1000 / max(len(questions), 1)
    times, evidence = [], []
    for q, e in zip(questions, q_emb):
        t = time.perf_counter()
        evidence.append(retriever.retrieve(q, e))
        times.append((time.perf_counter() - t) * 1000)
    single = []
    for q in questions[:100]:
        t = time.perf_counter()
        linker.embed([q])
        single.append((time.perf_counter() - t) * 1000)
    return {"linking": linking_scores(linker, G, recs, [[c for c, _, _ in ev.linked] for ev in evidence]),
            "evidence": evidence_stats(evidence), "median_ms": round(statistics.median(times), 3),
            "p90_ms": round(sorted(times)[int(0.9 * len(times))], 3), "max_ms": round(max(times), 3),
            "encode_batch_ms_per_q": round(batch_ms, 2), "encode_single_median_ms": round(statistics.median(single), 2)}


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from kg.corpus import load_corpus
    from kg.embeddings import cpu_has_bf16
    from kg.lexicon import load_lexicon
    from kg.linking import EntityLinker
    from kg.report import graph_stats
    from kg.retrieval import MindMapRetriever
    from models.encoder import load_encoder

    corpus = Path(args.corpus)
    if args.draft_splits:
        corpus = draft_copy(corpus, Path(tempfile.mkdtemp(prefix="kg_bench_")))
    records, lexicon = load_corpus(corpus), load_lexicon(args.lexicon)
    t = time.perf_counter()
    encoder = load_encoder(args.encoder, device="cpu")
    encoder.encode(["warm up"])
    splits = {s: sum(r.split == s for r in records) for s in ("train", "dev", "test")}
    report = {"records": len(records), "splits": splits,
              "lexicon": len(lexicon), "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
              "encoder_load_s": round(time.perf_counter() - t, 2)}
    bf16 = cpu_has_bf16() if args.bf16 == "auto" else args.bf16 == "on"
    G, emb, numbers = measure_build(records, lexicon, encoder, bf16)
    report.update(numbers, **graph_stats(G))
    linker = EntityLinker.from_graph(G, emb, encoder)
    retriever = MindMapRetriever(G, emb, linker)
    for split in ("dev", "test"):
        m = measure_split(G, linker, retriever, [r for r in records if r.split == split])
        report[f"linking_{split}"], report[f"evidence_{split}"] = m.pop("linking"), m.pop("evidence")
        if split == "test":
            report.update(m, coverage=report["evidence_test"]["coverage"])
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


def print_report(r: dict) -> None:
    def mark(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    print(f"corpus: {r['records']} records (train {r['splits']['train']}, dev {r['splits']['dev']}, "
          f"test {r['splits']['test']}); lexicon {r['lexicon']} concepts; {r['threads']} torch threads, "
          f"{r['cpus']} CPUs visible")
    print(f"graph: {r['nodes']} nodes {r['nodes_by_source']}, {r['edges']} edges {r['edges_per_relation']}, "
          f"{r['isolated_nodes']} isolated, largest component {r['largest_component_share']:.1%}")
    print(f"encoder load (excluded)       {r['encoder_load_s']:.2f} s")
    print(f"build (wall / CPU)            {r['build_s']:.2f} s / {r['build_cpu_s']:.2f} s   target <= "
          f"{TARGETS['build_s']:.0f} s  {mark(r['build_s'] <= TARGETS['build_s'])}")
    print(f"  of which encoding           {r['build_encode_s']:.2f} s for {r['build_texts_encoded']} texts "
          f"({'bf16 autocast' if r['build_bf16'] else 'float32'})")
    print(f"link + retrieve per question  median {r['median_ms']:.2f} ms, p90 {r['p90_ms']:.2f}, max {r['max_ms']:.2f}"
          f"   target <= {TARGETS['median_ms']:.0f} ms  {mark(r['median_ms'] <= TARGETS['median_ms'])}")
    print(f"question encoding             {r['encode_batch_ms_per_q']:.2f} ms/question in a batch, "
          f"{r['encode_single_median_ms']:.2f} ms median alone")
    by_mention = r["evidence_test"]["coverage_by_mention"]
    print(f"test coverage                 {r['coverage']:.1%} (by mention {by_mention:.1%})"
          f"   target >= {TARGETS['coverage']:.0%}  {mark(r['coverage'] >= TARGETS['coverage'])}")
    for split in ("dev", "test"):
        li = r[f"linking_{split}"]
        print(f"linking {split:<5} (n={li['n']:<3})     P {li['precision']:.3f}  R {li['recall']:.3f}  "
              f"F1 {li['f1']:.3f}"
              f"   (gold tags that are graph concepts: {li['gold_in_graph']:.1%})")
    print(f"evidence (test)               {r['evidence_test']['mean_triples']:.1f} triples, "
          f"{r['evidence_test']['mean_paths']:.2f} paths, {r['evidence_test']['mean_nodes']:.1f} nodes per question")


if __name__ == "__main__":
    main()
