"""Build the graph once per input: a cache folder keyed by what the graph depends on.

The key hashes the train records (id, domain, topic, question, answer), the lexicon
file's bytes, the build settings, the encoder's identity and :data:`FORMAT`; dev and
test records never enter it, so adding test questions does not rebuild. Text embeddings
are also kept across builds (one ``text_embeddings-*.npz`` per encoder), so a rebuild
after a small change embeds only new texts. A folder holds
``graph.json``, ``graph.graphml``, ``node_embeddings.npy`` and ``meta.json``; it is
written under a temporary name and renamed into place, so a killed build leaves nothing
that looks finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np

from kg.corpus import QARecord
from kg.embeddings import Bf16Encoder, CachedEncoder, cpu_has_bf16
from kg.graph import build_graph, load_graph, node_embeddings, save_graph
from kg.io import atomic_write_json
from kg.lexicon import Concept

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the graph's content or layout changes for the same input


@dataclass
class KGArtifacts:
    graph: nx.MultiDiGraph
    embeddings: np.ndarray  # (num_nodes, D), rows in graph.nodes order
    folder: Path
    reused: bool
    build_seconds: float  # of the build that made the folder (encoder load excluded)


def cache_key(records: list[QARecord], lexicon_path: str | Path, settings: dict, encoder_id: str) -> str:
    """16 hex digits identifying a graph build."""
    h = hashlib.sha256(json.dumps([FORMAT, encoder_id, sorted(settings.items())], sort_keys=True).encode())
    for r in sorted((r for r in records if r.split == "train"), key=lambda r: r.id):
        h.update(json.dumps([r.id, r.domain, r.topic, r.question, r.answer]).encode())
    h.update(Path(lexicon_path).read_bytes())
    return h.hexdigest()[:16]


def build_or_load(records: list[QARecord], lexicon: dict[str, Concept], lexicon_path: str | Path,
                  cache_dir: str | Path, encoder, encoder_id: str, rebuild: bool = False,
                  encode_bf16: bool | None = None, **settings) -> KGArtifacts:
    """The graph and node embeddings for this input, from ``cache_dir`` when already built.

    Args:
        records: the corpus (only train records are used).
        lexicon: the loaded lexicon (from ``lexicon_path``).
        lexicon_path: its file, hashed into the key.
        cache_dir: the folder holding one subfolder per key.
        encoder: the sentence encoder (already loaded: its load time is not build time).
        encoder_id: what identifies the encoder's weights (a path or a package name).
        rebuild: build even if the folder exists. Default False.
        encode_bf16: embed the build's texts under CPU bfloat16 autocast (:class:`Bf16Encoder`);
            None: when the CPU has native bf16 and the encoder runs on the CPU. Default None.
        **settings: keyword arguments of :func:`kg.graph.build_graph`.
    """
    if encode_bf16 is None:
        encode_bf16 = cpu_has_bf16() and str(getattr(encoder, "device", "cpu")).startswith("cpu")
    if encode_bf16:
        encoder_id, encoder = f"{encoder_id}+bf16", Bf16Encoder(encoder)
    key = cache_key(records, lexicon_path, settings, encoder_id)
    folder = Path(cache_dir).expanduser() / key
    if (folder / "meta.json").is_file() and not rebuild:
        meta = json.loads((folder / "meta.json").read_text())
        log.info("kg: reusing the graph in %s", folder)
        return KGArtifacts(load_graph(folder), np.load(folder / "node_embeddings.npy"), folder, True,
                           meta["build_seconds"])
    enc_key = hashlib.sha256(encoder_id.encode()).hexdigest()[:12]
    cached = CachedEncoder(encoder, folder.parent / f"text_embeddings-{enc_key}.npz")
    t0 = time.perf_counter()
    G = build_graph(records, lexicon, encoder=cached, **settings)
    emb = node_embeddings(G, cached)
    seconds = round(time.perf_counter() - t0, 2)
    log.info("kg: %d texts embedded, %d reused from %s", cached.misses, cached.hits, cached.path.name)
    cached.save()
    tmp = folder.with_name(f".{key}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_graph(G, tmp)
    np.save(tmp / "node_embeddings.npy", emb)
    atomic_write_json(tmp / "meta.json", {"key": key, "format": FORMAT, "encoder": encoder_id,
                                          "build_seconds": seconds, "settings": settings,
                                          "n_train": G.graph["n_train"]})
    if rebuild:
        shutil.rmtree(folder, ignore_errors=True)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process finished the same build first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("kg: built in %.1f s, saved to %s", seconds, folder)
    return KGArtifacts(G, emb, folder, False, seconds)
