"""Builders: the only place a config object is turned into keyword arguments."""

from __future__ import annotations

import hashlib
import json
import logging
import random

import numpy as np
import torch
from omegaconf import OmegaConf

from kg.corpus import QARecord, load_corpus, stratified_subset
from models.loading import load_model

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_records(data, ev) -> list[QARecord]:
    records = load_corpus(data.path, splits=(data.split,), default_split=data.default_split)
    if not records:
        raise ValueError(f"data.split={data.split!r}: no records of that split in {data.path}")
    if data.attribution:
        log.info("data: %s", data.attribution)
        print(f"Using {data.name}: {data.attribution}")
    subset = stratified_subset(records, ev.limit, seed=ev.subset_seed)
    log.info("data: %d of %d %s questions from %s", len(subset), len(records), data.split, data.path)
    return subset


def build_model(m, seed: int = 0):
    model, tok = load_model(
        m.source, m.path, sha256=m.sha256, cache_dir=m.cache_dir, dtype=m.dtype, device=m.device,
        load_in_4bit=m.load_in_4bit, bnb_4bit_quant_type=m.bnb_4bit_quant_type,
        bnb_4bit_use_double_quant=m.bnb_4bit_use_double_quant, bnb_4bit_compute_dtype=m.bnb_4bit_compute_dtype,
        tiny=dict(m.tiny), seed=seed)
    n = sum(p.numel() for p in model.parameters())
    log.info("model: %s (%s), %.1fM parameters, %s on %s", m.name, m.source, n / 1e6,
             next(model.parameters()).dtype, next(model.parameters()).device)
    return model, tok


def model_fingerprint(m, method, seed: int) -> str:
    """What identifies the weights that produced an answer (for reusing answers on rerun)."""
    parts = OmegaConf.to_container(m, resolve=True)
    parts.pop("device", None)
    parts.pop("cache_dir", None)
    if m.source == "tiny_random":
        parts["seed"] = seed
    parts["method"] = OmegaConf.to_container(method, resolve=True)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
