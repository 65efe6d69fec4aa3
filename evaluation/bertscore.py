"""BERTScore (Zhang et al. 2020, https://arxiv.org/abs/1904.09675), per answer, from any local encoder.

Each token of the answer is matched to its most similar reference token (cosine of
contextual embeddings) and vice versa: precision and recall are the mean best
similarities, F1 their harmonic mean. Plain greedy matching: no idf weighting and no
baseline rescaling. The default encoder is the embedded all-MiniLM-L6-v2's transformer
(last layer), not the paper's RoBERTa-large, so values are comparable between runs of
this project only; point ``eval.bertscore_model`` at another local folder to change it.
A missing folder makes every item None with one warning.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Sequence

from evaluation.metrics import Scores, register_metric
from models.encoder import EncoderNotFound, resolve_encoder_path

log = logging.getLogger(__name__)


@lru_cache(maxsize=2)
def _load(path: str | None, device: str):
    from transformers import AutoModel, AutoTokenizer

    folder = resolve_encoder_path(path)
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).to(device).eval()
    return model, tok


def _embed(model, tok, texts: list[str], layer: int, max_length: int, device: str) -> list:
    """Unit-normalised token embeddings of each text, special tokens and padding removed: [(T_i, D)]."""
    import torch

    enc = tok(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length,
              return_special_tokens_mask=True)
    keep = (enc.pop("special_tokens_mask") == 0) & (enc["attention_mask"] == 1)  # (B, T)
    with torch.inference_mode():
        out = model(**enc.to(device), output_hidden_states=True)
        hidden = torch.nn.functional.normalize(out.hidden_states[layer].float(), dim=-1)  # (B, T, D)
    return [hidden[i][keep[i].to(device)] for i in range(len(texts))]


@register_metric("bertscore")
def bertscore(hyps: Sequence[str], refs: Sequence[str], *, model_path: str | None = None, layer: int = -1,
              batch_size: int = 32, max_length: int = 512, device: str = "auto") -> Scores:
    """BERTScore precision, recall and F1 in [-1, 1] (identical texts: 1); an empty answer scores 0.

    Args:
        model_path: a local Hugging Face encoder folder. Default None: the embedded MiniLM.
        layer: hidden-state layer used (``-1`` the last). Default -1.
        batch_size: texts per forward pass. Default 32.
        max_length: tokens kept per text. Default 512.
        device: ``auto``, ``cpu`` or ``cuda[:n]``. Default ``auto``.
    """
    import torch

    cols = ("bertscore_p", "bertscore_r", "bertscore_f1")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        model, tok = _load(model_path, device)
    except (EncoderNotFound, OSError) as e:
        log.warning("bertscore is missing: %s", e)
        return {c: [None] * len(hyps) for c in cols}
    out: Scores = {c: [] for c in cols}
    for start in range(0, len(hyps), batch_size):
        h_emb = _embed(model, tok, list(hyps[start:start + batch_size]), layer, max_length, device)
        r_emb = _embed(model, tok, list(refs[start:start + batch_size]), layer, max_length, device)
        for h, r in zip(h_emb, r_emb):
            if len(h) == 0 or len(r) == 0:
                p = rc = f = 0.0
            else:
                sim = h @ r.T  # (T_h, T_r)
                p, rc = sim.max(dim=1).values.mean().item(), sim.max(dim=0).values.mean().item()
                f = 2 * p * rc / (p + rc) if p + rc > 0 else 0.0
            for c, v in zip(cols, (p, rc, f)):
                out[c].append(float(v))
    return out
