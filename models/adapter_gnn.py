"""LLaMA-Adapter with a GNN over each question's subgraph: build, condition per batch, save, load, count.

The pieces are :mod:`models.adapter` (zero-init gated adaption prompts, Zhang et al. 2023,
https://arxiv.org/abs/2303.16199) and :mod:`models.gnn` (subgraph -> ``K`` graph tokens).
Per question, the prompt of every adapted layer is static prompt + graph tokens (LLaMA-Adapter
V2, Gao et al. 2023, https://arxiv.org/abs/2304.15010). Use::

    model = build_adapter(model, prompt_length=10, num_layers=15, gnn="gat")
    with graph_conditioning(model, graphs):  # one torch_geometric Data per row of the batch
        loss = model(**batch).loss           # or model.generate(**batch)
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator, Sequence

import torch
from torch import nn

from models.adapter import GRAPH_ENCODER, add_adapter, adapter_state_dict, set_graph_tokens
from models.gnn import CONVS, GraphEncoder

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
CONFIG_ATTR = "studyllama_adapter"  # the model attribute holding build_adapter's arguments, for saving

# Llama-2-7B (Touvron et al. 2023, https://arxiv.org/abs/2307.09288) and SmolLM2-135M config shapes.
LLAMA2_7B = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=32)
SMOLLM2_135M = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                    num_attention_heads=9, num_key_value_heads=3)


def build_adapter(model: nn.Module, *, prompt_length: int = 10, num_layers: int | None = None,
                  graph: bool = False, gnn: str = "gat", gnn_layers: int = 2, gnn_hidden: int = 256,
                  gnn_heads: int = 4, gnn_dropout: float = 0.1, num_relations: int = 7, node_dim: int = 384,
                  question_dim: int = 384) -> nn.Module:
    """Freeze ``model`` and add LLaMA-Adapter, with a graph encoder when ``graph`` is true.

    Args:
        prompt_length: ``K``. Default 10 (the paper's).
        num_layers: top ``L`` layers adapted; None: all. Default None.
        graph: add a :class:`models.gnn.GraphEncoder` (method ``adapter_gnn``). Default False.
        gnn: ``gat``, ``sage`` or ``none`` (pooling without message passing). Default ``gat``.
        gnn_layers, gnn_hidden, gnn_heads, gnn_dropout, num_relations, node_dim, question_dim:
            the encoder's ``num_layers``, ``hidden_dim``, ``heads``, ``dropout``, ``num_relations``,
            ``in_dim``, ``question_dim``. Defaults 2, 256, 4, 0.1, 7, 384, 384.

    Returns:
        ``model``, changed in place; its ``studyllama_adapter`` attribute records these arguments.
    """
    spec = dict(prompt_length=prompt_length, num_layers=num_layers, graph=graph)
    encoder = None
    if graph:
        if gnn not in CONVS:
            raise ValueError(f"method.gnn={gnn!r}: use one of {list(CONVS)}")
        spec.update(gnn=gnn, gnn_layers=gnn_layers, gnn_hidden=gnn_hidden, gnn_heads=gnn_heads,
                    gnn_dropout=gnn_dropout, num_relations=num_relations, node_dim=node_dim, question_dim=question_dim)
        encoder = GraphEncoder(model.config.hidden_size, num_tokens=prompt_length, in_dim=node_dim,
                               question_dim=question_dim, hidden_dim=gnn_hidden, conv=gnn, num_layers=gnn_layers,
                               heads=gnn_heads, num_relations=num_relations, dropout=gnn_dropout)
    add_adapter(model, prompt_length=prompt_length, num_layers=num_layers, graph_encoder=encoder)
    setattr(model, CONFIG_ATTR, spec)
    return model


def graph_encoder(model: nn.Module) -> GraphEncoder | None:
    return getattr(model, GRAPH_ENCODER, None)


@contextlib.contextmanager
def graph_conditioning(model: nn.Module, graphs) -> Iterator[torch.Tensor | None]:
    """Within the block, each adapted layer's prompt is static + ``model.graph_encoder(graphs)``.

    Args:
        graphs: a ``torch_geometric`` ``Batch`` or a list of ``Data`` (:func:`models.gnn.subgraph_to_data`),
            one per row of the batch about to be run; None leaves the static prompt (method ``adapter``).

    Yields:
        The graph tokens, shape ``(B, K, D)``, or None. They stay in the autograd graph, so a
        ``backward()`` after the block still reaches the GNN; with gradient checkpointing, call
        ``backward()`` inside the block (the recomputed forward reads the tokens again).
    """
    encoder = graph_encoder(model)
    if graphs is not None and encoder is None:
        raise ValueError("graphs given to a model without a graph encoder; use method=adapter_gnn, or pass None")
    if graphs is None and encoder is not None:
        raise ValueError("method=adapter_gnn needs one subgraph per question (an empty one falls back to the "
                         "static prompt); got None")
    tokens = encoder(graphs) if encoder is not None else None
    set_graph_tokens(model, tokens)
    try:
        yield tokens
    finally:
        set_graph_tokens(model, None)


def is_llama_adapter(model: nn.Module) -> bool:
    """Whether ``model`` carries a LLaMA-Adapter built by :func:`build_adapter`."""
    return getattr(model, CONFIG_ATTR, None) is not None


def save_adapter(model: nn.Module, folder: str | Path) -> Path:
    """Write ``adapter_model.safetensors`` (adapter and GNN tensors only) and ``adapter_config.json`` to ``folder``."""
    from safetensors.torch import save_file

    if not is_llama_adapter(model):
        raise ValueError("this model has no LLaMA-Adapter to save; build it with models.adapter_gnn.build_adapter")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in adapter_state_dict(model).items()}
    save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    config = dict(type="llama_adapter", **getattr(model, CONFIG_ATTR))
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return folder


def is_adapter_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds a LLaMA-Adapter saved by :func:`save_adapter` (not a peft adapter)."""
    path = Path(folder).expanduser() / CONFIG_FILE
    return path.is_file() and json.loads(path.read_text()).get("type") == "llama_adapter"


def load_adapter_weights(model: nn.Module, folder: str | Path) -> nn.Module:
    """Copy the tensors saved in ``folder`` into ``model``'s adapter, which must have exactly those keys."""
    from safetensors.torch import load_file

    saved = load_file(str(Path(folder).expanduser() / WEIGHTS_FILE))
    own = adapter_state_dict(model)
    if set(saved) != set(own):
        missing, unexpected = sorted(set(own) - set(saved))[:3], sorted(set(saved) - set(own))[:3]
        raise ValueError(f"{folder}: saved keys differ from this adapter's (missing {missing}, unexpected "
                         f"{unexpected}); use the base model and method it was trained with")
    with torch.no_grad():
        for k, v in saved.items():
            own[k].copy_(v)
    return model


def load_adapter(model: nn.Module, folder: str | Path) -> nn.Module:
    """Rebuild the adapter described in ``folder`` on a fresh base ``model``, load its weights, set eval mode.

    Raises:
        FileNotFoundError: the folder holds no LLaMA-Adapter.
        ValueError: the saved tensors do not match the rebuilt adapter key for key.
    """
    if not is_adapter_folder(folder):
        raise FileNotFoundError(f"method.adapter={str(folder)!r}: no LLaMA-Adapter {CONFIG_FILE} there; point it at "
                                "the `best` folder of a `studyllama train method=adapter|adapter_gnn` run")
    config = json.loads((Path(folder).expanduser() / CONFIG_FILE).read_text())
    config.pop("type")
    build_adapter(model, **config)
    return load_adapter_weights(model, folder).eval()


def count_trainable(model: nn.Module) -> dict[str, int]:
    """Trainable parameters: ``adapter`` (prompts and gates), ``graph_encoder`` and ``total``."""
    counts = dict(adapter=0, graph_encoder=0)
    for name, p in model.named_parameters():
        if p.requires_grad:
            counts["graph_encoder" if name.startswith(GRAPH_ENCODER + ".") else "adapter"] += p.numel()
    counts["total"] = counts["adapter"] + counts["graph_encoder"]
    return counts


def trainable_summary(model: nn.Module) -> dict:
    """``trainable``, ``total`` (4-bit weights counted unpacked, as peft does) and ``trainable_percent``,
    plus the ``adapter`` / ``graph_encoder`` split: the dict ``training.peft_setup.parameter_report`` gives."""
    counts = count_trainable(model)
    # bitsandbytes packs two 4-bit weights per uint8 element.
    total = sum(p.numel() * (2 if type(p).__name__ == "Params4bit" else 1) for p in model.parameters())
    return dict(trainable=counts["total"], total=total, trainable_percent=round(100 * counts["total"] / total, 4),
                adapter=counts["adapter"], graph_encoder=counts["graph_encoder"])


def count_for_shape(shape: dict, **adapter_kwargs) -> dict[str, int]:
    """:func:`count_trainable` for a Llama of config ``shape``, built on the meta device (no memory)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    with torch.device("meta"):
        model = build_adapter(LlamaForCausalLM(LlamaConfig(**shape)), **adapter_kwargs)
    return count_trainable(model)


def lora_count(shape: dict, r: int = 32, target_modules: Sequence[str] = (
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head")) -> int:
    """LoRA's trainable parameters, ``r * (in + out)`` per target matrix (conf/method/lora.yaml's targets)."""
    D, F, n = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    kv = D // shape["num_attention_heads"] * shape["num_key_value_heads"]
    per_layer = dict(q_proj=D + D, k_proj=D + kv, v_proj=D + kv, o_proj=D + D, gate_proj=D + F, up_proj=D + F,
                     down_proj=F + D)
    total = sum(n * r * per_layer[m] for m in target_modules if m in per_layer)
    return total + (r * (D + shape["vocab_size"]) if "lm_head" in target_modules else 0)


def parameter_report(model: nn.Module, *, lora_r: int = 32) -> str:
    """A table of the trainable parameters of ``model``'s adapter and of the same adapter on the
    SmolLM2-135M and Llama-2-7B shapes (top ``num_layers`` layers, capped at each shape's depth),
    beside LoRA's (rank ``lora_r`` on conf/method/lora.yaml's targets)."""
    if not is_llama_adapter(model):
        raise ValueError("parameter_report needs a model built by models.adapter_gnn.build_adapter")
    lines = [f"{'':<22}{'adapter':>12}{'gnn':>12}{'total':>12}{f'LoRA r={lora_r}':>14}"]
    c = model.config
    own = dict(vocab_size=c.vocab_size, hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
               num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
               num_key_value_heads=c.num_key_value_heads)
    rows = [("this model", count_trainable(model), lora_count(own, lora_r))]
    for name, shape in (("SmolLM2-135M shape", SMOLLM2_135M), ("Llama-2-7B shape", LLAMA2_7B)):
        kw = dict(getattr(model, CONFIG_ATTR))
        if kw.get("num_layers") is not None:
            kw["num_layers"] = min(kw["num_layers"], shape["num_hidden_layers"])
        rows.append((name, count_for_shape(shape, **kw), lora_count(shape, lora_r)))
    for name, n, lora in rows:
        lines.append(f"{name:<22}{n['adapter']:>12,}{n['graph_encoder']:>12,}{n['total']:>12,}{lora:>14,}")
    return "\n".join(lines)
