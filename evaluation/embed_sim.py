"""Embedding similarity: cosine of sentence embeddings of answer and reference, per answer.

The encoder is the embedded all-MiniLM-L6-v2 (Sentence-BERT, Reimers & Gurevych 2019,
https://arxiv.org/abs/1908.10084; located by :mod:`models.encoder`), so the score is a
cosine in [-1, 1] of mean-pooled, unit-normalised 384-d vectors; identical strings
score 1. An empty answer scores 0, like the other reference metrics.
"""

from __future__ import annotations

import logging
from typing import Sequence

from evaluation.metrics import Scores, register_metric
from models.encoder import EncoderNotFound, load_encoder

log = logging.getLogger(__name__)


@register_metric("embed_sim")
def embed_sim(hyps: Sequence[str], refs: Sequence[str], *, encoder_path: str | None = None,
              batch_size: int = 64, device: str = "auto") -> Scores:
    """Cosine similarity of answer and reference embeddings.

    Args:
        encoder_path: a local sentence-transformers folder. Default None: the embedded MiniLM.
        batch_size: sentences per forward pass. Default 64.
        device: ``auto``, ``cpu`` or ``cuda[:n]``. Default ``auto``.

    Returns:
        ``{"embed_sim": [...]}``, all None (with one warning) when the encoder is not installed.
    """
    try:
        encoder = load_encoder(encoder_path, device)
    except EncoderNotFound as e:
        log.warning("embed_sim is missing: %s", e)
        return {"embed_sim": [None] * len(hyps)}
    n = len(hyps)
    emb = encoder.encode(list(hyps) + list(refs), batch_size=batch_size, normalize_embeddings=True,
                         convert_to_numpy=True, show_progress_bar=False)  # (2N, D)
    cos = (emb[:n] * emb[n:]).sum(axis=1)  # (N,)
    return {"embed_sim": [float(c) if h.strip() else 0.0 for c, h in zip(cos, hyps)]}
