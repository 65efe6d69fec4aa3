"""`generate(condition=...)`: each length-sorted batch runs conditioned on its own questions' subgraphs."""

import torch

from evaluation.generation import generate
from models.adapter import adapted_layers
from models.adapter_gnn import build_adapter, graph_conditioning
from models.gnn import subgraph_to_data
from models.loading import load_model


def square(seed):
    g = torch.Generator().manual_seed(seed)
    return subgraph_to_data(torch.randn(4, 8, generator=g), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]),
                            torch.tensor([0, 1, 1, 2]), torch.ones(8))


def test_batches_are_conditioned_on_their_own_subgraphs():
    model, tok = load_model("tiny_random", device="cpu")
    torch.manual_seed(0)
    build_adapter(model, prompt_length=3, graph=True, gnn="gat", gnn_hidden=8, gnn_heads=2, num_relations=3,
                  node_dim=8, question_dim=8)
    for layer in adapted_layers(model):
        layer.adaption_gate.data.fill_(2.0)
    prompts = ["Q: a?", "Q: a longer one?", "Q: b??"]
    graphs = [square(1), square(2), square(3)]
    seen = []

    def condition(idx):
        seen.append(list(idx))
        return graph_conditioning(model, [graphs[i] for i in idx])

    kw = dict(max_new_tokens=6, stop_strings=(), progress=False)
    together = generate(model, tok, prompts, batch_size=2, condition=condition, **kw)
    assert seen == [[1, 2], [0]]  # length-sorted batches, longest first
    alone = [generate(model, tok, [p], batch_size=1, condition=lambda _, g=g: graph_conditioning(model, [g]),
                      **kw)[0] for p, g in zip(prompts, graphs)]
    assert [g.text for g in together] == [g.text for g in alone]
    swapped = generate(model, tok, prompts, batch_size=2, progress=False, max_new_tokens=6, stop_strings=(),
                       condition=lambda idx: graph_conditioning(model, [graphs[(i + 1) % 3] for i in idx]))
    assert [g.text for g in swapped] != [g.text for g in together]
