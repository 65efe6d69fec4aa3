"""GNN reasoning layer: a question's subgraph -> ``K`` graph tokens that condition LLaMA-Adapter's prompt.

Node features are MiniLM embeddings of "name: definition" (``kg.graph.to_pyg``). Message
passing is PyG's GATv1 (Velickovic et al. 2018, https://arxiv.org/abs/1710.10903; relation
embeddings enter its attention as edge features) or GraphSAGE (Hamilton et al. 2017,
https://arxiv.org/abs/1706.02216; relation embeddings added to the neighbour messages), or
none (an ablation: pooling straight over the projected node features). Each relation also
has an inverse type, so information flows both ways along a directed edge (as in R-GCN,
Schlichtkrull et al. 2018, https://arxiv.org/abs/1703.06103).

The ``K`` graph tokens come from question-conditioned attention pooling: token ``k``'s query
is a projection of the question's MiniLM embedding plus a learned slot vector, it attends
over the subgraph's nodes, and the pooled vector is projected to the LLM's hidden size. As
in LLaMA-Adapter V2 (Gao et al. 2023, https://arxiv.org/abs/2304.15010) the tokens are added
to the static adaption prompt (:func:`models.adapter.set_graph_tokens`). A question with an
empty subgraph gets all-zero tokens: exactly the static prompt. Edge weights (``to_pyg``'s
``edge_weight``) are not used: retrieval already kept the strongest edges.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GATConv, SAGEConv
from torch_geometric.utils import scatter, softmax

CONVS = ("gat", "sage", "none")


def subgraph_to_data(node_feats: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor,
                     question: torch.Tensor) -> Data:
    """One question's subgraph in the form :class:`GraphEncoder` reads.

    Args:
        node_feats: node features (MiniLM embeddings of "name: definition").
        edge_index: ``[source; target]`` node positions of each edge.
        edge_type: each edge's relation index (``kg.relations.RELATIONS``).
        question: the question's MiniLM embedding.

    Shapes:
        node_feats: ``(N, F)``; edge_index: ``(2, E)``; edge_type: ``(E,)``; question: ``(F_q,)``
        or ``(1, F_q)``. ``N = 0`` (no retrieved concepts) is allowed: the static prompt is used.
    """
    node_feats = torch.as_tensor(node_feats, dtype=torch.float32)
    edge_index = torch.as_tensor(edge_index, dtype=torch.long).reshape(2, -1)  # (2, E)
    edge_type = torch.as_tensor(edge_type, dtype=torch.long).reshape(-1)  # (E,)
    if edge_type.numel() != edge_index.shape[1]:
        raise ValueError(f"{edge_index.shape[1]} edges but {edge_type.numel()} edge types; give one type per edge")
    if edge_index.numel() and int(edge_index.max()) >= node_feats.shape[0]:
        raise ValueError(f"edge_index refers to node {int(edge_index.max())} of a {node_feats.shape[0]}-node subgraph")
    question = torch.as_tensor(question, dtype=torch.float32).reshape(1, -1)  # (1, F_q): batches to (B, F_q)
    return Data(x=node_feats, edge_index=edge_index, edge_type=edge_type, question=question,
                num_nodes=node_feats.shape[0])


def evidence_subgraph(graph: Data, node_ids: Sequence[str], edge_ids: Sequence[str], question: torch.Tensor) -> Data:
    """One question's subgraph cut from the whole graph.

    Args:
        graph: the whole graph from ``kg.graph.to_pyg`` (with its ``node_names`` and ``edge_ids`` lists).
        node_ids, edge_ids: the question's subgraph, as ``kg.retrieval.Evidence`` names it; edges
            whose ends are not both among ``node_ids`` are dropped. Empty lists give an empty subgraph.
        question: the question's MiniLM embedding, shape ``(F_q,)``.
    """
    node_pos = {n: i for i, n in enumerate(graph.node_names)}
    edge_pos = {e: j for j, e in enumerate(graph.edge_ids)}
    missing = [n for n in node_ids if n not in node_pos] + [e for e in edge_ids if e not in edge_pos]
    if missing:
        raise KeyError(f"{missing[:3]} are not in the graph; retrieve with the graph that to_pyg exported")
    nodes = torch.tensor([node_pos[n] for n in node_ids], dtype=torch.long)  # (N_sub,)
    edges = torch.tensor([edge_pos[e] for e in edge_ids], dtype=torch.long)  # (E_sub,)
    remap = torch.full((graph.num_nodes,), -1, dtype=torch.long)
    remap[nodes] = torch.arange(len(nodes))
    ei = remap[graph.edge_index[:, edges]]  # (2, E_sub), -1 where an end is outside the subgraph
    keep = (ei >= 0).all(dim=0)
    return subgraph_to_data(graph.x[nodes], ei[:, keep], graph.edge_type[edges][keep], question)


class GraphEncoder(nn.Module):
    """Encode a batch of subgraphs into ``K`` question-conditioned graph tokens each.

    Args:
        out_dim: ``D``, the LLM's hidden size.
        num_tokens: ``K``, the adapter's prompt length. Default 10.
        in_dim: node feature size. Default 384 (MiniLM).
        question_dim: question embedding size. Default 384 (MiniLM).
        hidden_dim: GNN width. Default 256.
        conv: ``gat``, ``sage`` or ``none``. Default ``gat``.
        num_layers: message-passing layers (ignored for ``none``). Default 2.
        heads: GAT attention heads; ``hidden_dim`` must divide by it. Default 4.
        num_relations: relation types (inverse types are added on top). Default 7 (``kg.relations.RELATIONS``).
        dropout: dropout on node states during training. Default 0.1.

    Shapes:
        input: a ``Batch`` (or list of ``Data`` from :func:`subgraph_to_data`) of ``B`` graphs with
        ``x (N, in_dim)``, ``edge_index (2, E)``, ``edge_type (E,)``, ``question (B, question_dim)``;
        output: ``(B, K, D)``, all zeros for a graph without nodes.
    """

    def __init__(self, out_dim: int, *, num_tokens: int = 10, in_dim: int = 384, question_dim: int = 384,
                 hidden_dim: int = 256, conv: str = "gat", num_layers: int = 2, heads: int = 4,
                 num_relations: int = 7, dropout: float = 0.1):
        super().__init__()
        if conv not in CONVS:
            raise ValueError(f"method.gnn={conv!r}: use one of {list(CONVS)}")
        if conv == "gat" and hidden_dim % heads:
            raise ValueError(f"method.gnn_hidden={hidden_dim} must be divisible by method.gnn_heads={heads}")
        self.conv, self.num_relations, self.dropout = conv, num_relations, dropout
        self.node_in = nn.Linear(in_dim, hidden_dim)
        self.relation = nn.Embedding(2 * num_relations, hidden_dim) if conv != "none" else None
        n = num_layers if conv != "none" else 0
        self.convs = nn.ModuleList(
            GATConv(hidden_dim, hidden_dim // heads, heads=heads, edge_dim=hidden_dim) if conv == "gat"
            else SAGEConv(hidden_dim, hidden_dim) for _ in range(n))
        self.question = nn.Linear(question_dim, hidden_dim)
        self.slots = nn.Parameter(torch.randn(num_tokens, hidden_dim) / math.sqrt(hidden_dim))
        # Normalised keys and queries (QK-norm, Dehghani et al. 2023, https://arxiv.org/abs/2302.05442):
        # without them the pooling scores grow within a few steps until the softmax is one-hot and
        # the question and slot queries get no gradient.
        self.node_norm = nn.LayerNorm(hidden_dim)
        self.query_norm = nn.LayerNorm(hidden_dim)
        # No bias: a graph without nodes pools to zero and must project to zero (the static prompt).
        self.out = nn.Linear(hidden_dim, out_dim, bias=False)

    def forward(self, graphs: Batch | Sequence[Data]) -> torch.Tensor:
        if not isinstance(graphs, Batch):
            graphs = Batch.from_data_list(list(graphs))
        # Checked before the move to the GPU, where reading the max would wait for queued kernels.
        if graphs.edge_type.numel() and int(graphs.edge_type.max()) >= self.num_relations:
            raise ValueError(f"edge type {int(graphs.edge_type.max())} >= method.num_relations={self.num_relations}; "
                             "set it to len(kg.relations.RELATIONS) of the graph that made the subgraphs")
        device = self.out.weight.device
        graphs = graphs.to(device)
        B, K = graphs.num_graphs, self.slots.shape[0]
        if graphs.num_nodes == 0:
            return torch.zeros(B, K, self.out.out_features, device=device)
        h = self.node_in(graphs.x)  # (N, W)
        edge_index, edge_attr = self.edges(graphs)  # (2, 2E), (2E, W)
        for conv in self.convs:
            h = h + F.dropout(F.elu(self.message_pass(conv, h, edge_index, edge_attr)), self.dropout, self.training)
        h = self.node_norm(h)  # (N, W)
        query = self.query_norm(self.question(graphs.question).unsqueeze(1) + self.slots)  # (B, K, W)
        scores = (h.unsqueeze(1) * query[graphs.batch]).sum(-1) / math.sqrt(h.shape[-1])  # (N, K)
        alpha = softmax(scores, graphs.batch, num_nodes=B, dim=0)  # (N, K), sums to 1 over each graph's nodes
        weighted = alpha.unsqueeze(-1) * h.unsqueeze(1)  # (N, K, W)
        pooled = scatter(weighted, graphs.batch, dim=0, dim_size=B, reduce="sum")  # (B, K, W)
        has_nodes = torch.bincount(graphs.batch, minlength=B) > 0  # (B,)
        return self.out(pooled) * has_nodes.to(pooled.dtype).view(B, 1, 1)  # (B, K, D)

    def edges(self, graphs: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Edges in both directions with inverse relation types, and their relation embeddings."""
        if self.relation is None:
            return graphs.edge_index, None
        edge_index = torch.cat([graphs.edge_index, graphs.edge_index.flip(0)], dim=1)  # (2, 2E)
        edge_type = torch.cat([graphs.edge_type, graphs.edge_type + self.num_relations])  # (2E,)
        return edge_index, self.relation(edge_type)  # (2E, W)

    @staticmethod
    def message_pass(conv: nn.Module, h: torch.Tensor, edge_index: torch.Tensor,
                     edge_attr: torch.Tensor) -> torch.Tensor:
        """One GAT or SAGE layer with relation embeddings. Shapes: h ``(N, W)``, edge_attr ``(E, W)`` -> ``(N, W)``."""
        if isinstance(conv, GATConv):
            return conv(h, edge_index, edge_attr=edge_attr)  # (N, W)
        # SAGE's messages are x_j + r_ij: mean_j(x_j + r_ij) = mean_j(x_j) + mean_j(r_ij), and
        # lin_l is linear, so the relation part is lin_l's weight applied to the mean relation.
        rel = scatter(edge_attr, edge_index[1], dim=0, dim_size=h.shape[0], reduce="mean")  # (N, W)
        return conv(h, edge_index) + F.linear(rel, conv.lin_l.weight)  # (N, W)
