"""LLaMA-Adapter + GNN on a 4-bit (bitsandbytes NF4) Llama of SmolLM2's attention shape, on CUDA.

Run with ``pytest -m gpu tests/models/test_adapter_gpu.py``. The base is random (no weights
travel), 4 layers of SmolLM2-135M's shape: hidden 576, 9 query heads, 3 KV heads (grouped-query).
"""

import importlib.util

import pytest
import torch

from models.adapter import adapted_layers
from models.adapter_gnn import build_adapter, graph_conditioning, load_adapter, save_adapter
from models.gnn import subgraph_to_data
from models.loading import load_model
from models.tiny import tiny_tokenizer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
    pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="needs bitsandbytes"),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer()
    config = LlamaConfig(vocab_size=len(tok), hidden_size=576, intermediate_size=1536, num_hidden_layers=4,
                         num_attention_heads=9, num_key_value_heads=3, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("smollm2_shape")
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def load_4bit(folder):
    model, tok = load_model("hf", str(folder), device="cuda", load_in_4bit=True)
    tok.padding_side = "left"
    return model, tok


def graph(seed):
    g = torch.Generator().manual_seed(seed)
    return subgraph_to_data(torch.randn(4, 384, generator=g), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]),
                            torch.tensor([0, 1, 1, 2]), torch.randn(384, generator=g))


def test_4bit_adapter_gnn_equals_base_at_init_then_trains_on_the_graph(folder, tmp_path):
    model, tok = load_4bit(folder)
    assert type(model.model.layers[0].self_attn.k_proj).__name__ == "Linear4bit"
    enc = tok(["What is dropout?", "Define a p-value."], return_tensors="pt", padding=True).to("cuda")
    kw = dict(max_new_tokens=16, do_sample=False, pad_token_id=tok.pad_token_id)
    with torch.no_grad():
        base, base_gen = model(**enc).logits, model.generate(**enc, **kw)
    build_adapter(model, prompt_length=10, num_layers=3, graph=True, gnn="gat")
    graphs = [graph(1), graph(2)]
    with torch.no_grad(), graph_conditioning(model, graphs):
        assert torch.equal(model(**enc).logits, base)
        assert torch.equal(model.generate(**enc, **kw), base_gen)

    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(10):
        with torch.autocast("cuda", dtype=torch.bfloat16), graph_conditioning(model, graphs):
            loss = model(**enc, labels=enc.input_ids).loss
        loss.backward()
        losses.append(loss.item())
        grads = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
        opt.step()
        opt.zero_grad()
    assert grads == {n for n, p in model.named_parameters() if p.requires_grad}  # through Linear4bit k/v/o_proj
    assert losses[-1] < losses[0]
    model.eval()
    with torch.no_grad():
        with graph_conditioning(model, graphs):
            trained = model(**enc).logits
        with graph_conditioning(model, graphs[::-1]):
            assert not torch.allclose(model(**enc).logits, trained, atol=1e-2)

    save_adapter(model, tmp_path)
    fresh, _ = load_4bit(folder)
    load_adapter(fresh, tmp_path)
    assert len(adapted_layers(fresh)) == 3
    with torch.no_grad(), graph_conditioning(fresh, graphs):
        assert torch.equal(fresh(**enc).logits, trained)
