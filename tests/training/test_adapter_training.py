"""Acceptance: `fit` trains LLaMA-Adapter + GNN, and the trained model's answer depends on the subgraph.

Two kinds of examples share one prompt; only their subgraphs tell them apart ("yes" goes with
graph A, "no" with graph B). After a few steps the saved and reloaded adapter must give each
answer a lower loss under its own graph than under the other one: the graph flows into the model.
"""

from contextlib import nullcontext

import torch

from models.adapter_gnn import build_adapter, load_adapter
from models.gnn import subgraph_to_data
from models.loading import load_model
from studyllama.builders import build_graph_condition
from training.data import eos_token_id, tokenize_example
from training.dev_eval import dev_loss
from training.loop import fit

GNN = dict(prompt_length=4, graph=True, gnn="gat", gnn_hidden=16, gnn_heads=2, num_relations=3, node_dim=8,
           question_dim=8, gnn_dropout=0.0)


def square(seed):
    g = torch.Generator().manual_seed(seed)
    return subgraph_to_data(torch.randn(4, 8, generator=g), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]),
                            torch.tensor([0, 1, 1, 2]), torch.ones(8))


def answer_losses(model, tok, examples, graph_of):
    """Per-example loss with each example conditioned on ``graph_of[example id]``."""
    condition = build_graph_condition(model, graph_of)
    return torch.tensor([dev_loss(model, [e], batch_size=1, pad_token_id=tok.pad_token_id, device="cpu",
                                  autocast=nullcontext, condition=condition) for e in examples])


def test_trained_adapter_gnn_answers_by_its_subgraph(tiny_fresh, tmp_path):
    model, tok = tiny_fresh
    torch.manual_seed(0)
    build_adapter(model, **GNN)
    eos = eos_token_id(tok, model)
    ids = [f"{kind}{j}" for kind in "ab" for j in range(8)]
    train = [tokenize_example(i, "Q: which one?\nA: ", "yes" if i[0] == "a" else "no", tok, eos_token_id=eos,
                              add_special_tokens=False) for i in ids]
    graphs = {i: square(1 if i[0] == "a" else 2) for i in ids}
    swapped = {i: graphs["b0" if i[0] == "a" else "a0"] for i in ids}
    dev = [train[0], train[8]]  # one "yes", one "no"
    before = answer_losses(model, tok, dev, graphs)
    assert torch.equal(before, answer_losses(model, tok, dev, swapped))  # zero gates: the graph can't matter yet

    result = fit(model, tok, train, dev, out_dir=tmp_path, seed=0, epochs=3, batch_size=2, micro_batch_size=2,
                 lr=5e-2, schedule="constant", precision="fp32", dev_max_new_tokens=2, dev_batch_size=2,
                 log_every_steps=8, select_metric="loss", condition=build_graph_condition(model, graphs))
    assert result["steps"] == 24

    trained, _ = load_model("tiny_random", device="cpu")  # the same base weights (seed 0), untouched
    load_adapter(trained, tmp_path / "best")
    after, other = answer_losses(trained, tok, dev, graphs), answer_losses(trained, tok, dev, swapped)
    assert (after < before - 0.1).all()  # it learned
    assert (after < other - 0.05).all()  # and what it learned depends on the subgraph
