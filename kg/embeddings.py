"""Embed texts with a sentence encoder as unit-norm float32 rows.

Any object with the sentence-transformers ``encode(texts, batch_size=..., ...)`` method
works (by default all-MiniLM-L6-v2, Reimers & Gurevych 2019,
https://arxiv.org/abs/1908.10084, loaded by ``models.encoder.load_encoder``), so tests can
pass a small deterministic stand-in. Cosine similarity is then a dot product.
:class:`CachedEncoder` remembers embeddings across graph builds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def embed_texts(encoder, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-norm embeddings of ``texts``.

    Shapes:
        output: ``(len(texts), D)`` float32; ``(0, 0)`` for no texts.
    """
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    emb = np.asarray(encoder.encode(list(texts), batch_size=batch_size, show_progress_bar=False,
                                    convert_to_numpy=True, normalize_embeddings=True), dtype=np.float32)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.maximum(norms, 1e-12)  # stand-in encoders need not normalise


def cosine(rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Cosine similarity of unit ``rows`` to a unit ``vector``, single-threaded.

    ``einsum`` instead of ``rows @ vector``: a multi-threaded BLAS call waits for its
    threads to wake, which took 5-10 ms per question on a busy 2-core machine, against
    about 0.3 ms here.

    Shapes:
        rows: ``(N, D)``; vector: ``(D,)``; output: ``(N,)``.
    """
    return np.einsum("nd,d->n", rows, vector)


class CachedEncoder:
    """An encoder that remembers every text it embedded, in memory and in one ``.npz`` file.

    A rebuild after a small change to the lexicon or the corpus then embeds only new
    texts. Use it through :func:`embed_texts` (unit-norm outputs are what is stored).

    Args:
        encoder: the wrapped sentence encoder.
        path: the ``.npz`` file (read if present, written by :meth:`save`); None keeps
            the cache in memory only.
    """

    def __init__(self, encoder, path: str | Path | None = None):
        self.encoder = encoder
        self.path = Path(path) if path else None
        self.store: dict[str, np.ndarray] = {}
        if self.path is not None and self.path.is_file():
            with np.load(self.path, allow_pickle=False) as data:
                self.store = dict(zip(data["texts"].tolist(), data["vectors"]))
        self.hits = self.misses = 0

    def encode(self, texts, batch_size: int = 32, **kwargs) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.store))
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if missing:
            vecs = np.asarray(self.encoder.encode(missing, batch_size=batch_size, **kwargs), dtype=np.float32)
            self.store.update(zip(missing, vecs))
        return np.stack([self.store[t] for t in texts]) if texts else np.zeros((0, 0), dtype=np.float32)

    def save(self) -> None:
        """Write the cache atomically (a temporary file renamed into place)."""
        if self.path is None or not self.store:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp.npz")
        texts = sorted(self.store)
        np.savez(tmp, texts=np.array(texts), vectors=np.stack([self.store[t] for t in texts]))
        os.replace(tmp, self.path)


def cpu_has_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (AMX or AVX512-BF16), read from ``/proc/cpuinfo``."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


class Bf16Encoder:
    """Runs a CPU encoder under bfloat16 autocast: about twice as fast where the CPU has
    native bf16; cosine similarities move by about 1e-4 against float32."""

    def __init__(self, encoder):
        self.encoder = encoder

    def encode(self, texts, **kwargs):
        import torch

        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.encoder.encode(texts, **kwargs)
