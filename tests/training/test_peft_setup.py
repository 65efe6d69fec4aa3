"""PEFT setup: the original work's LoRA on the Llama-2-7B shape, saved keys, prompt tuning, QLoRA on CPU."""

import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file

from models.loading import ModelLoadError
from studyllama.builders import build_model, build_peft
from studyllama.config import load_group_option, register
from training.peft_setup import apply_peft, parameter_report, save_adapter

register()
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]


def lora(model, **kw):
    args = dict(peft="lora", r=32, lora_alpha=64, lora_dropout=0.05, target_modules=TARGETS)
    return apply_peft(model, **{**args, **kw})


def test_lora_on_llama2_7b_shape_has_81m_trainable_parameters():
    """Counted by peft on a meta-device model (no memory), checked against r * (d_in + d_out) per module."""
    from transformers import LlamaConfig, LlamaForCausalLM

    d, ff, layers, vocab = 4096, 11008, 32, 32000
    config = LlamaConfig(vocab_size=vocab, hidden_size=d, intermediate_size=ff, num_hidden_layers=layers,
                         num_attention_heads=32, num_key_value_heads=32)
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    method = load_group_option("method", "lora")
    report = parameter_report(build_peft(model, method))
    per_layer = 4 * 32 * (d + d) + 2 * 32 * (d + ff) + 32 * (ff + d)  # q,k,v,o; gate,up; down
    assert report["trainable"] == layers * per_layer + 32 * (d + vocab) == 81_108_992
    assert report["total"] == 6_738_415_616 + 81_108_992  # Llama-2-7B's 6.74B plus the adapter


def test_lora_wraps_every_projection_and_lm_head(tiny_fresh):
    model = lora(tiny_fresh[0])
    wrapped = sorted({n.split(".")[-1] for n, m in model.named_modules() if hasattr(m, "lora_A")})
    assert wrapped == sorted(TARGETS)
    assert all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)


def test_saved_adapter_holds_exactly_the_lora_weights(tiny_fresh, tmp_path):
    model = lora(tiny_fresh[0])
    save_adapter(model, tmp_path / "a", {"prompt": "chat"})
    keys = set(load_file(tmp_path / "a" / "adapter_model.safetensors"))
    layers = [f"base_model.model.model.layers.{i}." for i in range(2)]
    where = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
             "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}
    expected = {f"{layer}{where[t]}.{t}.lora_{ab}.weight" for layer in layers for t in where for ab in "AB"}
    expected |= {f"base_model.model.lm_head.lora_{ab}.weight" for ab in "AB"}
    assert keys == expected  # no full lm_head / embedding copy, no base weights
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors", "studyllama.json"]


def test_prompt_tuning_trains_only_the_soft_prompt(tiny_fresh):
    model = build_peft(tiny_fresh[0], load_group_option("method", "prompt_tuning"))
    assert parameter_report(model)["trainable"] == 20 * 32  # 20 virtual tokens x hidden size 32


def test_gradient_checkpointing_is_switched_on(tiny_fresh):
    base = tiny_fresh[0]
    assert not base.model.gradient_checkpointing
    lora(base, gradient_checkpointing=True)
    assert base.model.gradient_checkpointing  # the decoder's flag that makes each layer recompute


def test_qlora_on_cpu_fails_saying_it_needs_cuda():
    if torch.cuda.is_available():
        pytest.skip("the CPU error only shows without CUDA")
    model_cfg = load_group_option("model", "tiny_random")
    with pytest.raises(ModelLoadError, match="CUDA"):
        build_model(model_cfg, method=load_group_option("method", "qlora"), training=True)


def test_lora_without_rank_is_refused(tiny_fresh):
    with pytest.raises(ValueError, match="method.r"):
        lora(tiny_fresh[0], r=0)


def test_trained_method_without_adapter_is_refused_at_eval():
    m = OmegaConf.merge(load_group_option("method", "lora"))
    with pytest.raises(ValueError, match="method.adapter"):
        build_model(load_group_option("model", "tiny_random"), method=m)
