"""``studyllama train``: fine-tune a PEFT adapter on the train split; keep the best epoch on the dev split.

Steps: seed -> model -> data (formatted with the evaluation prompt) -> adapter -> fit -> (export) -> summary.

    studyllama train method=lora prompt=chat train=lima
    studyllama train method=qlora train=qlora model=llama2_7b_chat     # CUDA
    studyllama train ... train.resume=true                               # continue an interrupted run
    studyllama eval method=lora prompt=chat method.adapter=outputs/train/<run>/best
    studyllama eval method=lora prompt=chat eval.train_first=true        # train into <run>/train, then evaluate
"""

from __future__ import annotations

import gc
import json
import logging
import os
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from kg.io import atomic_write_json
from models.adapter_gnn import parameter_report as adapter_parameter_report, trainable_summary
from studyllama.builders import (build_graph_condition, build_graph_prompts, build_llama_adapter, build_model,
                                 build_peft, build_prompts, build_split, build_subgraphs, seed_everything)
from studyllama.config import config_hash
from training.checkpoint import has_checkpoint
from training.compile import speed_up
from training.data import build_examples, eos_token_id
from training.export import merge_adapter
from training.loop import fit
from training.peft_setup import format_report, parameter_report

log = logging.getLogger(__name__)


# Room left for the answer when graph evidence is fitted to the context (evaluation uses eval.max_new_tokens;
# prompt.evidence_budget is the tighter bound for SmolLM2 and Llama-2, so both see the same evidence).
GRAPH_ANSWER_ROOM = 512


def examples_for(split: str, cfg, tok, eos: int, model_config=None):
    records = build_split(cfg.data, split)
    if cfg.prompt.get("evidence", "none") != "none":  # graph prompts, built exactly as evaluation builds them
        context = getattr(model_config, "max_position_embeddings", 2048)
        built = build_graph_prompts(records, cfg.prompt, tok, cfg.kg, max_new_tokens=GRAPH_ANSWER_ROOM,
                                    context_length=context)
        prompts = [b.prompt for b in built]
    else:
        prompts = build_prompts(records, cfg.prompt, tok)
    return build_examples(records, prompts, tok, add_special_tokens=cfg.prompt.format == "raw", eos_token_id=eos,
                          max_seq_len=cfg.train.max_seq_len)


def attach_adapter(model, cfg):
    """``(model, parameter counts, condition)``: the method's fresh trainable adapter and, for
    method=adapter_gnn, the per-question subgraph conditioning ``fit`` runs each micro-batch in."""
    tr = cfg.train
    if not cfg.method.llama_adapter:
        model = build_peft(model, cfg.method, gradient_checkpointing=tr.gradient_checkpointing)
        params = parameter_report(model)
        log.info("adapter: %s", format_report(params))
        print(format_report(params))
        speed_up(model, compile=tr.compile, fused_lora=tr.fused_lora)
        return model, params, None
    if tr.compile:
        raise ValueError(f"train.compile: method={cfg.method.name} patches the decoder layers, which the compiled "
                         "path does not cover; set train.compile=false")
    if tr.export_merged:
        raise ValueError("train.export_merged: LLaMA-Adapter's prompts and gates can't be merged into the base "
                         "weights; evaluate with method.adapter=<run>/best instead")
    model = build_llama_adapter(model, cfg.method, gradient_checkpointing=tr.gradient_checkpointing)
    table = adapter_parameter_report(model)
    log.info("adapter: trainable parameters\n%s", table)
    print(table)
    condition = None
    if cfg.method.graph:
        records = build_split(cfg.data, tr.train_split) + build_split(cfg.data, tr.dev_split)
        condition = build_graph_condition(model, build_subgraphs(records, cfg.kg, cfg.data))
    return model, trainable_summary(model), condition


def export(cfg, out_dir: Path) -> Path:
    """Merge the best adapter into a freshly loaded (de-quantized) base and save it to ``<run>/merged``."""
    base, tok = build_model(cfg.model, cfg.seed, cfg.method, training=True)
    return merge_adapter(base, tok, out_dir / "best", out_dir / "merged")


def train_fingerprint(cfg) -> str:
    """What a training run depends on: base model, method (less the adapter path), prompt, data, train, kg, seed."""
    method = OmegaConf.to_container(cfg.method, resolve=True)
    method.pop("adapter", None)
    model = OmegaConf.to_container(cfg.model, resolve=True)
    for key in ("device", "cache_dir"):
        model.pop(key, None)
    train = OmegaConf.to_container(cfg.train, resolve=True)
    for key in ("resume", "log_every_steps", "export_merged", "fused_lora", "compile"):  # speed, not results
        train.pop(key, None)
    parts = dict(model=model, method=method, prompt=OmegaConf.to_container(cfg.prompt, resolve=True),
                 data=OmegaConf.to_container(cfg.data, resolve=True), train=train,
                 kg=OmegaConf.to_container(cfg.kg, resolve=True), seed=cfg.seed)
    return config_hash(OmegaConf.create(parts))


def train_first(cfg, out_dir: Path) -> Path:
    """``eval.train_first``: the best adapter of this config's training in ``out_dir``, training it first.

    A finished run (``train_summary.json`` with the same :func:`train_fingerprint`) is reused; an
    interrupted one (``checkpoint/``) resumes; a finished run of other settings is an error. A lock
    file beside ``out_dir`` makes a second process wait for a training in progress, then reuse it.
    """
    import fcntl

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(out_dir.parent / f"{out_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes (or the process dies)
        return _train_first(cfg, out_dir)


def _train_first(cfg, out_dir: Path) -> Path:
    summary = out_dir / "train_summary.json"
    fp = train_fingerprint(cfg)
    if summary.is_file():
        done = json.loads(summary.read_text())
        if done.get("train_fingerprint") != fp:
            raise ValueError(f"{summary}: this folder holds a training run of other settings (model, method, prompt, "
                             f"data, train, kg or seed differ); delete {out_dir} or evaluate in another run folder")
        log.info("train: reusing the finished run in %s (best epoch %s)", out_dir, done.get("best_epoch"))
        return out_dir / "best"
    resume = has_checkpoint(out_dir / "checkpoint")
    log.info("train: %s %s in %s", "resuming" if resume else "training", cfg.method.name, out_dir)
    run(cfg, out_dir, resume=resume, export_merged=False)
    return out_dir / "best"


def run(cfg, out_dir: Path, *, resume: bool | None = None, export_merged: bool | None = None) -> dict:
    """Train ``cfg``'s method into ``out_dir`` (``resume``/``export_merged``: None takes ``cfg.train``'s)."""
    tr = cfg.train
    resume = tr.resume if resume is None else resume
    export_merged = tr.export_merged if export_merged is None else export_merged
    log.info("step 1/6 seed=%d, outputs in %s", cfg.seed, out_dir)
    seed_everything(cfg.seed)
    log.info("step 2/6 model")
    model, tok = build_model(cfg.model, cfg.seed, cfg.method, training=True)
    eos = eos_token_id(tok, model)
    log.info("step 3/6 data (prompt=%s)", cfg.prompt.name)
    train = examples_for(tr.train_split, cfg, tok, eos, model.config)
    dev = examples_for(tr.dev_split, cfg, tok, eos, model.config)
    log.info("step 4/6 adapter (method=%s)", cfg.method.name)
    model, params, condition = attach_adapter(model, cfg)
    log.info("step 5/6 fit (train=%s)", tr.name)
    meta = dict(model=cfg.model.name, model_source=cfg.model.source, model_path=cfg.model.path,
                prompt=cfg.prompt.name, method=OmegaConf.to_container(cfg.method, resolve=True),
                train=OmegaConf.to_container(tr, resolve=True), seed=cfg.seed)
    result = fit(
        model, tok, train, dev, out_dir=out_dir, seed=cfg.seed, epochs=tr.epochs, batch_size=tr.batch_size,
        micro_batch_size=tr.micro_batch_size, lr=tr.lr, batching=tr.batching, group_window=tr.group_window,
        max_steps=tr.max_steps, optimizer=tr.optimizer, betas=list(tr.betas), eps=tr.eps,
        weight_decay=tr.weight_decay, schedule=tr.schedule, warmup_steps=tr.warmup_steps,
        warmup_ratio=tr.warmup_ratio, min_lr_ratio=tr.min_lr_ratio, max_grad_norm=tr.max_grad_norm,
        precision=tr.precision, dev_max_new_tokens=tr.dev_max_new_tokens, dev_batch_size=tr.dev_batch_size,
        dev_merged=tr.dev_merged, dev_cache_implementation=tr.dev_cache_implementation,
        select_metric=tr.select_metric, log_every_steps=tr.log_every_steps, save_every_steps=tr.save_every_steps,
        resume=resume, meta=meta, condition=condition)
    result.update(parameters=params, n_train=len(train), n_dev=len(dev), model=cfg.model.name,
                  method=cfg.method.name, prompt=cfg.prompt.name, train=tr.name,
                  train_fingerprint=train_fingerprint(cfg))
    if int(os.environ.get("RANK", "0")) != 0:  # under `accelerate launch`, the main process writes
        return result
    if export_merged:
        log.info("step 6/6 export: merge the best adapter into the de-quantized base")
        del model
        gc.collect()
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
        result["merged_dir"] = str(export(cfg, out_dir))
    atomic_write_json(out_dir / "train_summary.json", result)
    best = result["history"][result["best_epoch"] - 1] if result["best_epoch"] else {}
    print(f"best epoch {result['best_epoch']} by dev {tr.select_metric}: loss {best.get('loss', float('nan')):.4f}, "
          f"rougeL {best.get('rougeL', float('nan')):.4f}, EOS rate {best.get('eos_rate', float('nan')):.3f}")
    print(f"adapter: {out_dir / 'best'}\ncurves: {out_dir / 'curves.png'}\noutputs: {out_dir}")
    return result


def main(cfg: DictConfig) -> dict:
    return run(cfg, Path(HydraConfig.get().runtime.output_dir))
