"""Parameter counts (meta device), the conditioning context and the saved-adapter round trip."""

import json

import pytest
import torch

from models.adapter import adapted_layers
from models.adapter_gnn import (LLAMA2_7B, SMOLLM2_135M, build_adapter, count_for_shape, graph_conditioning,
                                is_adapter_folder, load_adapter, lora_count, parameter_report, save_adapter,
                                trainable_summary)
from models.loading import load_model


def gnn_count(F=384, W=256, R=7, layers=2, K=10, D=4096, conv="gat"):
    """GraphEncoder's parameters by hand: input and question projections, relation embeddings
    (with inverse types), message passing, slot queries, two LayerNorms, output projection (no bias)."""
    per_layer = {"gat": 2 * W * W + 4 * W,  # lin, lin_edge; att_src, att_dst, att_edge, bias
                 "sage": 2 * W * W + W}[conv]  # lin_l (+ bias), lin_r
    return 2 * (F * W + W) + 2 * R * W + layers * per_layer + K * W + 2 * 2 * W + W * D


def test_llama2_7b_shape_counts_are_the_papers_and_far_below_lora():
    # LLaMA-Adapter: top L=30 of 32 layers x (K=10 prompt vectors of 4096 + 32 head gates) = 1.2M, the paper's figure.
    adapter = count_for_shape(LLAMA2_7B, prompt_length=10, num_layers=30)
    assert adapter == dict(adapter=30 * (10 * 4096 + 32), graph_encoder=0, total=1_229_760)
    for conv in ("gat", "sage"):
        with_gnn = count_for_shape(LLAMA2_7B, prompt_length=10, num_layers=30, graph=True, gnn=conv)
        assert with_gnn["graph_encoder"] == gnn_count(conv=conv)
    assert with_gnn["total"] < lora_count(LLAMA2_7B) / 20
    assert lora_count(LLAMA2_7B) == 32 * (32 * (4 * 8192 + 3 * (4096 + 11008)) + 4096 + 32000)  # 81.1M


def test_smollm2_shape_counts():
    counts = count_for_shape(SMOLLM2_135M, prompt_length=10, num_layers=30, graph=True, gnn="gat")
    assert counts["adapter"] == 30 * (10 * 576 + 9)
    assert counts["graph_encoder"] == gnn_count(D=576)


def test_lora_count_agrees_with_peft():
    from peft import LoraConfig, get_peft_model

    model, _ = load_model("tiny_random", device="cpu")
    c = model.config
    shape = dict(vocab_size=c.vocab_size, hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
                 num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
                 num_key_value_heads=c.num_key_value_heads)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=targets, task_type="CAUSAL_LM"))
    assert lora_count(shape, r=4, target_modules=targets) == peft_model.get_nb_trainable_parameters()[0]


def test_parameter_report_and_summary():
    model, _ = load_model("tiny_random", device="cpu")
    build_adapter(model, prompt_length=10, num_layers=2, graph=True)
    report = parameter_report(model)
    row = report.splitlines()[-1]
    assert row.startswith("Llama-2-7B shape") and row.endswith("81,108,992")  # LoRA r=32 for comparison
    assert f"{2 * (10 * 4096 + 32):,}" in row  # the same top L=2 layers on the 7B shape
    summary = trainable_summary(model)
    assert summary["trainable"] == summary["adapter"] + summary["graph_encoder"] == sum(
        p.numel() for p in model.parameters() if p.requires_grad)
    assert summary["adapter"] == 2 * (10 * 32 + 4)


def test_conditioning_is_reset_after_the_block_and_checked():
    model, _ = load_model("tiny_random", device="cpu")
    build_adapter(model, prompt_length=2, graph=True, gnn="none", node_dim=4, question_dim=4)
    assert not model.graph_encoder.training  # follows the (eval-mode) model: no dropout at inference
    from models.gnn import subgraph_to_data

    g = subgraph_to_data(torch.ones(1, 4), torch.zeros(2, 0), torch.zeros(0), torch.ones(4))
    with graph_conditioning(model, [g]) as tokens:
        assert tokens.shape == (1, 2, 32)
        assert all(layer.graph_tokens is tokens for layer in adapted_layers(model))
    assert all(layer.graph_tokens is None for layer in adapted_layers(model))
    with pytest.raises(ValueError, match="needs one subgraph per question"):
        with graph_conditioning(model, None):
            pass
    plain, _ = load_model("tiny_random", device="cpu")
    build_adapter(plain, prompt_length=2)
    with pytest.raises(ValueError, match="without a graph encoder"):
        with graph_conditioning(plain, [g]):
            pass


def test_saved_config_rebuilds_the_same_adapter(tmp_path):
    model, _ = load_model("tiny_random", device="cpu")
    build_adapter(model, prompt_length=3, num_layers=1, graph=True, gnn="sage", gnn_layers=1, gnn_hidden=8)
    save_adapter(model, tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["type"] == "llama_adapter" and config["gnn"] == "sage" and config["num_layers"] == 1
    assert is_adapter_folder(tmp_path)
    fresh, _ = load_model("tiny_random", device="cpu")
    load_adapter(fresh, tmp_path)
    assert len(adapted_layers(fresh)) == 1 and fresh.graph_encoder.conv == "sage"
    assert not fresh.training
    with pytest.raises(FileNotFoundError, match="no LLaMA-Adapter"):
        load_adapter(load_model("tiny_random", device="cpu")[0], tmp_path / "missing")
