"""LLaMA-Adapter on a tiny random Llama (grouped-query attention: 4 query heads, 2 KV heads)."""

import copy

import pytest
import torch
from safetensors.torch import load_file

from models.adapter import AdaptedAttention, adapted_layers, add_adapter, adapter_state_dict, set_graph_tokens
from models.adapter_gnn import build_adapter, graph_conditioning, load_adapter, save_adapter
from models.gnn import subgraph_to_data
from models.loading import load_model


def tiny(num_kv_heads=2, num_layers=2):
    return load_model("tiny_random", device="cpu", tiny=dict(num_layers=num_layers, num_kv_heads=num_kv_heads))


def batch(tok, texts=("What is dropout?", "Define a p-value, briefly.")):
    tok.padding_side = "left"
    return tok(list(texts), return_tensors="pt", padding=True)


def open_gates(model, value=0.5):
    with torch.no_grad():
        for layer in adapted_layers(model):
            layer.adaption_gate.fill_(value)


@pytest.mark.parametrize("num_kv_heads", [2, 4])  # grouped-query and multi-head attention
def test_output_equals_base_model_at_init(num_kv_heads):
    model, tok = tiny(num_kv_heads)
    enc = batch(tok)
    with torch.no_grad():
        base = model(**enc).logits
        add_adapter(model, prompt_length=3)
        adapted = model(**enc).logits
    assert torch.equal(adapted, base)


def test_greedy_generation_with_kv_cache_equals_base_at_init():
    model, tok = tiny()
    enc = batch(tok)
    kw = dict(max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id, use_cache=True)
    base = model.generate(**enc, **kw)
    add_adapter(model, prompt_length=3)
    assert torch.equal(model.generate(**enc, **kw), base)


def test_cached_decoding_matches_full_forward_once_gated():
    # Each cached step must give its queries the right RoPE position for the prompt scores.
    model, tok = tiny()
    add_adapter(model, prompt_length=3)
    open_gates(model)
    ids = tok(["abcdefgh"], return_tensors="pt").input_ids  # (1, 8)
    with torch.no_grad():
        full = model(ids).logits  # (1, 8, V)
        out = model(ids[:, :5], use_cache=True)
        step = model(ids[:, 5:6], past_key_values=out.past_key_values, use_cache=True).logits
    assert torch.allclose(step[:, 0], full[:, 5], atol=1e-5)
    assert not torch.allclose(full, tiny()[0](ids).logits, atol=1e-3)  # the open gates do change the output


def test_matches_peft_adaption_prompt_with_one_shared_gate():
    # peft's AdaptionPrompt (a static prompt and one raw gate per layer) is an independent
    # implementation of the same attention: with every head's tanh(gate) equal to its gate,
    # the two models must agree.
    from peft import AdaptionPromptConfig, get_peft_model

    model, tok = tiny()
    reference = get_peft_model(copy.deepcopy(model), AdaptionPromptConfig(adapter_len=3, adapter_layers=2,
                                                                          task_type="CAUSAL_LM"))
    add_adapter(model, prompt_length=3)
    ref_prompts = [p for n, p in reference.named_parameters() if n.endswith("adaption_prompt")]
    ref_gates = [p for n, p in reference.named_parameters() if n.endswith("adaption_gate")]
    with torch.no_grad():
        for ours, prompt, gate in zip(adapted_layers(model), ref_prompts, ref_gates):
            prompt.normal_()
            gate.fill_(0.3)
            ours.adaption_prompt.copy_(prompt[0])
            ours.adaption_gate.fill_(torch.atanh(torch.tensor(0.3)))
        enc = batch(tok)
        assert torch.allclose(model(**enc).logits, reference(**enc).logits, atol=1e-5)


def test_top_layers_only_and_base_frozen():
    model, _ = tiny(num_layers=3)
    add_adapter(model, prompt_length=4, num_layers=2)
    wrapped = [isinstance(layer.self_attn, AdaptedAttention) for layer in model.model.layers]
    assert wrapped == [False, True, True]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    keys = ("adaption_prompt", "adaption_gate")
    assert trainable == {f"model.layers.{i}.self_attn.{k}" for i in (1, 2) for k in keys}
    assert adapted_layers(model)[0].adaption_prompt.shape == (4, 32)
    assert adapted_layers(model)[0].adaption_gate.shape == (1, 4, 1, 1)
    with pytest.raises(ValueError, match="adapter_layers=4"):
        add_adapter(tiny(num_layers=3)[0], num_layers=4)
    with pytest.raises(ValueError, match="already has an adapter"):
        add_adapter(model)


def graph(q, n=4):
    # a 4-node chain 0 -> 1 -> 2 -> 3 with relation types 0, 1, 2
    return subgraph_to_data(torch.randn(n, 384), torch.tensor([[0, 1, 2], [1, 2, 3]]), torch.tensor([0, 1, 2]), q)


def test_gradients_reach_only_adapter_and_gnn():
    model, tok = tiny()
    build_adapter(model, prompt_length=3, graph=True, gnn="gat", gnn_hidden=16, gnn_heads=2)
    open_gates(model)  # at a zero gate only the gates get gradient (the paper's zero-init attention)
    enc = batch(tok)
    torch.manual_seed(0)
    with graph_conditioning(model, [graph(torch.randn(384)), graph(torch.randn(384))]):
        model(**enc, labels=enc.input_ids).loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert with_grad == trainable
    assert {n.split(".")[0] for n in trainable if not n.startswith("model.layers.")} == {"graph_encoder"}
    assert {n.rsplit(".", 1)[-1] for n in trainable if n.startswith("model.")} == {"adaption_prompt", "adaption_gate"}


def test_saved_state_dict_holds_exactly_adapter_and_gnn_keys(tmp_path):
    model, tok = tiny()
    build_adapter(model, prompt_length=3, graph=True, gnn="sage", gnn_layers=1, gnn_hidden=16)
    save_adapter(model, tmp_path)
    layers = {f"model.layers.{i}.self_attn.{k}" for i in (0, 1) for k in ("adaption_prompt", "adaption_gate")}
    gnn = {"graph_encoder." + k for k in ("slots", "node_in.weight", "node_in.bias", "relation.weight",
                                          "convs.0.lin_l.weight", "convs.0.lin_l.bias", "convs.0.lin_r.weight",
                                          "question.weight", "question.bias", "node_norm.weight", "node_norm.bias",
                                          "query_norm.weight", "query_norm.bias", "out.weight")}
    assert set(load_file(tmp_path / "adapter_model.safetensors")) == layers | gnn
    assert set(adapter_state_dict(model)) == layers | gnn


def test_load_adapter_restores_the_trained_model(tmp_path):
    model, tok = tiny()
    build_adapter(model, prompt_length=3, graph=True, gnn="gat", gnn_hidden=16, gnn_heads=2)
    open_gates(model)
    save_adapter(model.eval(), tmp_path)
    fresh, _ = tiny()
    load_adapter(fresh, tmp_path)
    enc, graphs = batch(tok), [graph(torch.ones(384)), graph(-torch.ones(384))]
    with torch.no_grad(), graph_conditioning(model, graphs):
        expected = model(**enc).logits
    with torch.no_grad(), graph_conditioning(fresh, graphs):
        assert torch.equal(fresh(**enc).logits, expected)


def test_graph_tokens_must_match_the_batch():
    model, tok = tiny()
    add_adapter(model, prompt_length=3)
    set_graph_tokens(model, torch.zeros(3, 3, 32))
    with pytest.raises(ValueError, match="graph tokens for 3 questions but a batch of 2"):
        model(**batch(tok))
    with pytest.raises(ValueError, match="num_tokens/out_dim must be K/D"):
        set_graph_tokens(model, torch.zeros(2, 4, 32))


def test_gradient_checkpointing_gives_the_same_gradients():
    # The recomputed forward in the backward pass must see the same queries and graph tokens.
    grads = []
    for checkpointing in (False, True):
        model, tok = tiny()
        torch.manual_seed(0)
        build_adapter(model, prompt_length=3, graph=True, gnn="gat", gnn_hidden=16, gnn_heads=2, gnn_dropout=0.0)
        open_gates(model)
        if checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.train()
        enc = batch(tok)
        with graph_conditioning(model, [graph(torch.ones(384)), graph(-torch.ones(384))]):
            model(**enc, labels=enc.input_ids, use_cache=False).loss.backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-6), name
