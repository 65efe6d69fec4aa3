"""``studyllama viz question=<id or free text>``: draw one question's evidence subgraph.

Steps: graph (cached) -> the question (a corpus id, else the text itself) -> link and
retrieve -> PNG + interactive HTML + the evidence as JSON in the run folder.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from kg.io import atomic_write_json
from kg.viz import render_html, render_png
from studyllama.recipes.kg import load_kg_or_exit

log = logging.getLogger(__name__)


def main(cfg: DictConfig) -> dict:
    if not cfg.question or not str(cfg.question).strip():
        print("studyllama viz: say which question to draw: `studyllama viz question=<corpus id>` or "
              "`studyllama viz 'What is a random forest?'`", file=sys.stderr)
        raise SystemExit(2)
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    log.info("step 1/3 graph")
    art, retriever, records = load_kg_or_exit(cfg, "viz")
    by_id = {r.id: r for r in records}
    asked = str(cfg.question).strip()
    question = by_id[asked].question if asked in by_id else asked
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", asked) if asked in by_id else \
        "question-" + hashlib.sha256(asked.encode()).hexdigest()[:10]
    log.info("step 2/3 link and retrieve: %s", question)
    ev = retriever.retrieve(question)
    log.info("step 3/3 draw")
    png = render_png(art.graph, ev, out_dir / f"{slug}.png")
    page = render_html(art.graph, ev, out_dir / f"{slug}.html")
    atomic_write_json(out_dir / f"{slug}.evidence.json", ev.to_dict())
    linked = ", ".join(f"{c} ({s:.2f}, {src})" for c, s, src in ev.linked) or "none (empty evidence)"
    print(f"question: {question}\nlinked: {linked}\n{len(ev.paths)} paths, {len(ev.neighbors)} neighbour triples, "
          f"{len(ev.node_ids)} nodes")
    print(f"png: {png}\nhtml: {page}")
    return ev.to_dict()
