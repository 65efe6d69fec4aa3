"""Merge a trained LoRA adapter into its base model and save a plain safetensors model folder.

QLoRA trains against the 4-bit weights, so the adapter is merged into those weights
de-quantized (transformers' ``PreTrainedModel.dequantize``) rather than into some other
full-precision copy. When ``lm_head`` carries LoRA but is tied to the input embeddings
(SmolLM2 ties them), it is untied first: merging into a tied matrix would also change the
embeddings the adapter never touched.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from kg.io import atomic_folder

log = logging.getLogger(__name__)


def untie_lm_head(model) -> None:
    """Give ``lm_head`` its own copy of the embedding matrix and record that in the config."""
    out = model.get_output_embeddings()
    if out is None or out.weight is not model.get_input_embeddings().weight:
        return
    out.weight = torch.nn.Parameter(out.weight.detach().clone(), requires_grad=False)
    model.config.tie_word_embeddings = False
    if getattr(model.config, "text_config", None) is not None:
        model.config.text_config.tie_word_embeddings = False


def merge_adapter(base, tokenizer, adapter_dir: str | Path, out_dir: str | Path) -> Path:
    """Load ``adapter_dir`` onto ``base``, merge, and save model + tokenizer to ``out_dir``.

    Args:
        base: the base model as trained (4-bit for QLoRA: it is de-quantized here).

    Returns:
        ``out_dir``, loadable with ``AutoModelForCausalLM.from_pretrained`` (or ``model.source=hf``).
    """
    from peft import PeftConfig, PeftModel

    config = PeftConfig.from_pretrained(str(adapter_dir))
    if config.is_prompt_learning:
        raise ValueError("train.export_merged: a prompt-tuning adapter has no weights to merge; "
                         "evaluate it with method.adapter=<run>/best instead")
    if getattr(base, "hf_quantizer", None) is not None:
        log.info("export: de-quantizing the base")
        base = base.dequantize()
    targets = config.target_modules or []
    if "lm_head" in targets:
        untie_lm_head(base)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    with atomic_folder(out_dir) as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    log.info("export: merged model saved to %s", out_dir)
    return Path(out_dir)
