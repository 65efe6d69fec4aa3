"""Attach a trainable PEFT adapter to a frozen base model, save it, load it back.

Wraps Hugging Face peft (https://github.com/huggingface/peft) rather than re-implementing:

- LoRA (Hu et al., 2021, https://arxiv.org/abs/2106.09685): ``peft.LoraConfig``.
- QLoRA (Dettmers et al., 2023, https://arxiv.org/abs/2305.14314): the same LoRA on a 4-bit
  NF4 base. The frozen bf16 weights (norms, embeddings, lm_head) stay bf16 by default: every
  layer they feed computes in bf16 anyway, and peft's ``prepare_model_for_kbit_training``, which
  casts them to fp32 (``fp32_frozen=True``), makes the whole residual stream fp32, doubling the
  bytes each element-wise step moves.
- Prompt tuning (Lester et al., 2021, https://arxiv.org/abs/2104.08691): ``peft.PromptTuningConfig``.

Adapters are saved as ``adapter_model.safetensors`` + ``adapter_config.json`` holding the adapter
weights only: peft would otherwise also save the full ``lm_head`` / embedding matrix whenever
``lm_head`` is a LoRA target (``save_embedding_layers="auto"``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import torch

from kg.io import atomic_folder

log = logging.getLogger(__name__)

PEFT_METHODS = ("lora", "prompt_tuning")
PROMPT_TUNING_INITS = ("SAMPLE_VOCAB", "RANDOM")
META_FILE = "studyllama.json"  # what the adapter was trained on (model, prompt, method, dev metrics)


def apply_peft(model, *, peft: str, r: int = 0, lora_alpha: int = 0, lora_dropout: float = 0.0,
               target_modules: Sequence[str] = (), num_virtual_tokens: int = 0,
               prompt_tuning_init: str = "SAMPLE_VOCAB", quantized: bool = False, fp32_frozen: bool = False,
               gradient_checkpointing: bool = False):
    """Freeze ``model`` and wrap it with a trainable adapter.

    Args:
        peft: ``lora`` or ``prompt_tuning``.
        r, lora_alpha, lora_dropout, target_modules: ``peft.LoraConfig`` arguments (lora).
        num_virtual_tokens, prompt_tuning_init: ``peft.PromptTuningConfig`` arguments
            (prompt_tuning); init ``SAMPLE_VOCAB`` (default) or ``RANDOM``.
        quantized: the base is 4-bit (QLoRA).
        fp32_frozen: quantized only: cast the frozen bf16/fp16 weights to fp32 first, as peft's
            ``prepare_model_for_kbit_training`` (and the QLoRA paper's code) does. Default False.
        gradient_checkpointing: recompute activations in the backward pass (non-reentrant,
            so no input-grad hooks are needed). Default False.

    Returns:
        A ``peft.PeftModel`` in train mode whose only trainable parameters are the adapter's.
    """
    from peft import LoraConfig, PromptTuningConfig, get_peft_model, prepare_model_for_kbit_training

    ckpt_kwargs = {"use_reentrant": False}
    if quantized and fp32_frozen:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing,
                                                gradient_checkpointing_kwargs=ckpt_kwargs)
    else:  # for a 4-bit base, what prepare_model_for_kbit_training does, less the fp32 cast
        model.requires_grad_(False)
        if gradient_checkpointing and hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=ckpt_kwargs)
        elif gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=ckpt_kwargs)
    if peft == "lora":
        if r <= 0 or lora_alpha <= 0 or not target_modules:
            raise ValueError("method.peft=lora needs method.r > 0, method.lora_alpha > 0 and method.target_modules")
        config = LoraConfig(task_type="CAUSAL_LM", r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                            target_modules=list(target_modules), bias="none")
    elif peft == "prompt_tuning":
        if num_virtual_tokens <= 0 or prompt_tuning_init not in PROMPT_TUNING_INITS:
            raise ValueError(f"method.peft=prompt_tuning needs method.num_virtual_tokens > 0 and "
                             f"method.prompt_tuning_init in {list(PROMPT_TUNING_INITS)}")
        config = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=num_virtual_tokens,
                                    prompt_tuning_init=prompt_tuning_init)
    else:
        raise ValueError(f"method.peft={peft!r}: use one of {list(PEFT_METHODS)} (zero_shot trains nothing)")
    model = get_peft_model(model, config)
    model.train()
    return model


def parameter_report(model) -> dict:
    """Trainable and total parameter counts (4-bit weights counted unpacked, as peft does)."""
    trainable, total = model.get_nb_trainable_parameters()
    return dict(trainable=trainable, total=total, trainable_percent=round(100 * trainable / total, 4))


def format_report(report: dict) -> str:
    return (f"trainable params: {report['trainable']:,} || all params: {report['total']:,} "
            f"|| trainable%: {report['trainable_percent']:.4f}")


def adapter_state_dict(model) -> dict[str, torch.Tensor]:
    """The adapter's weights only, keyed as in ``adapter_model.safetensors``."""
    from peft import get_peft_model_state_dict

    return get_peft_model_state_dict(model, save_embedding_layers=False)


def save_adapter(model, folder: str | Path, meta: dict | None = None) -> Path:
    """Write the adapter (safetensors, weights only) and ``meta`` to ``folder``, replacing it whole.

    The folder is written beside its target and swapped in, so a crash leaves the old
    adapter or the new one, never a mix.
    """
    with atomic_folder(folder) as tmp:
        write_adapter(model, tmp, meta)
    return Path(folder)


def write_adapter(model, folder: Path, meta: dict | None = None) -> None:
    """Write the adapter files into an existing ``folder`` (not atomic: see :func:`save_adapter`)."""
    from models.adapter_gnn import is_llama_adapter, save_adapter as save_llama_adapter

    if is_llama_adapter(model):  # method=adapter|adapter_gnn: not a peft model (models/adapter_gnn.py)
        save_llama_adapter(model, folder)
    else:
        model.save_pretrained(folder, safe_serialization=True, save_embedding_layers=False)
        (folder / "README.md").unlink(missing_ok=True)  # peft's model-card stub
    (folder / META_FILE).write_text(json.dumps(meta or {}, indent=2, default=str) + "\n")


def read_meta(folder: str | Path) -> dict:
    path = Path(folder) / META_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def load_adapter(model, folder: str | Path, *, trainable: bool = False):
    """Load a saved adapter onto ``model`` (the base it was trained on).

    Raises:
        FileNotFoundError: naming the folder and where `studyllama train` puts adapters.
    """
    from peft import PeftModel

    folder = Path(folder).expanduser()
    if not (folder / "adapter_config.json").is_file():
        raise FileNotFoundError(
            f"method.adapter={str(folder)!r}: no adapter_config.json there; point it at the `best` folder of a "
            "`studyllama train` run (outputs/train/<run>/best)")
    model = PeftModel.from_pretrained(model, str(folder), is_trainable=trainable)
    return model if trainable else model.eval()
