"""The training loop: epochs of AdamW steps on the adapter, dev-set checkpoint selection, resume.

Each optimizer step takes ``batch_size`` examples as micro-batches over gradient accumulation and
processes; the loss is the mean cross-entropy per supervised token of the whole step (token
counts are summed over micro-batches and processes first, so a step's gradient does not depend on
how it was split). Each epoch ends with dev loss, dev ROUGE-L of greedy answers and dev EOS rate
(:mod:`training.dev_eval`); the adapter of the best epoch by ``select_metric`` is saved to
``<out_dir>/best``, as LIMA picked its checkpoint on a dev set (https://arxiv.org/abs/2305.11206).

Data parallel through Hugging Face accelerate (DDP; every process holds the whole model)::

    accelerate launch --multi_gpu --num_processes 2 -m studyllama.cli train method=lora ...
    torchrun --standalone --nproc_per_node 2 -m studyllama.cli train ...   # the same; CPU too (gloo)

(``accelerate launch --cpu`` starts a single process; several CPU processes need torchrun.)
``train.batch_size`` stays the global batch: accumulation shrinks as processes are added.

Process ``r`` of ``n`` takes micro-batches ``r, r + n, ...`` of the epoch's deterministic order
(an epoch's last ``< n`` micro-batches are dropped so every process steps together); DDP averages
gradients; only the main process writes files; every process computes the same dev metrics.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager, Sequence

import torch

from training.checkpoint import TrainState, has_checkpoint, load_checkpoint, save_checkpoint
from training.curves import MetricsLog
from training.data import SFTExample, collate, eos_token_id, micro_batches, supervised_tokens
from training.dev_eval import MergedCopy, dev_metrics
from training.optim import build_optimizer, build_scheduler
from training.peft_setup import save_adapter

log = logging.getLogger(__name__)

SELECT = {"rougeL": max, "eos_rate": max, "loss": min}  # dev metric -> which value is best
PRECISIONS = ("auto", "bf16", "fp32")


def make_accelerator(precision: str = "auto"):
    """An ``accelerate.Accelerator``: bf16 autocast on CUDA for ``auto``/``bf16``, fp32 otherwise."""
    from accelerate import Accelerator

    if precision not in PRECISIONS:
        raise ValueError(f"train.precision={precision!r}: use one of {list(PRECISIONS)}")
    cuda = torch.cuda.is_available()
    if precision == "bf16" and not cuda:
        raise ValueError("train.precision=bf16 needs a CUDA GPU here; use train.precision=auto or fp32 on CPU")
    mixed = "bf16" if cuda and precision in ("auto", "bf16") else "no"
    return Accelerator(mixed_precision=mixed, cpu=not cuda)


def accumulation_steps(batch_size: int, micro_batch_size: int, processes: int) -> int:
    per_pass = micro_batch_size * processes
    if micro_batch_size < 1 or batch_size % per_pass:
        raise ValueError(f"train.batch_size={batch_size} must be a multiple of train.micro_batch_size={micro_batch_size} "
                         f"x {processes} process(es); change one of them")
    return batch_size // per_pass


def optimizer_step(model, optimizer, scheduler, batches: Sequence[dict], accelerator, *,
                   max_grad_norm: float | None, scopes: Sequence[ContextManager] | None = None) -> dict:
    """One optimizer step over this process's micro-batches ``batches`` (from :func:`training.data.collate`).

    ``scopes``, one per micro-batch, are entered around its forward and backward (method=adapter_gnn:
    they condition the adapter on the micro-batch's subgraphs).

    Returns:
        ``loss`` (mean per supervised token over all processes), ``tokens`` (non-padding input
        tokens over all processes), ``grad_norm`` (before clipping; None without clipping).
    """
    device = accelerator.device
    counts = torch.tensor([sum(supervised_tokens(b) for b in batches),
                           sum(b["input_ids"].numel() if "attention_mask" not in b else int(b["attention_mask"].sum())
                               for b in batches)], device=device, dtype=torch.float64)
    counts = accelerator.reduce(counts, "sum")
    # DDP averages gradients over processes; dividing by total / n makes the result sum / total.
    norm = counts[0] / accelerator.num_processes
    loss_sum = torch.zeros((), device=device)
    for i, batch in enumerate(batches):
        batch = {k: v.to(device) for k, v in batch.items()}
        with nullcontext() if i == len(batches) - 1 else accelerator.no_sync(model), \
                scopes[i] if scopes else nullcontext():
            with accelerator.autocast():
                out = model(**batch, use_cache=False, num_items_in_batch=norm)
            accelerator.backward(out.loss)
        loss_sum += out.loss.detach().float() * norm
    grad_norm, lr = None, optimizer.param_groups[0]["lr"]  # the LR this step uses
    if max_grad_norm:
        grad_norm = float(accelerator.clip_grad_norm_([p for p in model.parameters() if p.requires_grad],
                                                      max_grad_norm))
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    loss = accelerator.reduce(loss_sum, "sum") / counts[0]
    return dict(loss=float(loss), tokens=int(counts[1]), grad_norm=grad_norm, lr=lr)


@dataclass
class _Run:
    """What one call of :func:`fit` works with: the prepared model and optimizer, state, logs."""

    acc: object
    model: object  # as prepared by accelerate (DDP-wrapped on several processes)
    optimizer: object
    scheduler: object
    state: TrainState
    metrics: MetricsLog
    out_dir: Path
    meta: dict
    train_seconds: float = 0.0
    tokens: int = 0

    @property
    def peft_model(self):
        return self.acc.unwrap_model(self.model)

    def checkpoint(self) -> None:
        if self.acc.is_main_process:
            opt = getattr(self.optimizer, "optimizer", self.optimizer)  # accelerate's wrapper holds the real one
            save_checkpoint(self.out_dir / "checkpoint", self.peft_model, opt, self.scheduler, self.state, self.meta)
        self.acc.wait_for_everyone()

    def select(self, epoch: float, dev: dict, select_metric: str) -> None:
        """Record the dev metrics of ``epoch``; save the adapter to ``best/`` if they are the best so far."""
        s = self.state
        s.history.append(dict(epoch=epoch, step=s.step, **dev))
        self.metrics.log("dev", s.step, epoch, dev)
        log.info("dev epoch %.2f: loss %.4f, rougeL %.4f, EOS rate %.3f", epoch, dev["loss"], dev["rougeL"],
                 dev["eos_rate"])
        value = dev[select_metric]
        if s.best_value is not None and SELECT[select_metric](value, s.best_value) == s.best_value:
            return  # ties keep the earlier epoch
        s.best_epoch, s.best_value = len(s.history), value
        if self.acc.is_main_process:
            save_adapter(self.peft_model, self.out_dir / "best",
                         dict(self.meta, epoch=epoch, step=s.step, dev=dev, select_metric=select_metric))
        log.info("dev: best so far by %s (%.4f): adapter saved to %s", select_metric, value, self.out_dir / "best")


def fit(model, tokenizer, train: Sequence[SFTExample], dev: Sequence[SFTExample], *, out_dir: str | Path,
        seed: int, epochs: int, batch_size: int, micro_batch_size: int, lr: float, batching: str = "grouped",
        group_window: int = 50, max_steps: int | None = None, optimizer: str = "adamw",
        betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
        schedule: str = "linear", warmup_steps: int = 0, warmup_ratio: float = 0.0, min_lr_ratio: float = 0.0,
        max_grad_norm: float | None = 1.0, precision: str = "auto", dev_max_new_tokens: int = 128,
        dev_batch_size: int = 16, dev_merged: bool = True, dev_cache_implementation: str | None = None,
        select_metric: str = "rougeL", log_every_steps: int = 10,
        save_every_steps: int = 0, resume: bool = False, meta: dict | None = None,
        on_step: Callable[[TrainState], None] | None = None,
        condition: Callable[[Sequence[str]], ContextManager] | None = None) -> dict:
    """Train ``model``'s adapter on ``train``, pick the best epoch on ``dev``, write the run to ``out_dir``.

    ``condition``, given the example ids of a micro-batch, returns a context manager that its
    forward and backward (and dev generation) run in: method=adapter_gnn conditions the adapter on
    those questions' subgraphs with it (``models.adapter_gnn.graph_conditioning``).

    Arguments after ``dev`` are ``conf/train/*.yaml``'s fields (``studyllama.config.TrainConfig``
    documents them). ``on_step`` is called after every optimizer step but the last (tests
    interrupt a run from it).

    Writes:
        ``best/`` (adapter of the best epoch), ``checkpoint/`` (resumable), ``metrics.jsonl``,
        ``tensorboard/``, ``curves.png``.

    Returns:
        A summary: best epoch (1-based) and value, dev history, steps, training tokens/s.
    """
    _check(model, dev, select_metric, batching, conditioned=condition is not None)
    acc = make_accelerator(precision)
    world, rank = acc.num_processes, acc.process_index
    accum = accumulation_steps(batch_size, micro_batch_size, world)
    per_rank = math.ceil(len(train) / micro_batch_size) // world  # micro-batches per process and epoch
    if per_rank == 0:
        raise ValueError(f"{len(train)} training examples are too few for {world} process(es) of "
                         f"train.micro_batch_size={micro_batch_size}")
    steps_per_epoch = math.ceil(per_rank / accum)
    total_steps = min(steps_per_epoch * epochs, max_steps or steps_per_epoch * epochs)
    eos = eos_token_id(tokenizer, model)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    opt = build_optimizer(model.parameters(), name=optimizer, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    sched = build_scheduler(opt, schedule=schedule, total_steps=total_steps, warmup_steps=warmup_steps,
                            warmup_ratio=warmup_ratio, min_lr_ratio=min_lr_ratio)
    state = _restore(Path(out_dir) / "checkpoint", model, opt, sched) if resume else TrainState()
    log.info("train: %d examples, %d dev; %d process(es) x micro-batch %d x %d accumulation = %d per step; "
             "%d steps per epoch, %d in all", len(train), len(dev), world, micro_batch_size, accum, batch_size,
             steps_per_epoch, total_steps)
    model.train()
    wrapped, opt = acc.prepare(model, opt)
    metrics = MetricsLog(out_dir, enabled=acc.is_main_process, fresh=state.step == 0)
    run = _Run(acc, wrapped, opt, sched, state, metrics, Path(out_dir),
               dict(meta or {}))
    lengths = [len(e.input_ids) for e in train]
    merged = MergedCopy() if dev_merged and MergedCopy.applies(run.peft_model) else None
    while not state.done and state.epoch < epochs:
        order = micro_batches(lengths, micro_batch_size=micro_batch_size, mode=batching, seed=seed,
                              epoch=state.epoch, group_window=group_window)
        mine = [order[i * world + rank] for i in range(per_rank)]
        windows = [[collate([train[i] for i in mb], batching, pad) for mb in mine[s:s + accum]]
                   for s in range(0, len(mine), accum)]
        for w in range(state.epoch_step, len(windows)):
            t = time.perf_counter()
            scopes = ([condition([train[i].id for i in mb]) for mb in mine[w * accum:(w + 1) * accum]]
                      if condition else None)
            stats = optimizer_step(wrapped, opt, sched, windows[w], acc, max_grad_norm=max_grad_norm, scopes=scopes)
            run.train_seconds += time.perf_counter() - t
            run.tokens += stats["tokens"]
            state.step, state.epoch_step = state.step + 1, w + 1
            if state.step % log_every_steps == 0 or state.step == total_steps:
                _log_step(run, stats, state.epoch + (w + 1) / len(windows), total_steps)
            if state.step >= total_steps:
                break
            if save_every_steps and state.step % save_every_steps == 0:
                run.checkpoint()
            if on_step is not None:
                on_step(state)
        dev_m = dev_metrics(run.peft_model, tokenizer, dev, max_new_tokens=dev_max_new_tokens,
                            batch_size=dev_batch_size, eos_token_id=eos, pad_token_id=pad, device=acc.device,
                            autocast=acc.autocast, condition=condition, merged=merged,
                            cache_implementation=dev_cache_implementation if merged is not None else None)
        run.select(state.epoch + state.epoch_step / len(windows), dev_m, select_metric)
        if state.epoch_step == len(windows):
            state.epoch, state.epoch_step = state.epoch + 1, 0
        state.done = state.step >= total_steps
        run.metrics.plot()
        run.checkpoint()
    run.metrics.close()
    return dict(best_epoch=state.best_epoch, best_value=state.best_value, select_metric=select_metric,
                best_dir=str(run.out_dir / "best"), history=state.history, steps=state.step, total_steps=total_steps,
                train_seconds=round(run.train_seconds, 2),
                tokens_per_s=round(run.tokens / run.train_seconds, 1) if run.train_seconds > 0 else None)


def _check(model, dev, select_metric: str, batching: str, conditioned: bool = False) -> None:
    if select_metric not in SELECT:
        raise ValueError(f"train.select_metric={select_metric!r}: use one of {list(SELECT)}")
    if batching == "packed" and getattr(model, "peft_config", None) and model.active_peft_config.is_prompt_learning:
        raise ValueError("train.batching=packed can't be used with method=prompt_tuning (virtual tokens shift "
                         "the packed positions); use train.batching=grouped")
    if batching == "packed" and conditioned:
        raise ValueError("train.batching=packed puts several questions in one row, but method=adapter_gnn conditions "
                         "each row on one question's subgraph; use train.batching=grouped")
    if not dev:
        raise ValueError("the dev split is empty: checkpoint selection needs dev examples (train.dev_split)")


def _restore(ckpt: Path, model, optimizer, scheduler) -> TrainState:
    if not has_checkpoint(ckpt):
        log.warning("resume: no checkpoint in %s; starting from scratch", ckpt)
        return TrainState()
    state = load_checkpoint(ckpt, model, optimizer, scheduler)
    log.info("resume: from %s at step %d (epoch %d, step %d of it)", ckpt, state.step, state.epoch, state.epoch_step)
    return state


def _log_step(run: _Run, stats: dict, epoch: float, total_steps: int) -> None:
    values = dict(loss=stats["loss"], lr=stats["lr"], tokens_per_s=run.tokens / max(run.train_seconds, 1e-9))
    if stats["grad_norm"] is not None:
        values["grad_norm"] = stats["grad_norm"]
    run.metrics.log("train", run.state.step, epoch, values)
    log.info("step %d/%d: loss %.4f, lr %.2e, %.0f tokens/s", run.state.step, total_steps, stats["loss"],
             stats["lr"], values["tokens_per_s"])
