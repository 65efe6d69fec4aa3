"""LLaMA-Adapter: zero-init gated attention over learnable adaption prompts, for Hugging Face Llama.

Zhang et al. 2023, "LLaMA-Adapter: Efficient Fine-tuning of Language Models with Zero-init
Attention", https://arxiv.org/abs/2303.16199. Each of the top ``L`` decoder layers gets a
learnable prompt ``P_l`` of ``K`` vectors in the hidden space. The layer's queries attend to
the prompt's keys and values (projected by the layer's own frozen ``k_proj``/``v_proj``; no
RoPE on prompt keys, since the prompt has no position), the softmax over the prompt part is
scaled by ``tanh(g_l)`` with a zero-initialised gate per head, and the result, through the
layer's frozen ``o_proj``, is added to the frozen attention output. At initialisation the
gate is 0, so the model is exactly the base model and training starts from it.

LLaMA-Adapter V2 (Gao et al. 2023, https://arxiv.org/abs/2304.15010) conditions the prompt
on an input by adding projected features to it; :func:`set_graph_tokens` does that with the
graph tokens of :mod:`models.gnn` (prompt = static prompt + graph tokens, per question).

The wrapper holds the original attention module (composition) and reaches into it only
through its projections: a forward hook keeps ``q_proj``'s output (the queries), a pre-hook
adds the prompt's gated context to ``o_proj``'s input, and ``k_proj``/``v_proj`` project the
prompt. So no Hugging Face attention code is copied, no projection of the sequence runs
twice, and it works on a 4-bit bitsandbytes model (``Linear4bit``) as on bf16/fp32 ones.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.models.llama.modeling_llama import repeat_kv, rotate_half

ADAPTER_KEYS = ("adaption_prompt", "adaption_gate")  # parameter names that a saved adapter holds
GRAPH_ENCODER = "graph_encoder"  # attribute of the model holding the GNN (models/gnn.py), if any


class AdaptedAttention(nn.Module):
    """A Llama attention module plus a gated adaption prompt (LLaMA-Adapter's zero-init attention).

    Args:
        attn: the model's attention module (``LlamaAttention`` or one with the same
            projections, ``head_dim``, ``num_key_value_groups`` and ``scaling``); kept frozen.
        prompt_length: ``K``, the number of prompt vectors.
        hidden_size: ``D``, the model's hidden size.
        num_heads: ``H``, the number of query heads (one gate each).

    Shapes:
        adaption_prompt: ``(K, D)``; adaption_gate: ``(1, H, 1, 1)``;
        graph_tokens (optional, set per batch): ``(B_g, K, D)`` with ``B`` a multiple of ``B_g``;
        hidden_states: ``(B, T, D)`` -> output ``(B, T, D)``, as the wrapped module.
    """

    def __init__(self, attn: nn.Module, prompt_length: int, hidden_size: int, num_heads: int):
        super().__init__()
        self.attn = attn
        device = attn.q_proj.weight.device
        # N(0, 1) as the official code's nn.Embedding; the zero gate keeps it harmless at init.
        self.adaption_prompt = nn.Parameter(torch.randn(prompt_length, hidden_size, device=device))
        self.adaption_gate = nn.Parameter(torch.zeros(1, num_heads, 1, 1, device=device))
        self.graph_tokens: torch.Tensor | None = None
        self._rope: tuple[torch.Tensor, torch.Tensor] | None = None  # of the forward in progress
        self._queries: torch.Tensor | None = None
        # The queries are taken from the wrapped module's own q_proj call, and the prompt's context
        # joins the tokens' context at o_proj's input (o_proj is linear), so no projection of the
        # sequence runs twice: the adapter adds only k_proj/v_proj over K prompt vectors per layer.
        attn.q_proj.register_forward_hook(self._keep_queries)
        attn.o_proj.register_forward_pre_hook(self._add_prompt_context)

    def forward(self, hidden_states: torch.Tensor, position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
                **kwargs):
        if position_embeddings is None:
            raise ValueError("AdaptedAttention needs the rotary position_embeddings Llama layers pass to attention")
        self._rope = position_embeddings
        try:
            return self.attn(hidden_states, position_embeddings=position_embeddings, **kwargs)
        finally:
            self._rope = self._queries = None

    def _keep_queries(self, module: nn.Module, args, output: torch.Tensor) -> None:
        if self._rope is not None:
            self._queries = output  # (B, T, H*d), before RoPE

    def _add_prompt_context(self, module: nn.Module, args):
        if self._queries is None:  # o_proj called outside this module's forward
            return None
        (ctx,) = args  # (B, T, H*d): the tokens' attention context
        return (ctx + self.prompt_context(self._queries, self._rope).to(ctx.dtype),)

    def prompt(self, batch_size: int, dtype: torch.dtype) -> torch.Tensor:
        """The adaption prompt per sequence: static, plus graph tokens when set. Shape ``(B or 1, K, D)``."""
        if self.graph_tokens is None:
            return self.adaption_prompt.unsqueeze(0).to(dtype)  # (1, K, D)
        tokens = self.graph_tokens
        if batch_size % tokens.shape[0]:
            raise ValueError(f"graph tokens for {tokens.shape[0]} questions but a batch of {batch_size} sequences; "
                             "condition on one subgraph per question (models.adapter_gnn.graph_conditioning)")
        # Beam search and num_return_sequences repeat each question's rows consecutively.
        tokens = tokens.repeat_interleave(batch_size // tokens.shape[0], dim=0)
        return (self.adaption_prompt + tokens).to(dtype)  # (B, K, D)

    def prompt_context(self, queries: torch.Tensor, position_embeddings) -> torch.Tensor:
        """``tanh(g) * softmax(q k_p^T / sqrt(d)) v_p``: the prompt's gated context, before ``o_proj``.

        Shapes:
            queries: ``(B, T, H*d)``, the output of ``q_proj``; output: ``(B, T, H*d)``.
        """
        attn = self.attn
        B, T, _ = queries.shape
        q = queries.view(B, T, -1, attn.head_dim).transpose(1, 2)  # (B, H, T, d)
        cos, sin = position_embeddings
        q = q * cos.unsqueeze(1) + rotate_half(q) * sin.unsqueeze(1)  # RoPE on queries only, as the paper
        prompt = self.prompt(B, queries.dtype)  # (Bp, K, D), Bp = B or 1
        Bp, K, _ = prompt.shape
        k = attn.k_proj(prompt).view(Bp, K, -1, attn.head_dim).transpose(1, 2)  # (Bp, H_kv, K, d)
        v = attn.v_proj(prompt).view(Bp, K, -1, attn.head_dim).transpose(1, 2)  # (Bp, H_kv, K, d)
        k = repeat_kv(k, attn.num_key_value_groups)  # (Bp, H, K, d)
        v = repeat_kv(v, attn.num_key_value_groups)  # (Bp, H, K, d)
        scores = torch.matmul(q, k.transpose(2, 3)) * attn.scaling  # (B, H, T, K)
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        gate = torch.tanh(self.adaption_gate).to(q.dtype)  # (1, H, 1, 1)
        ctx = gate * torch.matmul(probs, v)  # (B, H, T, d)
        return ctx.transpose(1, 2).reshape(B, T, -1)  # (B, T, H*d)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layers of a Hugging Face causal LM (``model.model.layers`` for Llama)."""
    inner = model.get_decoder() if hasattr(model, "get_decoder") else model
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise TypeError(f"{type(model).__name__}: no decoder layers found; LLaMA-Adapter supports Llama-style "
                        "models whose layers have `self_attn` with q/k/v/o projections")
    return layers


def add_adapter(model: nn.Module, *, prompt_length: int = 10, num_layers: int | None = None,
                graph_encoder: nn.Module | None = None) -> nn.Module:
    """Freeze ``model`` and wrap the attention of its top ``num_layers`` layers with adaption prompts.

    Args:
        model: a Hugging Face Llama-style causal LM (fp32, bf16 or 4-bit), changed in place.
        prompt_length: ``K``, prompt vectors per layer. Default 10.
        num_layers: ``L``, adapt the top ``L`` layers. Default None: all layers.
        graph_encoder: a module that turns subgraphs into graph tokens (:class:`models.gnn.GraphEncoder`);
            registered as ``model.graph_encoder`` and kept trainable. Default None.

    Returns:
        ``model``, with only the adapter (and graph encoder) parameters requiring gradients.
    """
    if adapted_layers(model):
        raise ValueError("this model already has an adapter; load a fresh base model first")
    layers = decoder_layers(model)
    n = len(layers)
    num_layers = n if num_layers is None else num_layers
    if not 1 <= num_layers <= n:
        raise ValueError(f"method.adapter_layers={num_layers}: the model has {n} layers; use 1..{n} or null (all)")
    if prompt_length < 1:
        raise ValueError(f"method.adapter_length={prompt_length}: use at least 1 prompt vector")
    model.requires_grad_(False)
    cfg = model.config
    for layer in layers[n - num_layers:]:
        layer.self_attn = AdaptedAttention(layer.self_attn, prompt_length, cfg.hidden_size, cfg.num_attention_heads)
    if graph_encoder is not None:
        device = layers[-1].self_attn.adaption_prompt.device
        model.add_module(GRAPH_ENCODER, graph_encoder.to(device).requires_grad_(True))
    return model.train(model.training)  # new modules start in train mode (the GNN's dropout): follow the model


def adapted_layers(model: nn.Module) -> list[AdaptedAttention]:
    """The model's :class:`AdaptedAttention` modules, bottom to top (empty if none)."""
    return [m for m in model.modules() if isinstance(m, AdaptedAttention)]


def set_graph_tokens(model: nn.Module, tokens: torch.Tensor | None) -> None:
    """Add ``tokens`` to every adapted layer's static prompt until reset with None.

    Shapes:
        tokens: ``(B, K, D)``, one row of ``K`` graph tokens per question in the batch.
    """
    for layer in adapted_layers(model):
        if tokens is not None and tokens.shape[1:] != layer.adaption_prompt.shape:
            raise ValueError(f"graph tokens of shape {tuple(tokens.shape[1:])} for prompts of shape "
                             f"{tuple(layer.adaption_prompt.shape)}; the GNN's num_tokens/out_dim must be K/D")
        layer.graph_tokens = tokens


def is_adapter_key(name: str) -> bool:
    """Whether a state-dict key belongs to the adapter (prompts, gates) or the graph encoder."""
    return name.startswith(GRAPH_ENCODER + ".") or name.rsplit(".", 1)[-1] in ADAPTER_KEYS


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapter and graph-encoder tensors of ``model.state_dict()`` (what a checkpoint saves)."""
    return {k: v for k, v in model.state_dict().items() if is_adapter_key(k)}
