"""Modularity losses: gradient only on crossing weights plus the normalisation, scale invariance,
providers, hardening, baselines."""

import numpy as np
import pytest
import torch
from torch import nn

from modinterp.modularity.construct import graph_of
from modinterp.modularity.loss import BIMTLoss, L1Loss, ModularityLoss, SpectralLoss
from modinterp.modularity.providers import GomoryHuProvider
from modinterp.models import MLP, build_model


class FixedProvider:
    """Labels by node position: first half of every layer -> module 0, second half -> module 1."""

    def __call__(self, graph, k):
        layer, index = graph.nodes.layer, graph.nodes.index
        sizes = np.bincount(layer)
        return (index >= sizes[layer] // 2).astype(np.int64)


def _model(seed=0):
    return MLP([4, 6, 2], seed=seed)


def _grads(loss, model):
    model.zero_grad()
    value = loss(model, 0)
    value.backward()
    return value.detach(), [lin.weight.grad.clone() for lin in model.linears()]


def _cross_masks(model):
    masks = []
    for lin in model.linears():
        out_m = torch.arange(lin.out_features) >= lin.out_features // 2
        in_m = torch.arange(lin.in_features) >= lin.in_features // 2
        masks.append(out_m[:, None] != in_m[None, :])
    return masks


def test_cross_fraction_gradient_is_crossing_indicator_plus_normalisation():
    model = _model()
    loss = ModularityLoss(1.0, k=2, provider=FixedProvider())
    value, grads = _grads(loss, model)
    weights = [lin.weight.detach() for lin in model.linears()]
    total = sum(w.abs().sum() for w in weights)
    cross = sum((w.abs() * m).sum() for w, m in zip(weights, _cross_masks(model)))
    for w, g, m in zip(weights, grads, _cross_masks(model)):
        expected = torch.sign(w) * (m.float() / total - cross / total ** 2)
        torch.testing.assert_close(g, expected, rtol=1e-5, atol=1e-7)
    assert value == pytest.approx(float(cross / total), rel=1e-6)


@pytest.mark.parametrize("form", ["cross_fraction", "ncut"])
def test_penalty_is_unchanged_when_all_weights_are_scaled(form):
    model = _model()
    loss = ModularityLoss(1.0, k=2, provider=FixedProvider(), form=form)
    before, grads = _grads(loss, model)
    # Euler: a degree-0 homogeneous function has zero derivative along the weights themselves
    assert sum(float((g * lin.weight.detach()).sum()) for g, lin in zip(grads, model.linears())) == pytest.approx(0, abs=1e-6)
    with torch.no_grad():
        for lin in model.linears():
            lin.weight.mul_(3.7)
    assert loss(model, 1).item() == pytest.approx(before.item(), rel=1e-5)


def test_l1_and_bimt_fall_when_weights_shrink_but_spectral_does_not():
    model = _model()
    losses = [L1Loss(1.0), BIMTLoss(1.0), SpectralLoss(1.0, k=2)]
    before = [loss(model, 0).item() for loss in losses]
    with torch.no_grad():
        for lin in model.linears():
            lin.weight.mul_(0.5)
    after = [loss(model, 0).item() for loss in losses]
    assert after[0] == pytest.approx(before[0] / 2)
    assert after[1] == pytest.approx(before[1] / 2)
    assert after[2] == pytest.approx(before[2], rel=1e-4)


def test_spectral_loss_has_a_finite_nonzero_gradient():
    model = _model()
    _, grads = _grads(SpectralLoss(1.0, k=2), model)
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_gomory_hu_provider_finds_planted_blocks_of_an_mlp():
    model = MLP([4, 8, 4], seed=0)
    with torch.no_grad():
        for lin in model.linears():
            out_b = torch.arange(lin.out_features) >= lin.out_features // 2
            in_b = torch.arange(lin.in_features) >= lin.in_features // 2
            lin.weight.mul_(torch.where(out_b[:, None] == in_b[None, :], 1.0, 1e-4))
    loss = ModularityLoss(1.0, k=2)
    labels = loss.refresh(model)
    truth = np.concatenate([np.arange(n) >= n // 2 for n in (4, 8, 4)]).astype(int)
    assert (labels == truth).all() or (labels == 1 - truth).all()
    assert loss.last_log["modularity/refresh_seconds"] > 0


@pytest.mark.parametrize("cross", [0.3, 0.1, 0.03, 1e-4])
def test_bisecting_provider_picks_the_scans_view_from_fewer_trees(cross):
    model = MLP([16, 32, 32, 8], seed=1)
    with torch.no_grad():  # 4 planted blocks; crossing weights scaled by `cross`: the weaker, the denser the view
        for lin in model.linears():
            out_b = torch.arange(lin.out_features) * 4 // lin.out_features
            in_b = torch.arange(lin.in_features) * 4 // lin.in_features
            lin.weight.mul_(torch.where(out_b[:, None] == in_b[None, :], 1.0, cross))
    graph = graph_of(model)
    scan, bisect = GomoryHuProvider(search="scan"), GomoryHuProvider()
    expected = scan(graph, 4)
    for _ in range(2):  # a cold call, then one started from the previous call's view
        np.testing.assert_array_equal(bisect(graph, 4), expected)
        assert bisect.last_info_["view_top_k"] == scan.last_info_["view_top_k"]
        assert bisect.last_info_["trees_built"] <= max(1, scan.last_info_["trees_built"])
    assert bisect.last_info_["trees_built"] <= 3


def test_partition_is_refreshed_every_k_steps_and_logged():
    model = _model()
    loss = ModularityLoss(0.5, k=2, refresh_every=3, provider=FixedProvider())
    refreshed = []
    for step in range(7):
        loss(model, step)
        refreshed.append("modularity/refresh_seconds" in loss.last_log)
    assert refreshed == [True, False, False, True, False, False, True]
    assert loss.last_log["modularity/loss"] == pytest.approx(0.5 * loss.last_log["modularity/penalty"])


def test_hardening_zeroes_small_crossing_weights_and_keeps_them_zero():
    model = _model()
    loss = ModularityLoss(1.0, k=2, provider=FixedProvider(), harden_at=0, harden_threshold=10.0)
    loss(model, 0)
    masks = _cross_masks(model)
    for lin, m in zip(model.linears(), masks):
        assert (lin.weight[m] == 0).all()
        assert (lin.weight[~m] != 0).all()
    with torch.no_grad():
        for lin in model.linears():
            lin.weight.add_(0.1)
    loss.after_step(model)
    for lin, m in zip(model.linears(), masks):
        assert (lin.weight[m] == 0).all()


def test_warmup_gives_zero_penalty_without_building_a_partition():
    loss = ModularityLoss(1.0, k=2, warmup_steps=5, provider=FixedProvider())
    assert loss(_model(), 0).item() == 0.0
    assert loss.labels_ is None


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="form"):
        ModularityLoss(1.0, k=2, form="magic")
    with pytest.raises(ValueError, match="couplings='dense'"):
        ModularityLoss(1.0, k=2, couplings="dense")
    with pytest.raises(ValueError, match="lam"):
        L1Loss(-1.0)
    with pytest.raises(TypeError, match="unsupported model"):
        L1Loss(1.0)(nn.Conv1d(1, 1, 1), 0)


def test_modularity_loss_on_a_board_transformer_reaches_attention_and_mlp_weights():
    model = build_model("smoke", 4, 4)
    loss = ModularityLoss(1.0, k=2, top_k=8, provider=FixedProvider())
    value = loss(model, 0)
    value.backward()
    assert 0 < value.item() < 1
    block = model.blocks[0]
    for param in (block.attn.W_Q, block.attn.W_O, block.mlp.W_in.weight, block.mlp.W_out.weight):
        assert torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0


def test_edges_of_dropped_dead_units_are_left_out_of_the_penalty():
    model = _model()
    with torch.no_grad():
        model.linears()[0].weight[0].zero_()  # hidden unit 0 has no input: dead, dropped from the graph
    loss = ModularityLoss(1.0, k=2, provider=FixedProvider())
    value = loss(model, 0).item()
    labels = torch.as_tensor(loss.labels_)
    assert labels[4] == -1  # node 4 = hidden unit 0 (after the 4 inputs)
    ids = [torch.arange(0, 4), torch.arange(4, 10), torch.arange(10, 12)]
    cross = counted = 0.0
    for lin, ins, outs in zip(model.linears(), ids[:-1], ids[1:]):
        lo, li = labels[outs][:, None], labels[ins][None, :]
        kept = (lo >= 0) & (li >= 0)
        cross += float((lin.weight.detach().abs() * (kept & (lo != li))).sum())
        counted += float((lin.weight.detach().abs() * kept).sum())
    assert value == pytest.approx(cross / counted, rel=1e-6)


@pytest.mark.parametrize("couplings", ["all", "adjacent"])
def test_transformer_penalty_from_fused_blocks_equals_the_per_pair_blocks(couplings):
    model = build_model("smoke-large", 4, 4, seed=3)
    loss = ModularityLoss(1.0, k=2, provider=FixedProvider(), refresh_every=10**6, couplings=couplings)
    value = loss(model, 0)
    params = [p for p in model.parameters() if p.requires_grad]
    fused = torch.autograd.grad(value, params, allow_unused=True)
    caps = loss._capacities()  # one block per writer/reader pair, evaluated on its own
    cross = sum((c * m[0]).sum() for c, m in zip(caps, loss._masks))
    counted = sum((c * m[1]).sum() for c, m in zip(caps, loss._masks))
    reference = cross / counted
    assert value.item() == pytest.approx(reference.item(), rel=1e-5)
    for a, b in zip(fused, torch.autograd.grad(reference, params, allow_unused=True)):
        if b is None:
            assert a is None or not a.abs().any()
        else:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


def test_skipped_steps_return_a_constant_zero_and_keep_the_last_log():
    model = _model()
    loss = ModularityLoss(1.0, k=2, provider=FixedProvider(), penalty_every=3)
    applied = loss(model, 0)
    logged = dict(loss.last_log)
    skipped = loss(model, 1)
    assert applied.item() > 0 and skipped.item() == 0.0 and not skipped.requires_grad
    assert loss.last_log == logged
    every_step = ModularityLoss(1.0, k=2, provider=FixedProvider())
    assert applied.item() == pytest.approx(3 * every_step(model, 0).item(), rel=1e-6)  # x3 on applied steps


@pytest.mark.parametrize("form", ["cross_fraction", "ncut"])
def test_adjacent_loss_cuts_and_penalises_the_adjacent_graph(form):
    model = build_model("smoke-large", 4, 4, seed=1)
    seen = []

    class Recording(FixedProvider):
        def __call__(self, graph, k):
            seen.append(graph)
            return super().__call__(graph, k)

    loss = ModularityLoss(1.0, k=2, provider=Recording(), form=form, couplings="adjacent")
    value = loss(model, 0).item()
    graph = graph_of(model, couplings="adjacent", drop_dead=False)
    (given,) = seen  # the provider cut the adjacent graph (top_k=None: all of it)
    np.testing.assert_array_equal(given.edges, graph.edges)
    np.testing.assert_allclose(given.capacities, graph.capacities, rtol=1e-6)
    labels = loss.labels_[graph.source_ids]
    a, b = labels[graph.edges[:, 0]], labels[graph.edges[:, 1]]
    crossing = graph.capacities * (a != b)
    if form == "cross_fraction":  # crossing / total capacity of the adjacent graph's edges, nothing else
        expected = crossing.sum() / graph.capacities.sum()
    else:  # sum over modules of cut / volume (volume: the degrees of the module's nodes)
        expected = sum((crossing * ((a == m) | (b == m))).sum() / (graph.capacities * ((a == m).astype(int) + (b == m))).sum()
                       for m in range(2))
    assert value == pytest.approx(expected, rel=1e-5)
    full = ModularityLoss(1.0, k=2, provider=FixedProvider(), form=form)
    assert full(model, 0).item() != pytest.approx(value, rel=1e-3)  # the edges it leaves out change the penalty
