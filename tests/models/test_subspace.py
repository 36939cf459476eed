"""Per-module residual subspaces (models/subspace.py): masks, per-slice LayerNorm, defaults, checkpoints."""

import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from modinterp.models import BoardTransformer, TransformerConfig, board_tokens
from modinterp.models.hooks import LayerNorm
from modinterp.models.subspace import GroupLayerNorm, module_of, residual_groups, unit_masks, unit_write_masks

BASE = dict(rows=4, cols=4, d_model=36, n_layers=2, n_heads=4, d_head=8, d_mlp=32, n_concepts=4)


def _tokens(cfg, n=8, seed=0):
    boards = np.random.default_rng(seed).integers(0, 2, (n, cfg.n_cells))
    return torch.as_tensor(board_tokens(boards, cfg))


def test_module_of_is_contiguous_and_balanced():
    assert module_of(10, 4).tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]
    assert residual_groups(36, 4, 4) == [8, 8, 8, 8, 4]
    assert residual_groups(36, 1, 0) == [36]
    masks = unit_masks(4, 12, 2, 2)  # slices 0..4 and 5..9, bus 10, 11
    assert masks[0].tolist() == [1] * 5 + [0] * 5 + [1, 1] and masks[3].tolist() == [0] * 5 + [1] * 7


@given(n_units=st.integers(1, 300), shares=st.lists(st.integers(1, 6), min_size=1, max_size=5))
def test_unequal_shares_split_each_layer_into_contiguous_runs_of_about_their_share(n_units, shares):
    """module_of with shares: runs in module order, each within one unit of n * share / total; equal shares give
    exactly the default split."""
    labels = module_of(n_units, len(shares), shares)
    assert (labels.diff() >= 0).all() and labels.min() >= 0 and labels.max() < len(shares)
    sizes = torch.bincount(labels, minlength=len(shares)).numpy()
    assert np.all(np.abs(sizes - n_units * np.array(shares) / sum(shares)) < 1)
    assert torch.equal(module_of(n_units, len(shares), [shares[0]] * len(shares)), module_of(n_units, len(shares)))


def test_a_module_with_a_quarter_share_gets_a_quarter_of_heads_neurons_and_dims():
    cfg = TransformerConfig(**{**BASE, "d_model": 40}, n_modules=2, bus_width=8, module_shares=[1, 3])
    assert cfg.module_shares == (1, 3)  # a TOML list becomes a tuple
    assert cfg == cfg.replace(module_shares=(2, 6))  # ratios: one config per split
    assert cfg.replace(module_shares=[4, 4]).module_shares is None  # equal shares are the default split
    assert residual_groups(40, 2, 8, cfg.module_shares) == [8, 24, 8]
    model = BoardTransformer(cfg, seed=4)
    heads = model.blocks[0].attn.mask
    assert heads[:, :8].sum(1).tolist() == [8, 0, 0, 0] and heads[:, 8:32].sum(1).tolist() == [0, 24, 24, 24]
    assert model.blocks[0].mlp.mask[:, :8].sum(0).tolist() == [8] * 8  # 8 of the 32 neurons read slice 0
    assert [ln.groups for ln in (model.ln_final, model.blocks[1].ln1)] == [[8, 24, 8]] * 2
    assert TransformerConfig.from_dict(cfg.to_dict()) == cfg


def test_defaults_leave_the_model_unmasked_and_checkpoint_compatible():
    plain = BoardTransformer(TransformerConfig(**BASE), seed=1)
    modular = BoardTransformer(TransformerConfig(**BASE, n_modules=4, bus_width=4), seed=1)
    assert plain.config.n_modules == 1 and plain.config.bus_width == 0 and not plain.config.modular
    assert all(b.attn.mask is None and b.mlp.mask is None for b in plain.blocks)
    assert all(type(ln) is LayerNorm for ln in (plain.ln_final, plain.blocks[0].ln1, plain.blocks[1].ln2))
    # masks are derived from the config, not stored: the same state_dict keys, and the same draws, masked
    assert list(plain.state_dict()) == list(modular.state_dict())
    mask = modular.blocks[1].attn.mask
    assert torch.equal(modular.blocks[1].attn.W_Q, plain.blocks[1].attn.W_Q * mask[:, :, None])
    assert torch.equal(modular.blocks[0].mlp.W_out.weight, plain.blocks[0].mlp.W_out.weight * modular.blocks[0].mlp.mask.T)
    assert torch.equal(modular.state_embed.weight, plain.state_embed.weight)


def test_masked_path_with_all_ones_masks_equals_the_unmasked_model():
    """To fp32 rounding (1e-6), not bit for bit: GroupLayerNorm applies its gain and bias after F.layer_norm."""
    plain = BoardTransformer(TransformerConfig(**BASE), seed=2)
    modular = BoardTransformer(TransformerConfig(**BASE, n_modules=2), seed=2)
    modular.load_state_dict(plain.state_dict())
    for block in modular.blocks:
        for mask in (block.attn.mask, block.attn.write_mask, block.mlp.mask, block.mlp.write_mask):
            mask.fill_(1.0)
    for name in ("ln1", "ln2"):
        for block in modular.blocks:
            getattr(block, name).groups = [36]
    modular.ln_final.groups = [36]
    tokens = _tokens(plain.config)
    for a, b in zip(plain(tokens), modular(tokens)):
        assert torch.allclose(a, b, atol=1e-6)


def test_without_a_bus_a_modules_slice_ignores_the_other_modules():
    """Perturbing module 1's slice of the embeddings changes nothing in module 0's slice of the final stream:
    fails with a whole-stream LayerNorm (its mean and std mix slices) or without the masks."""
    model = BoardTransformer(TransformerConfig(**BASE, n_modules=4), seed=3)
    tokens = _tokens(model.config)
    final = "blocks.1.hook_resid_post"
    _, before = model.run_with_cache(tokens, names=[final])
    with torch.no_grad():
        model.state_embed.weight[:, 9:18] += torch.randn(3, 9)
        model.pos_embed.weight[:, 9:18] += torch.randn(model.config.seq_len, 9)
    _, after = model.run_with_cache(tokens, names=[final])
    assert torch.equal(before[final][..., :9], after[final][..., :9])
    assert not torch.allclose(before[final][..., 9:18], after[final][..., 9:18])


def test_group_layer_norm_normalises_each_group():
    ln = GroupLayerNorm(6, [4, 2])
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(0))
    y = ln(x)
    for part in y.split([4, 2], dim=-1):
        assert torch.allclose(part.mean(-1), torch.zeros(3), atol=1e-6)
    with pytest.raises(ValueError, match="sum to 5; expected d_model=6"):
        GroupLayerNorm(6, [4, 1])


def test_masked_weights_stay_zero_through_adamw_with_weight_decay():
    model = BoardTransformer(TransformerConfig(**BASE, n_modules=4, bus_width=4), seed=4)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    tokens = _tokens(model.config, 16)
    for _ in range(3):
        out = model(tokens)
        (out.value.square().mean() + out.policy.square().mean()).backward()
        opt.step()
        opt.zero_grad()
    for block in model.blocks:
        off = block.attn.mask == 0
        assert block.attn.W_K.abs().sum(-1)[off].max() == 0 and block.attn.W_O.abs().sum(1)[off].max() == 0
        assert block.mlp.W_in.weight[block.mlp.mask == 0].abs().max() == 0
        assert block.mlp.W_in.weight[block.mlp.mask == 1].abs().min() > 0


def test_a_modular_model_round_trips_through_its_state_dict_and_config():
    model = BoardTransformer(TransformerConfig(**BASE, n_modules=4, bus_width=4), seed=5)
    config = TransformerConfig.from_dict(model.config.to_dict())
    fresh = BoardTransformer(config, seed=99)
    fresh.load_state_dict(model.state_dict())
    tokens = _tokens(config)
    assert all(torch.equal(a, b) for a, b in zip(model(tokens), fresh(tokens)))
    new_fields = ("n_modules", "bus_width", "value_module", "policy_module", "concept_module")
    old = {k: v for k, v in model.config.to_dict().items() if k not in new_fields}
    loaded = TransformerConfig.from_dict(old)  # configs written before the fields load unmasked and unrouted
    assert loaded.n_modules == 1 and (loaded.value_module, loaded.policy_module, loaded.concept_module) == (-1, -1, -1)


@pytest.mark.parametrize("changes, fragment", [
    (dict(n_modules=0), "n_modules=0: expected a positive int"),
    (dict(bus_width=2), "bus_width=2 needs n_modules > 1"),
    (dict(n_modules=5), "n_modules=5 exceeds n_heads=4"),
    (dict(n_modules=2, bus_width=35), "exceeds d_model - bus_width=1"),
    (dict(n_modules=2, bus_width=-1), "bus_width=-1: expected an int >= 0"),
    (dict(value_module=0), "value_module=0: expected -1 (the head reads the whole stream); routing a head needs n_modules > 1"),
    (dict(n_modules=2, policy_module=2), "policy_module=2: expected -1 (the head reads the whole stream) or a module in 0..1"),
    (dict(n_modules=2, concept_module=-2), "concept_module=-2"),
    (dict(n_modules=2, bus_writer=0), "bus_writer=0: expected -1 (every module writes the bus); a writer needs"),
    (dict(n_modules=2, bus_width=4, bus_writer=2), "bus_writer=2: expected -1 (every module writes the bus) or a module in 0..1"),
    (dict(n_modules=2, module_shares=(1, 2, 3)), "module_shares=(1, 2, 3): expected None (equal modules) or, with n_modules=2 > 1, that many ints in 1..1000"),
    (dict(module_shares=(5,)), "module_shares=(5,)"),
    (dict(n_modules=2, module_shares=(1, 10**17)), "module_shares=(1, 100000000000000000)"),
    (dict(n_modules=2, module_shares=(0, 3)), "module_shares=(0, 3)"),
    (dict(n_modules=2, module_shares=(7, 1)), "a module gets no unit of n_heads=4 (sizes [4, 0])"),
])
def test_bad_subspace_fields_are_named(changes, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        TransformerConfig(**{**BASE, **changes})


@pytest.mark.parametrize("changes, fragment", [
    (dict(n_modules=4, bus_width=1), "bus_width=1"),
    (dict(d_model=6, n_modules=4, bus_width=2), "1 residual dimension"),
])
def test_a_one_dimensional_residual_group_is_refused(changes, fragment):
    """A (Group)LayerNorm maps a one-dimensional group to 0 (x minus its own mean), so every reader sees a constant
    there: a bus of width 1 would silently join nothing, a slice of one dimension would blind its module."""
    ln = GroupLayerNorm(5, [4, 1])
    assert torch.equal(ln(torch.randn(3, 5))[:, 4], ln.bias[4].expand(3))  # why: the group carries nothing
    with pytest.raises(ValueError, match=fragment):
        TransformerConfig(**{**BASE, **changes})


def test_an_unnormalised_bus_passes_through_each_layer_norm_with_gain_and_bias_only():
    """bus_norm="none": the slices are still normalised on their own, the bus is x * gain + bias, so a bus of 2
    carries two numbers (a normalised one: a sign), and a bus of 1 is allowed (refused with bus_norm="layer")."""
    ln = GroupLayerNorm(6, [4, 2], raw_last=True)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 2.0), ln.bias.uniform_(-1.0, 1.0)
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(1))
    y = ln(x)
    assert torch.allclose(y[:, 4:], x[:, 4:] * ln.weight[4:] + ln.bias[4:])
    assert torch.allclose(y[:, :4], GroupLayerNorm(6, [4, 2]).forward(x)[:, :4] * ln.weight[:4] + ln.bias[:4], atol=1e-6)
    pair = 10 * torch.randn(50, 2, generator=torch.Generator().manual_seed(2))
    two = GroupLayerNorm(2, [2])(pair)  # why: a normalised pair is +-(1, -1), the sign of its difference
    assert torch.allclose(two, torch.sign(pair[:, :1] - pair[:, 1:]) * torch.tensor([1.0, -1.0]), atol=1e-2)
    model = BoardTransformer(TransformerConfig(**ROUTED, bus_width=1, bus_writer=1, bus_norm="none"), seed=3)
    assert all(block.ln1.raw_last and block.ln2.raw_last for block in model.blocks) and model.ln_final.raw_last
    with pytest.raises(ValueError, match="bus_norm='sphere': expected one of 'layer', 'none'"):
        TransformerConfig(**ROUTED, bus_width=2, bus_norm="sphere")
    with pytest.raises(ValueError, match="bus_norm='none' leaves a bus unnormalised, and this model has none"):
        TransformerConfig(**ROUTED, bus_norm="none")


def test_an_unnormalised_one_way_bus_still_carries_nothing_back():
    """The one-way bus's guarantee with bus_norm="none": module 0's slice cannot move the policy; module 1's moves
    the value through the bus."""
    _check_slice_perturbations(TransformerConfig(**ROUTED, bus_width=2, bus_writer=1, bus_norm="none"), seed=11,
                               cases=((slice(0, 17), ("policy",), ("value", "concepts")),
                                      (slice(17, 34), (), ("value", "policy"))))


def test_modular_models_embed_only_into_the_same_split():
    from modinterp.grow.embed import EmbeddingMismatchError, embed, verify_embedding

    small = BoardTransformer(TransformerConfig(**BASE, n_modules=2, bus_width=4), seed=0)
    large = BoardTransformer(TransformerConfig(**{**BASE, "n_layers": 3}, n_modules=2, bus_width=4), seed=1)
    embed(small, large, preserve_outputs=True)
    verify_embedding(small, large, _tokens(small.config))  # raises if the function is not preserved
    wider = BoardTransformer(TransformerConfig(**{**BASE, "n_heads": 8}, n_modules=2, bus_width=4), seed=1)
    with pytest.raises(EmbeddingMismatchError, match="modular heads do not line up"):
        embed(small, wider)
    with pytest.raises(EmbeddingMismatchError, match="residual subspaces differ"):
        embed(small, BoardTransformer(TransformerConfig(**BASE), seed=1))
    routed = BoardTransformer(TransformerConfig(**{**BASE, "n_layers": 3}, n_modules=2, bus_width=4, value_module=0),
                              seed=1)
    with pytest.raises(EmbeddingMismatchError, match=re.escape("small (value, policy, concept)_module=(-1, -1, -1), "
                                                               "large (0, -1, -1)")):
        embed(small, routed)


ROUTED = dict(**BASE, n_modules=2, value_module=0, concept_module=0, policy_module=1)


def test_a_routed_head_reads_only_its_modules_slice_and_the_bus():
    model = BoardTransformer(TransformerConfig(**ROUTED, bus_width=4), seed=6)
    assert model.read_mask("value").tolist() == [1.0] * 16 + [0.0] * 16 + [1.0] * 4  # slice 0 and the bus
    assert model.read_mask("policy").tolist() == [0.0] * 16 + [1.0] * 20
    assert BoardTransformer(TransformerConfig(**BASE, n_modules=2), seed=6).read_mask("value") is None
    # the unread columns start at zero, so the raw weights show the routing too
    assert model.value_head.weight[:, 16:32].abs().max() == 0 and model.value_head.weight[:, :16].abs().min() > 0
    fc_in = model.policy_head.fc_in.weight.view(36, 2, 36)
    assert fc_in[..., :16].abs().max() == 0 and fc_in[..., 16:].abs().min() > 0


def test_without_a_bus_the_value_ignores_the_policy_module_and_the_policy_ignores_the_value_module():
    """Perturbing module 1's slice of the embeddings leaves the value and concepts bit for bit and moves the
    policy; module 0's slice the other way round. Fails without the routing masks (the heads read every slice)."""
    _check_slice_perturbations(TransformerConfig(**ROUTED), seed=7, cases=(
        (slice(18, 36), ("value", "concepts"), ("policy",)), (slice(0, 18), ("policy",), ("value", "concepts"))))


def _check_slice_perturbations(config: TransformerConfig, seed: int, cases) -> None:
    """For each (residual dims, outputs kept, outputs moved): perturb the embeddings on those dims and check that
    the kept outputs are equal bit for bit and every moved one changed."""
    model = BoardTransformer(config, seed=seed)
    tokens = _tokens(config)
    before = model(tokens)
    for dims, same, moved in cases:
        perturbed = BoardTransformer(config, seed=seed)
        with torch.no_grad():
            perturbed.state_embed.weight[:, dims] += torch.randn(3, dims.stop - dims.start)
        after = perturbed(tokens)
        assert all(torch.equal(getattr(before, name), getattr(after, name)) for name in same)
        assert not any(torch.allclose(getattr(before, name), getattr(after, name)) for name in moved)


def test_routed_heads_unread_weights_stay_zero_through_adamw():
    model = BoardTransformer(TransformerConfig(**ROUTED, bus_width=4), seed=8)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    tokens = _tokens(model.config, 16)
    for _ in range(3):
        out = model(tokens)
        (out.value.square().mean() + out.policy.square().mean() + out.concepts.square().mean()).backward()
        opt.step()
        opt.zero_grad()
    assert model.value_head.weight[:, 16:32].abs().max() == 0 and model.concept_head.weight[:, 16:32].abs().max() == 0
    assert model.policy_head.fc_in.weight.view(36, 2, 36)[..., :16].abs().max() == 0


def test_a_one_way_bus_is_written_only_by_its_writer_and_read_by_every_unit():
    read, write = unit_masks(4, 12, 2, 2), unit_write_masks(4, 12, 2, 2, bus_writer=1)
    assert torch.equal(read, unit_write_masks(4, 12, 2, 2))  # a two-way bus: write = read
    assert write[0].tolist() == [1] * 5 + [0] * 7 and write[3].tolist() == [0] * 5 + [1] * 7
    model = BoardTransformer(TransformerConfig(**ROUTED, bus_width=4, bus_writer=1), seed=9)
    for block in model.blocks:  # module 0's heads and neurons write nothing on the bus, module 1's do
        w_o, w_out = block.attn.weights()[3], block.mlp.w_out()
        assert w_o[:2, :, 32:].abs().max() == 0 and w_o[2:, :, 32:].abs().min() > 0
        assert w_out[32:, :16].abs().max() == 0 and w_out[32:, 16:].abs().min() > 0
        assert block.attn.weights()[0][:2, 32:].abs().min() > 0  # but they read it


def test_a_one_way_bus_carries_the_writers_features_to_the_value_and_nothing_back():
    """bus_writer = 1 (the policy module): perturbing module 0's slice leaves the policy bit for bit, while module
    1's slice moves the value through the bus. Fails with a two-way bus (module 0 would write the bus) or without
    the write masks."""
    _check_slice_perturbations(TransformerConfig(**ROUTED, bus_width=4, bus_writer=1), seed=10, cases=(
        (slice(0, 16), ("policy",), ("value", "concepts")), (slice(16, 32), (), ("value", "policy"))))
