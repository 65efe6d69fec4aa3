"""``studyllama kg``: build (or reuse) the concept graph from the train split and report its quality.

Steps: seed -> corpus + lexicon -> graph (cached by input hash) -> link and retrieve the
dev and test questions -> quality report -> ``kg_report.json`` in the run folder.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from kg.corpus import CorpusError
from kg.graph import GraphError
from kg.io import atomic_write_json
from kg.lexicon import LexiconError
from kg.report import format_report, quality_report
from models.encoder import EncoderNotFound
from studyllama.builders import build_kg, seed_everything

log = logging.getLogger(__name__)
INPUT_ERRORS = (CorpusError, LexiconError, GraphError, EncoderNotFound)


def load_kg_or_exit(cfg: DictConfig, verb: str):
    """:func:`build_kg`, turning bad input into a one-paragraph message and exit status 2."""
    try:
        return build_kg(cfg.kg, cfg.data.path, cfg.data.default_split)
    except INPUT_ERRORS as e:
        print(f"studyllama {verb}: {e}", file=sys.stderr)
        raise SystemExit(2) from e


def main(cfg: DictConfig) -> dict:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    log.info("step 1/4 seed=%d, outputs in %s", cfg.seed, out_dir)
    seed_everything(cfg.seed)
    log.info("step 2/4 corpus, lexicon and graph")
    art, retriever, records = load_kg_or_exit(cfg, "kg")
    log.info("step 3/4 link and retrieve dev and test questions")
    splits = {s: [r for r in records if r.split == s] for s in ("dev", "test")}
    evidence = {s: retriever.retrieve_many([r.question for r in recs]) for s, recs in splits.items()}
    log.info("step 4/4 quality report")
    report = quality_report(art.graph, retriever.linker, evidence, splits)
    report.update(graph_folder=str(art.folder), build_seconds=art.build_seconds, reused=art.reused,
                  n_train=art.graph.graph.get("n_train"))
    atomic_write_json(out_dir / "kg_report.json", report)
    print(f"\nconcept graph from {report['n_train']} train Q&As "
          f"({'reused' if art.reused else 'built'}; build {art.build_seconds:.1f} s)\n")
    print(format_report(report))
    print(f"\ngraph: {art.folder}\nreport: {out_dir / 'kg_report.json'}")
    return report
