"""Using a saved adapter: evaluation loads it onto the base; export merges it into a plain model."""

import copy

import pytest
import torch
from omegaconf import OmegaConf

from studyllama.builders import build_model, model_fingerprint
from studyllama.config import load_group_option, register
from training.export import merge_adapter
from training.peft_setup import apply_peft, save_adapter

register()


def trained_looking(model, **kw):
    """LoRA with random B (a fresh LoRA is a no-op: B starts at zero)."""
    model = apply_peft(model, peft="lora", r=4, lora_alpha=8, lora_dropout=0.0,
                       target_modules=["q_proj", "v_proj", "gate_proj", "lm_head"], **kw)
    g = torch.Generator().manual_seed(0)
    for n, p in model.named_parameters():
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.5, generator=g)
    return model.eval()


def greedy(model, tok, text="<|im_start|>user\nWhat is a stack?<|im_end|>\n<|im_start|>assistant\n"):
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    return out[0, enc.input_ids.shape[1]:].tolist()


def test_eval_with_adapter_loads_it_and_changes_the_answers(tmp_path):
    model_cfg = load_group_option("model", "tiny_random")
    base, tok = build_model(model_cfg)
    save_adapter(trained_looking(base), tmp_path / "run" / "best", {"prompt": "chat"})
    method = OmegaConf.merge(load_group_option("method", "lora"), {"adapter": str(tmp_path / "run" / "best")})
    tuned, _ = build_model(model_cfg, method=method, prompt_name="chat")
    zero, _ = build_model(model_cfg)
    assert type(tuned).__name__ == "PeftModelForCausalLM" and not tuned.training
    assert greedy(tuned, tok) != greedy(zero, tok)

    zero_shot = load_group_option("method", "zero_shot")
    fp = model_fingerprint(model_cfg, method, 0)
    assert fp != model_fingerprint(model_cfg, zero_shot, 0)
    # retraining into the same folder must not reuse answers of the old adapter
    with torch.no_grad():
        for n, p in tuned.named_parameters():
            if "lora_B" in n:
                p.add_(1.0)
    save_adapter(tuned, tmp_path / "run" / "best", {"prompt": "chat"})
    assert model_fingerprint(model_cfg, method, 0) != fp


def test_missing_adapter_folder_says_where_adapters_are(tmp_path):
    method = OmegaConf.merge(load_group_option("method", "lora"), {"adapter": str(tmp_path / "nope")})
    with pytest.raises(FileNotFoundError, match="studyllama train"):
        build_model(load_group_option("model", "tiny_random"), method=method)


def test_export_merges_into_an_untied_copy_of_a_tied_base(tmp_path):
    """SmolLM2 ties lm_head to the embeddings; the merged lm_head must not drag the embeddings along."""
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    from models.tiny import tiny_tokenizer

    tok = tiny_tokenizer()
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    base = LlamaForCausalLM(config).eval()
    assert base.lm_head.weight is base.model.embed_tokens.weight
    pristine = copy.deepcopy(base)
    tuned = trained_looking(base)
    save_adapter(tuned, tmp_path / "best")
    ids = torch.tensor([[5, 17, 33, 8, 41]])
    with torch.no_grad():
        expected = tuned(input_ids=ids).logits
    merge_adapter(copy.deepcopy(pristine), tok, tmp_path / "best", tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, expected, atol=1e-4, rtol=1e-4)
    assert torch.equal(merged.model.embed_tokens.weight, pristine.model.embed_tokens.weight)
    assert not merged.config.tie_word_embeddings
