"""Canonical weights: the same function, and a weight graph that rescalings of the function cannot change."""

import numpy as np
import pytest
import torch

from modinterp.modularity.construct import canonicalize, graph_of
from modinterp.modularity.construct.canonical import balanced_pair
from modinterp.modularity.loss import ModularityLoss
from modinterp.models import BoardTransformer, TransformerConfig

CONFIG = TransformerConfig(rows=4, cols=4, d_model=32, n_layers=2, n_heads=4, d_head=8, d_mlp=64, n_concepts=3)


def _model(seed: int = 0) -> BoardTransformer:
    """A model with non-trivial LayerNorm gains and biases (init has gain 1, bias 0)."""
    model = BoardTransformer(CONFIG, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for ln in [m for b in model.blocks for m in (b.ln1, b.ln2)] + [model.ln_final]:
            ln.weight.copy_(0.5 + torch.rand(ln.weight.shape, generator=gen))
            ln.bias.copy_(0.3 * torch.randn(ln.bias.shape, generator=gen))
    return model.eval()


def _tokens(n: int = 64, seed: int = 0) -> torch.Tensor:
    cells = torch.randint(0, 2, (n, CONFIG.n_cells), generator=torch.Generator().manual_seed(seed))
    return torch.cat([cells, torch.full((n, 1), 2)], 1)


@torch.no_grad()
def _rescaled(model: BoardTransformer, seed: int = 5) -> BoardTransformer:
    """The same function through the free rescalings: per head W_Q A, W_K A^-T and W_V B, B^-1 W_O (A, B random
    invertible), LayerNorm gains x c with their readers / c."""
    other = BoardTransformer(CONFIG)
    other.load_state_dict(model.state_dict())
    gen = torch.Generator().manual_seed(seed)
    dh = CONFIG.d_head
    for block in other.blocks:
        attn = block.attn
        for h in range(CONFIG.n_heads):
            a = torch.eye(dh) + 0.3 * torch.randn(dh, dh, generator=gen)
            b = torch.eye(dh) * 2.5 + 0.3 * torch.randn(dh, dh, generator=gen)
            attn.W_Q[h] = attn.W_Q[h] @ a
            attn.W_K[h] = attn.W_K[h] @ torch.linalg.inv(a).T
            attn.W_V[h] = attn.W_V[h] @ b
            attn.W_O[h] = torch.linalg.inv(b) @ attn.W_O[h]
        block.ln2.weight.mul_(3.0)
        block.ln2.bias.mul_(3.0)
        block.mlp.W_in.weight.div_(3.0)
    return other.eval()


def test_canonical_model_computes_the_same_outputs():
    model, tokens = _model(), _tokens()
    canon = canonicalize(model)
    for a, b in zip(model(tokens), canon(tokens)):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    assert all(torch.equal(b.ln2.weight, torch.ones(32)) for b in canon.blocks)  # gains folded
    assert torch.equal(canon.ln_final.bias, torch.zeros(32))


def test_rescaled_model_is_the_same_function_but_a_different_raw_graph():
    """The check below can fail: the raw graph moves under the rescalings."""
    model, tokens = _model(), _tokens()
    other = _rescaled(model)
    for a, b in zip(model(tokens), other(tokens)):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)
    raw, moved = graph_of(model, drop_dead=False), graph_of(other, drop_dead=False)
    assert np.abs(raw.capacities - moved.capacities).max() > 0.1 * raw.capacities.max()


@pytest.mark.parametrize("canonical_graph", [False, True])
def test_graph_of_canonical_weights_is_invariant_to_the_rescalings(canonical_graph):
    model = _model()
    other = _rescaled(model)
    if canonical_graph:  # the graph option (what the loss uses) ...
        a, b = graph_of(model, drop_dead=False, canonical=True), graph_of(other, drop_dead=False, canonical=True)
    else:  # ... and the raw graph of canonicalised models
        a, b = graph_of(canonicalize(model), drop_dead=False), graph_of(canonicalize(other), drop_dead=False)
    np.testing.assert_array_equal(a.edges, b.edges)
    np.testing.assert_allclose(b.capacities, a.capacities, rtol=1e-5, atol=1e-5 * a.capacities.max())


def test_graph_option_equals_the_graph_of_the_canonical_model():
    model = _model()
    a, b = graph_of(model, drop_dead=False, canonical=True), graph_of(canonicalize(model), drop_dead=False)
    np.testing.assert_allclose(a.capacities, b.capacities, rtol=1e-5, atol=1e-6)


def test_balanced_pair_keeps_the_product_and_balances_the_factors():
    gen = torch.Generator().manual_seed(0)
    left, right = torch.randn(3, 16, 4, generator=gen, dtype=torch.float64), torch.randn(3, 4, 16, generator=gen,
                                                                                          dtype=torch.float64)
    l2, r2 = balanced_pair(left, right)
    torch.testing.assert_close(l2 @ r2, left @ right)
    gram_l, gram_r = l2.transpose(-1, -2) @ l2, r2 @ r2.transpose(-1, -2)
    torch.testing.assert_close(gram_l, gram_r)
    torch.testing.assert_close(gram_l, torch.diag_embed(torch.diagonal(gram_l, dim1=-2, dim2=-1)))


def test_loss_option_penalises_canonical_weights_and_is_off_by_default():
    model = _model()
    other = _rescaled(model)
    labels = np.arange(graph_of(model, drop_dead=False).n_source_nodes) % 3
    values = {}
    for canonical in (False, True):
        for name, net in (("model", model), ("other", other)):
            loss = ModularityLoss(lam=1.0, k=3, canonical=canonical)
            loss._use_partition(net, labels)
            loss._last_refresh = 0  # penalise this fixed partition (no refresh)
            penalty = loss.penalty(net, step=0)
            penalty.backward()
            assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
            net.zero_grad()
            values[canonical, name] = penalty.item()
    assert ModularityLoss(lam=1.0, k=3).canonical is False
    assert values[True, "model"] == pytest.approx(values[True, "other"], rel=1e-5)
    assert values[False, "model"] != pytest.approx(values[False, "other"], rel=1e-3)


MODULAR = TransformerConfig(rows=4, cols=4, d_model=36, n_layers=2, n_heads=4, d_head=8, d_mlp=32, n_concepts=3,
                            n_modules=2, bus_width=4, bus_writer=1, value_module=0, policy_module=1, module_shares=(1, 3))


@torch.no_grad()
def _group_scaled(model: BoardTransformer, dims: slice, c: float) -> BoardTransformer:
    """Every write into residual dims `dims` (embeddings, W_O, W_out and its bias) times c."""
    other = BoardTransformer(model.config)
    other.load_state_dict(model.state_dict())
    other.state_embed.weight[:, dims] *= c
    other.pos_embed.weight[:, dims] *= c
    for block in other.blocks:
        block.attn.W_O[:, :, dims] *= c
        block.mlp.W_out.weight[dims, :] *= c
        block.mlp.W_out.bias[dims] *= c
    return other.eval()


@pytest.mark.parametrize("bus, dims, c, atol, graph_tol", [
    (4, slice(32, 36), 4.0, 1e-3, 1e-4), (4, slice(32, 36), 0.25, 1e-3, 1e-4), (4, slice(0, 8), 3.0, 1e-3, 1e-4),
    (2, slice(32, 34), 0.25, 0.1, 2e-3)])
def test_a_normalised_groups_scale_is_free_and_only_the_layer_norm_scaled_graph_ignores_it(bus, dims, c, atol,
                                                                                             graph_tol):
    """Scaling every write into a normalised group (the bus, or module 0's slice) by c keeps the outputs (to the
    LayerNorm's eps) but scales the raw graph's edges through it by c; `ln_std_scaled` divides each gain by the root
    mean variance its LayerNorm sees, which scales by c too, so its graph does not move (a bus of 2 included, whose
    per-position std is often near 0, so that eps moves its policy logits by up to 0.05 at c = 0.25 and the graph by
    6e-4 of its largest edge; the mean of 1 / std moved the graph by 30% there)."""
    from modinterp.modularity.construct import ln_std_scaled

    config = TransformerConfig(**{**MODULAR.__dict__, "d_model": 32 + bus, "bus_width": bus})
    model = BoardTransformer(config, seed=3).eval()
    tokens = _tokens(128, seed=4)
    scaled = _group_scaled(model, dims, c)
    before, after = model(tokens), scaled(tokens)
    assert torch.allclose(before.value, after.value, atol=atol) and torch.allclose(before.policy, after.policy, atol=atol)
    raw, raw_scaled = graph_of(model, drop_dead=False), graph_of(scaled, drop_dead=False)
    assert not np.allclose(raw.capacities, raw_scaled.capacities, rtol=0.1)
    even, even_scaled = (graph_of(ln_std_scaled(m, tokens), drop_dead=False) for m in (model, scaled))
    assert np.array_equal(even.edges, even_scaled.edges)
    assert np.abs(even.capacities - even_scaled.capacities).max() <= graph_tol * even.capacities.max()
    assert torch.equal(model(tokens).value, before.value)  # the model itself is left as it was


def test_ln_std_scaled_multiplies_each_layer_norms_own_gain_by_its_own_scale():
    from modinterp.modularity.construct import ln_std_scaled
    from modinterp.modularity.construct.canonical import layer_norm_scales

    model = _model(seed=2)
    tokens = _tokens(32, seed=1)
    scales, scaled = layer_norm_scales(model, tokens), ln_std_scaled(model, tokens)
    names = [f"blocks.{i}.{n}" for i in range(CONFIG.n_layers) for n in ("ln1", "ln2")] + ["ln_final"]
    assert len({round(float(scales[n][0]), 6) for n in names}) == len(names)  # distinct, so a swap would show
    for name in names:
        original, copy_ = model.get_submodule(name), scaled.get_submodule(name)
        assert torch.allclose(copy_.weight, original.weight * scales[name]) and torch.equal(copy_.bias, original.bias)


def test_layer_norm_scales_are_the_root_mean_variance_per_group_and_one_on_an_unnormalised_bus():
    from modinterp.modularity.construct.canonical import layer_norm_scales

    config = TransformerConfig(**{**MODULAR.__dict__, "bus_norm": "none"})
    model = BoardTransformer(config, seed=5).eval()
    tokens = _tokens(16, seed=6)
    _, cache = model.run_with_cache(tokens, names=["blocks.1.hook_resid_mid"])
    x = cache["blocks.1.hook_resid_mid"].double()
    scales = layer_norm_scales(model, tokens)["blocks.1.ln2"]
    for dims in (slice(0, 8), slice(8, 32)):
        expected = torch.rsqrt(x[..., dims].var(-1, unbiased=False).mean() + config.ln_eps)
        assert torch.allclose(scales[dims], expected.float().expand(dims.stop - dims.start), rtol=1e-5)
    assert torch.equal(scales[32:], torch.ones(4))
