"""The GNN reasoning layer on hand-made 4-node graphs, alone and inside the adapted tiny Llama."""

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch, Data

from models.adapter import adapted_layers
from models.adapter_gnn import build_adapter, graph_conditioning
from models.gnn import CONVS, GraphEncoder, evidence_subgraph, subgraph_to_data
from models.loading import load_model

F_IN, D, K = 8, 32, 3


def encoder(conv, **kw):
    torch.manual_seed(0)
    return GraphEncoder(D, num_tokens=K, in_dim=F_IN, question_dim=F_IN, hidden_dim=8, conv=conv, heads=2,
                        num_relations=3, **kw).eval()


def square(seed=0, q=None):
    """4 nodes, edges 0->1 (is_a), 1->2 (uses), 2->3 (uses), 3->0 (related_to)."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(F_IN, generator=g) if q is None else q
    return subgraph_to_data(torch.randn(4, F_IN, generator=g), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]),
                            torch.tensor([0, 1, 1, 2]), q)


def empty(q=None):
    q = torch.ones(F_IN) if q is None else q
    return subgraph_to_data(torch.zeros(0, F_IN), torch.zeros(2, 0), torch.zeros(0), q)


@pytest.mark.parametrize("conv", CONVS)
def test_output_shape(conv):
    out = encoder(conv)([square(0), square(1)])
    assert out.shape == (2, K, D)


@pytest.mark.parametrize("conv", CONVS)
def test_batching_graphs_of_different_sizes_equals_one_by_one(conv):
    g3 = subgraph_to_data(torch.randn(3, F_IN), torch.tensor([[0, 1], [1, 2]]), torch.tensor([2, 0]), torch.randn(F_IN))
    edgeless = subgraph_to_data(torch.randn(2, F_IN), torch.zeros(2, 0), torch.zeros(0), torch.randn(F_IN))
    graphs = [square(0), g3, empty(), edgeless, square(1)]
    enc = encoder(conv)
    together = enc(Batch.from_data_list(graphs))
    alone = torch.cat([enc([g]) for g in graphs])
    assert together.shape == (5, K, D)
    assert torch.allclose(together, alone, atol=1e-6)


@pytest.mark.parametrize("conv", CONVS)
def test_empty_subgraph_gives_zero_graph_tokens(conv):
    out = encoder(conv)([square(0), empty(), empty()])
    assert torch.equal(out[1:], torch.zeros(2, K, D))
    assert out[0].abs().sum() > 0
    assert torch.equal(encoder(conv)([empty()]), torch.zeros(1, K, D))  # a batch with no nodes at all


def test_question_conditions_the_pooling():
    enc = encoder("gat")
    a, b = enc([square(0, q=torch.ones(F_IN))]), enc([square(0, q=-torch.ones(F_IN))])
    assert not torch.allclose(a, b)


def test_sage_messages_carry_relation_embeddings():
    # One SAGE layer by hand: h_i' = lin_l(mean_j (h_j + r_ij)) + lin_r(h_i), edges both ways.
    enc = encoder("sage", num_layers=1)
    g = square(0)
    h = enc.node_in(g.x)  # (4, W)
    conv = enc.convs[0]
    src = torch.tensor([0, 1, 2, 3, 1, 2, 3, 0])
    dst = torch.tensor([1, 2, 3, 0, 0, 1, 2, 3])
    rel = enc.relation(torch.tensor([0, 1, 1, 2, 3, 4, 4, 5]))  # inverse types are offset by num_relations=3
    expected = torch.stack([(h[src[dst == i]] + rel[dst == i]).mean(0) for i in range(4)])
    expected = conv.lin_l(expected) + conv.lin_r(h)
    edge_index, edge_attr = enc.edges(Batch.from_data_list([g]))
    assert torch.allclose(enc.message_pass(conv, h, edge_index, edge_attr), expected, atol=1e-6)


def test_relation_types_must_be_known():
    bad = subgraph_to_data(torch.randn(2, F_IN), torch.tensor([[0], [1]]), torch.tensor([3]), torch.randn(F_IN))
    with pytest.raises(ValueError, match="num_relations=3"):
        encoder("gat")([bad])


def test_evidence_subgraph_cuts_the_whole_graph_by_names():
    whole = Data(x=torch.arange(5.0).repeat_interleave(F_IN).view(5, F_IN), num_nodes=5,
                 edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]), edge_type=torch.tensor([0, 1, 2, 0]),
                 node_names=["a", "b", "c", "d", "e"], edge_ids=["e0", "e1", "e2", "e3"])
    sub = evidence_subgraph(whole, ["c", "b", "d"], ["e1", "e2", "e3"], torch.zeros(F_IN))
    assert sub.x[:, 0].tolist() == [2.0, 1.0, 3.0]
    assert sub.edge_index.tolist() == [[1, 0], [0, 2]]  # b->c, c->d; d->e leaves the subgraph
    assert sub.edge_type.tolist() == [1, 2]
    assert sub.question.shape == (1, F_IN)
    assert evidence_subgraph(whole, [], [], torch.zeros(F_IN)).num_nodes == 0
    with pytest.raises(KeyError, match="not in the graph"):
        evidence_subgraph(whole, ["z"], [], torch.zeros(F_IN))


def adapted_tiny():
    model, tok = load_model("tiny_random", device="cpu")
    torch.manual_seed(0)
    build_adapter(model, prompt_length=K, graph=True, gnn="gat", gnn_hidden=8, gnn_heads=2, num_relations=3,
                  node_dim=F_IN, question_dim=F_IN)
    tok.padding_side = "left"
    return model.eval(), tok(["What is dropout?", "Define a p-value."], return_tensors="pt", padding=True)


def logits(model, enc, graphs):
    with torch.no_grad(), graph_conditioning(model, graphs):
        return model(**enc).logits


def test_empty_subgraph_gives_exactly_the_static_prompt():
    model, enc = adapted_tiny()
    for layer in adapted_layers(model):
        layer.adaption_gate.data.fill_(0.5)
    with torch.no_grad():
        static = model(**enc).logits  # no conditioning: the static prompt alone
    assert torch.equal(logits(model, enc, [empty(), empty()]), static)
    assert not torch.allclose(logits(model, enc, [square(0), empty()])[0], static[0])


def test_changing_the_subgraph_changes_logits_once_the_gate_is_open():
    model, enc = adapted_tiny()
    a, b = [square(0), square(1)], [square(2), square(3)]
    assert torch.equal(logits(model, enc, a), logits(model, enc, b))  # zero gates: the base model
    for layer in adapted_layers(model):
        layer.adaption_gate.data.fill_(0.5)
    diff = (logits(model, enc, a) - logits(model, enc, b)).abs().amax(dim=(1, 2))  # (B,)
    assert (diff > 1e-4).all()
    assert F.mse_loss(logits(model, enc, a), logits(model, enc, a)) == 0  # deterministic in eval mode
