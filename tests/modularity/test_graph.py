"""WeightGraph construction: exact edges of hand-built MLPs, gains folded, dead units, top-k, bad input."""

import numpy as np
import pytest
import torch
from torch import nn

from modinterp.modularity.construct import graph_of
from modinterp.modularity.graph import WeightGraph
from modinterp.models import BoardTransformer, TransformerConfig, build_model


def _set(linear: nn.Linear, weight) -> nn.Linear:
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight, dtype=torch.float32))
        linear.bias.zero_()
    return linear


def _edge_dict(graph: WeightGraph) -> dict[tuple[str, str], float]:
    names = graph.nodes.name
    return {(names[a], names[b]): round(float(c), 6) for (a, b), c in zip(graph.edges, graph.capacities)}


def test_hand_built_mlp_graph_has_exactly_the_expected_edges():
    model = nn.Sequential(_set(nn.Linear(2, 2), [[1.0, -2.0], [0.0, 3.0]]), nn.ReLU(),
                          _set(nn.Linear(2, 1), [[-0.5, 4.0]]))
    graph = graph_of(model)
    assert graph.n_nodes == 5
    assert _edge_dict(graph) == {
        ("input0.0", "hidden1.0"): 1.0, ("input0.1", "hidden1.0"): 2.0, ("input0.1", "hidden1.1"): 3.0,
        ("hidden1.0", "output2.0"): 0.5, ("hidden1.1", "output2.0"): 4.0}


def test_layernorm_gain_is_folded_into_the_next_layer():
    ln = nn.LayerNorm(2)
    with torch.no_grad():
        ln.weight.copy_(torch.tensor([2.0, -0.5]))
    model = nn.Sequential(_set(nn.Linear(1, 2), [[1.0], [1.0]]), ln, nn.GELU(), _set(nn.Linear(2, 1), [[1.0, 1.0]]))
    edges = _edge_dict(graph_of(model))
    assert edges[("hidden1.0", "output2.0")] == 2.0
    assert edges[("hidden1.1", "output2.0")] == 0.5


def test_unit_with_no_incoming_weight_is_dropped_with_its_edges():
    model = nn.Sequential(_set(nn.Linear(2, 2), [[1.0, 1.0], [0.0, 0.0]]), nn.ReLU(),
                          _set(nn.Linear(2, 1), [[1.0, 5.0]]))
    graph = graph_of(model)
    assert "hidden1.1" not in set(graph.nodes.name)
    assert graph.info["n_dead_dropped"] == 1
    assert graph.n_edges == 3
    assert list(graph.source_ids) == [0, 1, 2, 4]


def test_top_k_keeps_each_units_strongest_edges_per_direction():
    model = nn.Sequential(_set(nn.Linear(3, 2), [[1.0, 2.0, 3.0], [6.0, 5.0, 4.0]]), nn.ReLU(),
                          _set(nn.Linear(2, 1), [[1.0, 1.0]]))
    edges = _edge_dict(graph_of(model, top_k=1))
    # in-edges: hidden1.0 keeps input0.2 (3), hidden1.1 keeps input0.0 (6);
    # out-edges: every input's strongest target is hidden1.1 (6, 5, 4)
    assert edges == {("input0.2", "hidden1.0"): 3.0, ("input0.0", "hidden1.1"): 6.0, ("input0.1", "hidden1.1"): 5.0,
                     ("input0.2", "hidden1.1"): 4.0, ("hidden1.0", "output2.0"): 1.0, ("hidden1.1", "output2.0"): 1.0}


def test_from_edges_merges_duplicates_in_either_orientation():
    graph = WeightGraph.from_edges(3, [[0, 1], [1, 0], [1, 2]], [1.0, 2.0, 0.5])
    assert graph.n_edges == 2
    assert graph.cut_weight(np.array([0])) == 3.0


@pytest.mark.parametrize("edges, caps, fragment", [
    ([[0, 0]], [1.0], "self-loop"),
    ([[0, 5]], [1.0], "node ids in 0..2"),
    ([[0, 1]], [-1.0], "finite and >= 0"),
    ([[0, 1]], [np.nan], "finite and >= 0"),
    ([[0, 1]], [1.0, 2.0], "one per edge"),
])
def test_from_edges_rejects_bad_input_with_a_clear_message(edges, caps, fragment):
    with pytest.raises(ValueError, match=fragment):
        WeightGraph.from_edges(3, edges, caps)


def test_unsupported_module_is_named_in_the_error():
    with pytest.raises(TypeError, match="Conv1d"):
        graph_of(nn.Sequential(nn.Linear(2, 2), nn.Conv1d(1, 1, 1)))


def test_transformer_graph_uses_heads_and_neurons_with_rotation_invariant_virtual_weights():
    model = build_model("smoke", 4, 4)
    graph = graph_of(model)
    cfg = model.config
    kinds = dict(zip(*np.unique(graph.nodes.kind, return_counts=True)))
    assert kinds["head"] == cfg.n_layers * cfg.n_heads
    assert kinds["neuron"] == cfg.n_layers * cfg.d_mlp
    # rotating the residual basis (an orthogonal Q applied to every read and write) leaves every edge unchanged
    # (a rotation fixing the all-ones direction, which LayerNorm's centering singles out)
    d, gen = cfg.d_model, torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr((torch.eye(d) - 1.0 / d) @ torch.randn(d, d - 1, generator=gen))
    spin, _ = torch.linalg.qr(torch.randn(d - 1, d - 1, generator=gen))
    q = basis @ spin @ basis.T + torch.full((d, d), 1.0 / d)
    with torch.no_grad():
        for block in model.blocks:
            for w in (block.attn.W_Q, block.attn.W_K, block.attn.W_V):
                w.copy_(torch.einsum("de,hdk->hek", q, w))
            block.attn.W_O.copy_(block.attn.W_O @ q)
            block.mlp.W_in.weight.copy_(block.mlp.W_in.weight @ q)
            block.mlp.W_out.weight.copy_(q.T @ block.mlp.W_out.weight)
        model.state_embed.weight.copy_(model.state_embed.weight @ q)
        model.pos_embed.weight.copy_(model.pos_embed.weight @ q)
        for head in (model.value_head, model.concept_head):
            head.weight.copy_(head.weight @ q)
        d = cfg.d_model
        w = model.policy_head.fc_in.weight
        w.copy_(torch.cat([w[:, :d] @ q, w[:, d:] @ q], dim=1))
    rotated = graph_of(model)
    np.testing.assert_allclose(rotated.capacities, graph.capacities, rtol=1e-4, atol=1e-5)


def test_adjacent_couplings_keep_only_edges_into_the_next_layer():
    cfg = TransformerConfig(rows=4, cols=4, d_model=16, n_layers=2, n_heads=2, d_head=4, d_mlp=3, n_concepts=2)
    model = BoardTransformer(cfg, seed=0)
    full, adjacent = graph_of(model, drop_dead=False), graph_of(model, drop_dead=False, couplings="adjacent")
    kind, name = full.nodes.kind, full.nodes.name
    n_in, n_out, per_layer = int((kind == "input").sum()), int((kind == "output").sum()), 2 + 3
    assert (n_in, n_out) == (3 + 17, 1 + 2 + 16)  # state rows (empty, occupied, CLS), 16 cells + CLS; value,
    # concepts, policy units
    # embeddings -> layer 0, layer 0 -> layer 1, layer 1 -> outputs: every unit pair of those layers, nothing else
    assert adjacent.n_edges == n_in * per_layer + per_layer * per_layer + per_layer * n_out == 220
    # all: every writer to every later reader, i.e. also a layer's heads -> its neurons, embeddings -> layer 1 and
    # the outputs, layer 0 -> the outputs
    assert full.n_edges == 220 + 2 * (2 * 3) + n_in * per_layer + n_in * n_out + per_layer * n_out == 807
    full_edges, kept = _edge_dict(full), _edge_dict(adjacent)
    assert set(kept) <= set(full_edges) and all(kept[e] == full_edges[e] for e in kept)  # same virtual weights
    assert ("embed.pos.0", "blocks.0.attn.h1") in kept and ("blocks.0.mlp.n2", "blocks.1.attn.h0") in kept
    assert ("blocks.1.attn.h0", "value_head.0") in kept and ("blocks.0.attn.h0", "blocks.1.mlp.n0") in kept
    for dropped in [("blocks.0.attn.h0", "blocks.0.mlp.n0"), ("embed.pos.0", "blocks.1.attn.h0"),
                    ("embed.state.0", "value_head.0"), ("blocks.0.mlp.n0", "policy_head.fc_in.3")]:
        assert dropped in full_edges and dropped not in kept
    layer = {n: -1 if n.startswith("embed") else 2 if n.startswith(("value", "concept", "policy")) else int(n[7])
             for n in name}
    assert all(layer[b] == layer[a] + 1 for a, b in kept)


def test_unknown_couplings_are_named_in_the_error():
    with pytest.raises(ValueError, match="couplings='next'.*'all', 'adjacent'"):
        graph_of(build_model("smoke", 4, 4), couplings="next")
