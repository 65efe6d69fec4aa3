"""Compile each decoder layer for training steps ("regional compilation").

``torch.compile`` on one transformer block rather than the whole model: every layer runs the same
code, so one compilation (about 20 s on the 7B shape) serves all of them, and the element-wise
chains between the matmuls (RMSNorm, rotary embedding, SiLU x up, residual adds, LoRA dropout)
become a few fused kernels instead of dozens of passes over the activations. See the PyTorch
recipe https://docs.pytorch.org/tutorials/recipes/regional_compilation.html.

Only training steps (module in train mode, gradients on) take the compiled path; dev loss and
generation run the eager layer, so decoding with a growing KV cache never triggers recompilation.
"""

from __future__ import annotations

import functools
import logging

import torch

log = logging.getLogger(__name__)


def decoder_layers(model) -> torch.nn.ModuleList:
    """The repeated blocks of a (peft-wrapped) Hugging Face causal LM."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    layers = getattr(getattr(base, "model", None), "layers", None)
    if not isinstance(layers, torch.nn.ModuleList):
        raise ValueError(f"train.compile: no decoder layers at model.model.layers in {type(base).__name__}; "
                         "set train.compile=false for this model")
    return layers


def _train_step_forward(layer, eager, compiled, *args, **kwargs):
    if layer.training and torch.is_grad_enabled():
        return compiled(*args, **kwargs)
    return eager(*args, **kwargs)


def compile_layers(model, **compile_kwargs) -> int:
    """Route each decoder layer's training forward through ``torch.compile(**compile_kwargs)``.

    Returns:
        The number of layers compiled (lazily: each compiles on its first training step).
    """
    layers = decoder_layers(model)
    for layer in layers:
        eager = layer.forward
        layer.forward = functools.partial(_train_step_forward, layer, eager, torch.compile(eager, **compile_kwargs))
    log.info("train.compile: %d decoder layers compiled for training steps", len(layers))
    return len(layers)
