"""The weight graph, `modinterp modules` and the bus penalty on a model with per-module residual subspaces."""

import json

import numpy as np
import pytest
import torch
from run_dirs import saved_run
from typer.testing import CliRunner

from modinterp.cli import app
from modinterp.models import BoardTransformer, TransformerConfig
from modinterp.models.subspace import module_of
from modinterp.modularity import block_set_of, cut_model, graph_of
from modinterp.modularity.bus import BusPenalty
from modinterp.modularity.construct.board_transformer import construction_labels
from modinterp.train.config import TrainConfig

BASE = dict(rows=4, cols=4, d_model=36, n_layers=2, n_heads=4, d_head=8, d_mlp=32, n_concepts=4)


def _true_modules(graph) -> np.ndarray:
    """Each node's module from the masks (heads, neurons) or its "@mK" name (embedding and output copies)."""
    nodes = graph.nodes
    head = module_of(BASE["n_heads"], 4).numpy()
    neuron = module_of(BASE["d_mlp"], 4).numpy()
    by_name = np.array([int(str(n).rsplit("@m", 1)[1]) if "@m" in str(n) else -1 for n in nodes.name])
    return np.where(nodes.kind == "head", head[np.minimum(nodes.index, 3)],
                    np.where(nodes.kind == "neuron", neuron[np.minimum(nodes.index, 31)], by_name))


def test_without_a_bus_the_full_graphs_tree_cuts_out_the_modules():
    model = BoardTransformer(TransformerConfig(**BASE, n_modules=4), seed=0)
    cut = cut_model(model, 4)  # the full graph, no view search
    truth = _true_modules(cut.graph)
    assert (truth >= 0).all()  # every node is one module's: no whole-stream hub
    graph = cut.graph
    cross = truth[graph.edges[:, 0]] != truth[graph.edges[:, 1]]
    assert graph.capacities[cross].sum() == 0 and graph.capacities[~cross].min() > 0
    assert cut.tree.nontrivial_edges(0.05) >= 3 and cut.view_index is None
    for label in range(4):  # each module of the cut is exactly one planted module
        assert len(set(truth[cut.labels == label])) == 1
    assert cut.n_modules == 4


def test_the_bus_is_the_only_interface():
    model = BoardTransformer(TransformerConfig(**BASE, n_modules=4, bus_width=4), seed=0)
    graph = graph_of(model)
    truth = _true_modules(graph)
    cross = (truth[graph.edges[:, 0]] != truth[graph.edges[:, 1]])
    assert graph.capacities[cross].sum() > 0  # through the bus
    with torch.no_grad():  # a silent bus: no unit reads or writes it
        for block in model.blocks:
            for w in (block.attn.W_Q, block.attn.W_K, block.attn.W_V):
                w[:, 32:] = 0
            block.attn.W_O[..., 32:] = 0
            block.mlp.W_in.weight[:, 32:] = 0
            block.mlp.W_out.weight[32:] = 0
    graph = graph_of(model)
    bus = np.char.endswith(graph.nodes.name.astype(str), "@bus")
    unit_edges = ~bus[graph.edges[:, 0]] & ~bus[graph.edges[:, 1]]
    cross = (truth[graph.edges[:, 0]] != truth[graph.edges[:, 1]]) & unit_edges
    assert graph.capacities[cross].sum() == 0


@pytest.mark.parametrize("canonical, bus_norm", [(False, "layer"), (True, "layer"), (False, "none")])
def test_a_one_way_bus_joins_only_its_writer_to_the_other_modules(canonical, bus_norm):
    """bus_writer = 1: the only cross-module unit edges run through module 1's writes (module 0, 2 and 3 units
    read the bus but write nothing there, so no edge joins two of them; canonical weights are masked again, so
    not even a rounding-level one)."""
    model = BoardTransformer(TransformerConfig(**BASE, n_modules=4, bus_width=4, bus_writer=1, bus_norm=bus_norm),
                             seed=0)
    with torch.no_grad():  # LayerNorm gains away from 1, so canonicalisation has something to fold
        for block in model.blocks:
            block.ln1.weight.mul_(1 + 0.3 * torch.rand_like(block.ln1.weight))
    graph = graph_of(model, canonical=canonical)
    truth = _true_modules(graph)
    units = np.isin(graph.nodes.kind, ("head", "neuron"))
    a, b = graph.edges[:, 0], graph.edges[:, 1]
    cross = units[a] & units[b] & (truth[a] != truth[b])
    assert graph.capacities[cross].sum() > 0
    assert ((truth[a] == 1) | (truth[b] == 1))[cross].all()


def test_the_tree_cuts_out_unequal_modules_as_the_masks_build_them():
    """module_shares (1, 3) without a bus: the full graph's tree reads a quarter-size module and a three-quarter one,
    exactly the construction's partition (heads, neurons and slice copies)."""
    model = BoardTransformer(TransformerConfig(**BASE, n_modules=2, module_shares=(1, 3)), seed=5)
    cut = cut_model(model, 2)
    truth = construction_labels(model, cut.graph.nodes)
    assert cut.view_index is None and cut.n_modules == 2
    assert all(len(set(truth[cut.labels == label])) == 1 for label in range(2))
    heads = cut.graph.nodes.kind == "head"
    assert np.bincount(truth[heads]).tolist() == [2, 6]  # 1 of 4 heads per layer in module 0


def test_the_penalty_block_set_sees_the_same_graph():
    model = BoardTransformer(TransformerConfig(**BASE, n_modules=4, bus_width=4), seed=1)
    graph = graph_of(model)
    blocks = block_set_of(model)
    dense = np.zeros((graph.n_source_nodes, graph.n_source_nodes))
    for block, caps, valid in zip(blocks.blocks, blocks.capacities(), blocks.valid):
        caps = caps.detach().numpy() * (1 if valid is None else valid)
        dense[np.ix_(block.out_nodes, block.in_nodes)] += caps
    dense = dense + dense.T
    ids = graph.source_ids
    assert np.allclose(dense[ids[graph.edges[:, 0]], ids[graph.edges[:, 1]]], graph.capacities, rtol=1e-5)


def test_modules_command_finds_the_modules_of_a_masked_model_at_init(tmp_path):
    run = saved_run(tmp_path, BoardTransformer(TransformerConfig(**BASE, n_modules=4), seed=2))
    result = CliRunner().invoke(app, ["modules", str(run), "--k", "4", "--top-k", "0", "--no-ablation"])
    assert result.exit_code == 0, result.output
    record = json.loads((run / "final" / "modules" / "modules.json").read_text())
    assert record["tree_nontrivial_edges"] >= 3 and record["fallback_used"] is False
    assert len(record["modules"]) == 4


def test_construction_labels_are_the_masks_modules_with_the_bus_copies_last():
    model = BoardTransformer(TransformerConfig(**BASE, n_modules=4, bus_width=4), seed=5)
    graph = graph_of(model, drop_dead=False)
    truth = _true_modules(graph)  # the test's own reading of the masks: -1 for the bus copies
    assert np.array_equal(construction_labels(model, graph.nodes), np.where(truth < 0, 4, truth))
    with pytest.raises(ValueError, match="n_modules=1: use the tree's partition"):
        construction_labels(BoardTransformer(TransformerConfig(**BASE), seed=5), graph.nodes)


def test_modules_command_ablates_the_masks_partition_on_request(tmp_path):
    """--partition masks: the table, metrics and ablation of the modules by construction, the tree still counted;
    on a bus-0 model at init that is the tree's own partition."""
    run = saved_run(tmp_path, BoardTransformer(TransformerConfig(**BASE, n_modules=4), seed=6))
    result = CliRunner().invoke(app, ["modules", str(run), "--k", "4", "--partition", "masks", "--n-games", "4",
                                      "--per-game", "2", "--out", str(tmp_path / "masks")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "masks" / "modules.json").read_text())
    assert record["partition"] == "masks" and record["fallback_used"] is False
    assert record["metrics"]["cross_fraction"] == pytest.approx(0.0, abs=1e-12)
    assert [m["kinds"]["head"] for m in record["modules"]] == [2, 2, 2, 2]  # one head per module and layer
    assert all("ablation_effect" in m and "random_ablation_p95" in m for m in record["modules"])


def test_modules_command_refuses_the_masks_partition_of_a_model_without_masks(tmp_path):
    run = saved_run(tmp_path, BoardTransformer(TransformerConfig(**BASE), seed=6))
    result = CliRunner().invoke(app, ["modules", str(run), "--k", "4", "--partition", "masks", "--no-ablation"])
    assert result.exit_code == 2 and "needs a model with per-module subspaces" in result.output
    assert "use --partition tree" in result.output


def test_bus_penalty_is_l1_on_the_bus_weights_only():
    model = BoardTransformer(TransformerConfig(**BASE, n_modules=4, bus_width=4), seed=3)
    term = BusPenalty(0.5)
    value = term(model, 0)
    expected = 0.0
    for block in model.blocks:
        expected += sum(w[:, 32:].abs().sum() for w in (block.attn.W_Q, block.attn.W_K, block.attn.W_V))
        expected += block.attn.W_O[..., 32:].abs().sum() + block.mlp.W_in.weight[:, 32:].abs().sum()
        expected += block.mlp.W_out.weight[32:].abs().sum()
    assert torch.allclose(value, 0.5 * expected)
    value.backward()
    grad = model.blocks[0].mlp.W_in.weight.grad
    assert grad[:, :32].abs().max() == 0 and torch.allclose(grad[:, 32:].abs(), torch.full_like(grad[:, 32:], 0.5))
    assert 0 < term.last_log["bus/share"] < 1


def test_bus_penalty_needs_a_bus_and_is_reachable_from_the_train_config():
    with pytest.raises(ValueError, match="bus_width > 0"):
        BusPenalty(1.0)(BoardTransformer(TransformerConfig(**BASE, n_modules=4), seed=0), 0)
    modular = {"preset": "smoke", "overrides": {"n_modules": 2, "bus_width": 4}}
    config = TrainConfig.model_validate({"interface": {"bus_l1": 1e-3}, "model": modular})
    term = config.interface.build()
    assert isinstance(term, BusPenalty) and term.lam == 1e-3
    assert TrainConfig().interface is None


@pytest.mark.parametrize("overrides", [{}, {"n_modules": 4}, {"n_modules": 1, "bus_width": 4}])
def test_a_bus_penalty_on_a_model_without_a_bus_is_refused_before_training(overrides):
    with pytest.raises(ValueError, match=r"interface.bus_l1 needs .* n_modules=\d, bus_width=\d\).*model.overrides.bus_width"):
        TrainConfig.model_validate({"interface": {"bus_l1": 1e-3}, "model": {"preset": "smoke", "overrides": overrides}})


def test_canonical_weights_keep_a_modular_models_function_and_modules():
    from modinterp.models import board_tokens
    from modinterp.modularity.construct.canonical import canonicalize

    model = BoardTransformer(TransformerConfig(**BASE, n_modules=4), seed=4)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "ln" in name:
                param.mul_(1 + 0.3 * torch.rand_like(param))
    tokens = torch.as_tensor(board_tokens(np.random.default_rng(0).integers(0, 2, (8, 16)), model.config))
    with torch.no_grad():
        for a, b in zip(model(tokens), canonicalize(model)(tokens)):
            assert (a - b).abs().max() <= 1e-5 * a.abs().max()
    cut = cut_model(model, 4, canonical=True)
    assert cut.n_modules == 4 and cut.tree.nontrivial_edges(0.05) >= 3
    truth = _true_modules(cut.graph)
    assert all(len(set(truth[cut.labels == label])) == 1 for label in range(4))


def test_modules_command_names_the_partitions_it_knows(tmp_path):
    run = saved_run(tmp_path, BoardTransformer(TransformerConfig(**BASE, n_modules=4), seed=6))
    result = CliRunner().invoke(app, ["modules", str(run), "--k", "4", "--partition", "nope", "--no-ablation"])
    assert result.exit_code == 2 and "--partition nope: expected one of tree, masks" in result.output


ROUTED = dict(**BASE, n_modules=2, value_module=0, concept_module=0, policy_module=1)


def test_a_routed_heads_copies_on_the_other_modules_slice_have_no_edges():
    """value and concepts read module 0, the policy module 1: their copies on the other slice are dead nodes."""
    model = BoardTransformer(TransformerConfig(**ROUTED), seed=9)
    graph = graph_of(model, drop_dead=False)
    degree = np.zeros(len(graph.nodes.name))
    np.add.at(degree, graph.edges[:, 0], graph.capacities)
    np.add.at(degree, graph.edges[:, 1], graph.capacities)
    names = graph.nodes.name.astype(str)
    for prefix, read in (("value_head.", "@m0"), ("concept_head.", "@m0"), ("policy_head.fc_in.", "@m1")):
        outputs = np.char.startswith(names, prefix)
        assert (degree[outputs & np.char.endswith(names, read)] > 0).all()
        assert (degree[outputs & ~np.char.endswith(names, read)] == 0).all()


def test_modules_command_shows_the_routed_modules_driving_different_outputs(tmp_path):
    """The dissociation the routing builds, measured by mean ablation: without a bus, ablating the policy module
    (M1) leaves the value exactly, and the value module (M0) leaves the policy exactly."""
    run = saved_run(tmp_path, BoardTransformer(TransformerConfig(**ROUTED), seed=10))
    result = CliRunner().invoke(app, ["modules", str(run), "--k", "2", "--partition", "masks", "--n-games", "4",
                                      "--per-game", "2", "--out", str(tmp_path / "masks")])
    assert result.exit_code == 0, result.output
    value_module, policy_module = json.loads((tmp_path / "masks" / "modules.json").read_text())["modules"]
    assert value_module["ablation_effect"]["policy"] == 0 and value_module["ablation_effect"]["value"] > 0
    assert policy_module["ablation_effect"]["value"] == 0 and policy_module["ablation_effect"]["policy"] > 0
    assert value_module["ablation_effect"]["policy_move"] == 0 and policy_module["ablation_effect"]["value_sign"] == 0
    # the probes read the CLS dimensions the value and concept heads read: module 1's slice reaches no output there
    assert all(v == 0 for k, v in policy_module["ablation_effect"].items() if k.startswith("probe:"))


def test_canonical_weights_keep_a_routed_models_function_even_from_unrouted_weights():
    """An unrouted model's state dict loaded into a routed config has non-zero unread columns: forward masks them,
    and canonical folding must not fold ln_final's bias through them."""
    from modinterp.modularity.construct.canonical import canonicalize

    routed = BoardTransformer(TransformerConfig(**ROUTED, bus_width=4), seed=12)
    routed.load_state_dict(BoardTransformer(TransformerConfig(**BASE, n_modules=2, bus_width=4), seed=12).state_dict())
    with torch.no_grad():
        routed.ln_final.bias.normal_()
    assert routed.value_head.weight[:, 16:32].abs().max() > 0  # the unread columns are live
    tokens = torch.as_tensor(np.random.default_rng(0).integers(0, 2, (8, 17)))
    tokens[:, -1] = 2
    for a, b in zip(routed(tokens), canonicalize(routed)(tokens)):
        assert torch.allclose(a, b, atol=1e-5)


def test_an_unnormalised_bus_is_not_centred_in_the_virtual_weights():
    """bus_norm="none": a head's edge to the value head's bus copy is |W_O[h][:, bus] diag(gamma) w|, uncentred, as
    the LayerNorm passes the bus through; with bus_norm="layer" the bus part is centred first."""
    for bus_norm in ("none", "layer"):
        model = BoardTransformer(TransformerConfig(**BASE, n_modules=2, bus_width=4, bus_writer=1, bus_norm=bus_norm,
                                                   value_module=0), seed=2)
        graph = graph_of(model, top_k=None, drop_dead=False)
        names = list(graph.nodes.name.astype(str))
        head, value = names.index("blocks.0.attn.h3"), names.index("value_head.0@bus")
        w_o = model.blocks[0].attn.weights()[3][3][:, 32:]  # (d_head, bus)
        if bus_norm == "layer":
            w_o = w_o - w_o.mean(dim=-1, keepdim=True)
        read = model.ln_final.weight[32:] * model.value_head.weight[0, 32:]
        expected = torch.linalg.vector_norm(w_o @ read).item()
        a, b = graph.edges[:, 0], graph.edges[:, 1]
        edge = ((a == head) & (b == value)) | ((a == value) & (b == head))
        assert graph.capacities[edge].item() == pytest.approx(expected, rel=1e-5)
