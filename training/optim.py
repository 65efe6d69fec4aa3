"""Optimizer and learning-rate schedule.

AdamW (Loshchilov & Hutter, 2019, https://arxiv.org/abs/1711.05101), or bitsandbytes' paged
AdamW with 32-bit states, which the QLoRA paper uses to survive memory spikes
(https://arxiv.org/abs/2305.14314, section 3). The schedule warms up linearly, then stays
constant or decays (linear or cosine) to ``lr * min_lr_ratio``: LIMA decays linearly from
1e-5 to 1e-6 (https://arxiv.org/abs/2305.11206, section 3).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch

OPTIMIZERS = ("adamw", "paged_adamw_32bit")
SCHEDULES = ("linear", "cosine", "constant")


def build_optimizer(params: Iterable[torch.nn.Parameter], *, name: str = "adamw", lr: float,
                    betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
    """AdamW over ``params`` (the adapter's: every trainable tensor is decayed alike).

    Args:
        name: ``adamw`` (torch) or ``paged_adamw_32bit`` (bitsandbytes, CUDA only).
    """
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameters: the model has no adapter attached")
    if len(betas) != 2:
        raise ValueError(f"train.betas={list(betas)}: give two values, e.g. [0.9, 0.95]")
    kwargs = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, **kwargs)
    if name == "paged_adamw_32bit":
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise ImportError("train.optimizer=paged_adamw_32bit needs bitsandbytes and CUDA "
                              "(`pip install -e '.[gpu]'`); on CPU use train.optimizer=adamw") from None
        if not torch.cuda.is_available():
            raise RuntimeError("train.optimizer=paged_adamw_32bit needs a CUDA GPU; on CPU use train.optimizer=adamw")
        return bnb.optim.PagedAdamW32bit(params, **kwargs)
    raise ValueError(f"train.optimizer={name!r}: use one of {list(OPTIMIZERS)}")


def warmup_count(total_steps: int, warmup_steps: int = 0, warmup_ratio: float = 0.0) -> int:
    if warmup_steps and warmup_ratio:
        raise ValueError("Can't provide both train.warmup_steps and train.warmup_ratio. Choose one.")
    return warmup_steps or math.ceil(warmup_ratio * total_steps)


def lr_factor(step: int, *, schedule: str, total_steps: int, warmup: int, min_lr_ratio: float) -> float:
    """Multiplier of the peak LR for optimizer step ``step`` (0-based)."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    shape = 1.0 - progress if schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_lr_ratio + (1.0 - min_lr_ratio) * shape


def build_scheduler(optimizer, *, schedule: str = "linear", total_steps: int, warmup_steps: int = 0,
                    warmup_ratio: float = 0.0, min_lr_ratio: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """Warmup, then ``schedule``; stepped once per optimizer step."""
    if schedule not in SCHEDULES:
        raise ValueError(f"train.schedule={schedule!r}: use one of {list(SCHEDULES)}")
    warmup = warmup_count(total_steps, warmup_steps, warmup_ratio)

    def factor(step: int) -> float:
        return lr_factor(step, schedule=schedule, total_steps=total_steps, warmup=warmup, min_lr_ratio=min_lr_ratio)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
