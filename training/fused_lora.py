"""A LoRA layer's training step as one autograd function: frozen matmul, dropout and low-rank update.

peft's LoRA forward (https://github.com/huggingface/peft, ``tuners/lora``) is
``base(x).clone() + lora_B(lora_A(dropout(x))) * scaling``: on a 4-bit base that writes the output
five times (matmul, the "defensive" clone, ``lora_B``, the scaling, the sum) and autograd keeps
the intermediates. Here the update is added by the second matmul itself
(``y.addmm_(h, B^T, alpha=scaling)``), the 4-bit weight is dequantized again in the backward
pass instead of being kept, and the backward is written out, so a step moves far fewer bytes.
The function is the same: same parameters, same dropout (one Bernoulli mask per layer and call,
scaled by ``1 / (1 - p)``), same dtypes (the autocast dtype when autocast is on), and the peft
modules, their saving and merging are untouched. A layer falls back to peft's own forward
outside training, with several active adapters, DoRA, mixed-batch adapters or a merged adapter.

    from training.fused_lora import fuse_lora
    fuse_lora(peft_model)          # before training; returns how many layers were fused
"""

from __future__ import annotations

import functools
import logging
import types
from typing import Callable

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)


class LoraMatmul(torch.autograd.Function):
    """``x @ W^T + bias + scaling * dropout(x) @ A^T @ B^T``, with ``W`` re-made by ``weight()`` when needed.

    Shapes:
        x: (T, in) in the compute dtype; A: (r, in); B: (out, r); result: (T, out).
    """

    @staticmethod
    def forward(ctx, x, lora_a, lora_b, weight: Callable[[], torch.Tensor], bias, scaling: float, p: float):
        dtype = x.dtype
        a, b = lora_a.to(dtype), lora_b.to(dtype)
        y = F.linear(x, weight().to(dtype), None if bias is None else bias.to(dtype))  # (T, out)
        if p > 0:
            xd, mask = torch.native_dropout(x, p, True)  # the mask nn.Dropout draws (bool, 1 = kept)
        else:
            xd, mask = x, None
        h = xd @ a.t()  # (T, r)
        y.addmm_(h, b.t(), alpha=scaling)  # the update lands in y: no separate output tensor
        ctx.weight, ctx.scaling, ctx.p = weight, scaling, p
        ctx.param_dtypes = (lora_a.dtype, lora_b.dtype)
        ctx.save_for_backward(xd, mask, h, a, b)
        return y

    @staticmethod
    def backward(ctx, dy):
        xd, mask, h, a, b = ctx.saved_tensors
        s, p = ctx.scaling, ctx.p
        dy = dy.to(xd.dtype)
        g = (dy @ b).mul_(s)  # (T, r): the gradient reaching h, scaled
        da = (g.t() @ xd).to(ctx.param_dtypes[0])  # (r, in)
        db = (dy.t() @ h).mul_(s).to(ctx.param_dtypes[1])  # (out, r)
        dx = None
        if ctx.needs_input_grad[0]:
            dxd = g @ a  # (T, in)
            if mask is not None:
                dxd = torch.ops.aten.native_dropout_backward(dxd, mask, 1.0 / (1.0 - p))
            dx = torch.addmm(dxd, dy, ctx.weight().to(dy.dtype))  # dy @ W + the low-rank path
        return dx, da, db, None, None, None, None


def _is_4bit(base) -> bool:
    try:
        import bitsandbytes as bnb
    except ImportError:
        return False
    return isinstance(base, bnb.nn.Linear4bit) and getattr(base.weight, "quant_state", None) is not None


def dense_weight(base) -> torch.Tensor:
    """``base``'s weight as a dense (out, in) tensor: a 4-bit one dequantized, a plain one as is."""
    if type(base) is torch.nn.Linear:
        return base.weight
    import bitsandbytes as bnb

    return bnb.functional.dequantize_4bit(base.weight.data, base.weight.quant_state)


@torch.compiler.disable
def _lora_matmul(*args) -> torch.Tensor:
    # Opaque to torch.compile (train.compile): traced into a compiled layer, this function's LoRA
    # weights barely trained on the 7B shape (loss 11.19 -> 11.16 in 9 steps, against -> 9.1 eager).
    return LoraMatmul.apply(*args)


def _fused_forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """peft's ``forward`` for a LoRA ``Linear``/``Linear4bit``, fused when the layer is in plain training use."""
    plain = (self.training and torch.is_grad_enabled() and not args and not kwargs and not self.merged
             and not self.disable_adapters and len(self.active_adapters) == 1)
    name = self.active_adapters[0] if plain else None
    if not plain or name not in self.lora_A or name in getattr(self, "lora_variant", {}):
        return type(self).forward(self, x, *args, **kwargs)
    dropout = self.lora_dropout[name]
    p = dropout.p if isinstance(dropout, torch.nn.Dropout) else 0.0
    base = self.get_base_layer()
    dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
    shape = x.shape
    y = _lora_matmul(x.reshape(-1, shape[-1]).to(dtype), self.lora_A[name].weight, self.lora_B[name].weight,
                         functools.partial(dense_weight, base), getattr(base, "bias", None),
                         float(self.scaling[name]), p)
    return y.view(*shape[:-1], y.shape[-1])


def fuse_lora(model) -> int:
    """Give every LoRA linear layer of ``model`` (a peft model) the fused training forward.

    Layers whose base is neither ``torch.nn.Linear`` nor a bitsandbytes ``Linear4bit``, whose
    dropout is not ``nn.Dropout``/``nn.Identity``, with a LoRA bias or ``fan_in_fan_out`` keep
    peft's forward.

    Returns:
        The number of layers fused.
    """
    from peft.tuners.lora import LoraLayer

    fused = 0
    for module in model.modules():
        if not isinstance(module, LoraLayer) or not hasattr(module, "lora_A"):
            continue
        base = module.get_base_layer()
        drops = list(module.lora_dropout.values())
        plain = (all(isinstance(d, (torch.nn.Dropout, torch.nn.Identity)) for d in drops)
                 and all(b.bias is None for b in module.lora_B.values())  # peft's lora_bias=True
                 and not getattr(module, "fan_in_fan_out", False))
        if not plain or not (type(base) is torch.nn.Linear or _is_4bit(base)):
            continue
        module.forward = types.MethodType(_fused_forward, module)
        fused += 1
    log.info("fused LoRA: %d layers", fused)
    return fused
