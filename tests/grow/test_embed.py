"""embed / verify_embedding: offsets, subsets, preserve_outputs, what stays random, and every mismatch."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modinterp.grow import (EmbeddingMismatchError, EmbeddingVerificationError, embed, parameter_masks,
                            verify_embedding)
from modinterp.models import build_model
from modinterp.models.config import board_tokens

ROWS, COLS = 4, 5


def trained_like(model, seed: int):
    """Perturb every parameter (LayerNorm weights and biases too) so a forgotten copy cannot go unnoticed."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return model


def make_small(**overrides):
    fields = dict(n_layers=3, n_heads=2, d_mlp=48) | overrides
    return trained_like(build_model("smoke", ROWS, COLS, seed=1, **fields), seed=11)


def make_large(**overrides):
    fields = dict(n_layers=5, n_heads=4, d_mlp=96) | overrides
    return build_model("smoke-large", ROWS, COLS, seed=2, **fields)


def random_board_tokens(n: int = 32, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    boards = (rng.random((n, ROWS * COLS)) < rng.random((n, 1))).astype(np.uint8)
    return torch.from_numpy(board_tokens(boards, make_small().config))


def assert_outputs_close(a, b, atol=1e-5):
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, atol=atol, rtol=0)


# Offset 0 -----------------------------------------------------------------------------------------------------
def test_offset_zero_reproduces_the_small_stream_after_every_embedded_layer():
    small, large, tokens = make_small(), make_large(), random_board_tokens()
    report = verify_embedding(small, embed(small, large), tokens)
    assert list(report.resid_diffs) == ["0", "1", "2"]
    assert report.start == "small embedding" and report.max_abs_diff < 1e-5
    _, small_cache = small.run_with_cache(tokens, names=["blocks.2.hook_resid_post"])
    _, large_cache = large.run_with_cache(tokens, names=["blocks.2.hook_resid_post"])
    torch.testing.assert_close(large_cache["blocks.2.hook_resid_post"], small_cache["blocks.2.hook_resid_post"],
                               atol=1e-5, rtol=0)


def test_offset_zero_without_preserve_leaves_later_blocks_random_so_outputs_differ():
    """The original's behaviour: random blocks 3-4 write into the stream before the copied heads."""
    small, large, tokens = make_small(), make_large(), random_board_tokens()
    report = verify_embedding(small, embed(small, large), tokens)
    assert report.output_diffs == {}
    assert (large(tokens).value - small(tokens).value).abs().max() > 1e-2


def test_preserve_outputs_reproduces_the_small_models_outputs():
    small, large, tokens = make_small(), make_large(), random_board_tokens()
    report = verify_embedding(small, embed(small, large, preserve_outputs=True), tokens)
    assert sorted(report.output_diffs) == ["concepts", "policy", "value"]
    assert_outputs_close(large(tokens), small(tokens))


def test_embedding_returns_the_large_model_itself():
    small, large = make_small(), make_large()
    assert embed(small, large) is large


# Deeper offsets ------------------------------------------------------------------------------------------------
def test_deeper_offset_with_preserve_outputs_is_the_small_model_end_to_end():
    small, large, tokens = make_small(), make_large(), random_board_tokens()
    report = verify_embedding(small, embed(small, large, at_layer=2, preserve_outputs=True), tokens)
    assert list(report.resid_diffs) == ["2", "3", "4"] and report.start == "small embedding"
    assert_outputs_close(large(tokens), small(tokens))


def test_deeper_offset_without_preserve_verifies_from_the_large_stream_entering_the_first_embedded_block():
    small, large, tokens = make_small(), make_large(), random_board_tokens()
    embed(small, large, at_layer=1, layers=[0, 1])
    report = verify_embedding(small, large, tokens)
    assert report.start == "large stream entering block 1" and list(report.resid_diffs) == ["1", "2"]
    assert report.output_diffs == {}  # random block 3 follows


def test_deeper_offset_leaves_the_embeddings_and_earlier_blocks_random():
    small, large = make_small(), make_large()
    before = copy.deepcopy(large.state_dict())
    embed(small, large, at_layer=2)
    for key in ("state_embed.weight", "pos_embed.weight", "blocks.0.attn.W_O", "blocks.1.mlp.W_out.weight"):
        assert torch.equal(large.state_dict()[key], before[key]), key


def test_embedded_block_computes_the_small_blocks_function_on_any_stream():
    small, large = make_small(), make_large()
    embed(small, large, at_layer=2)
    x = torch.randn(3, small.config.seq_len, small.config.d_model, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(large.blocks[3](x), small.blocks[1](x), atol=1e-5, rtol=0)


def test_embedded_blocks_that_end_the_large_model_preserve_the_outputs_from_the_entering_stream():
    small, large, tokens = make_small(), make_large(), random_board_tokens()
    report = verify_embedding(small, embed(small, large, at_layer=2), tokens)
    assert report.start == "large stream entering block 2"
    assert sorted(report.output_diffs) == ["concepts", "policy", "value"]


# Subsets of layers --------------------------------------------------------------------------------------------
def test_subset_of_layers_equals_the_small_model_restricted_to_those_layers():
    small, large, tokens = make_small(), make_large(), random_board_tokens()
    report = verify_embedding(small, embed(small, large, layers=[1, 2], preserve_outputs=True), tokens)
    assert list(report.resid_diffs) == ["0", "1"]
    with torch.no_grad():
        restricted = small.unembed(small.blocks[2](small.blocks[1](small.embed_tokens(tokens))))
    assert_outputs_close(large(tokens), restricted)


def test_middle_layer_embedded_deeper_is_verified():
    small, large, tokens = make_small(), make_large(), random_board_tokens()
    report = verify_embedding(small, embed(small, large, at_layer=3, layers=[1]), tokens)
    assert list(report.resid_diffs) == ["3"] and report.passed


# What is copied, zeroed, or left alone -------------------------------------------------------------------------
def test_fresh_heads_and_neurons_write_nothing_but_keep_random_input_weights():
    small, large = make_small(), make_large()
    before = copy.deepcopy(large.state_dict())
    embed(small, large)
    attn, mlp = large.blocks[1].attn, large.blocks[1].mlp
    assert torch.count_nonzero(attn.W_O[2:]) == 0 and torch.count_nonzero(mlp.W_out.weight[:, 48:]) == 0
    assert torch.equal(attn.W_Q[2:], before["blocks.1.attn.W_Q"][2:])
    assert torch.equal(mlp.W_in.weight[48:], before["blocks.1.mlp.W_in.weight"][48:])
    assert torch.equal(mlp.W_in.bias[48:], before["blocks.1.mlp.W_in.bias"][48:])


def test_copied_weights_are_the_small_models():
    small, large = make_small(), make_large()
    embed(small, large)
    assert torch.equal(large.blocks[2].attn.W_V[:2], small.blocks[2].attn.W_V)
    assert torch.equal(large.blocks[2].mlp.W_out.bias, small.blocks[2].mlp.W_out.bias)
    assert torch.equal(large.blocks[2].ln2.weight, small.blocks[2].ln2.weight)
    assert torch.equal(large.policy_head.fc_in.weight, small.policy_head.fc_in.weight)


def test_later_blocks_stay_untouched_without_preserve_outputs():
    small, large = make_small(), make_large()
    before = copy.deepcopy(large.state_dict())
    embed(small, large)
    assert all(torch.equal(large.state_dict()[k], v) for k, v in before.items() if k.startswith("blocks.4."))


def test_preserve_outputs_zeroes_the_output_side_of_non_embedded_blocks():
    small, large = make_small(), make_large()
    embed(small, large, preserve_outputs=True)
    block = large.blocks[4]
    assert all(torch.count_nonzero(t) == 0 for t in (block.attn.W_O, block.mlp.W_out.weight, block.mlp.W_out.bias))
    assert torch.count_nonzero(block.mlp.W_in.weight) > 0


def test_copy_heads_false_keeps_the_large_output_heads():
    small, large = make_small(), make_large()
    before = large.value_head.weight.clone()
    embed(small, large, copy_heads=False)
    assert torch.equal(large.value_head.weight, before)


def test_fresh_output_weights_receive_gradients():
    small, large, tokens = make_small(), make_large(), random_board_tokens(8)
    embed(small, large, preserve_outputs=True)
    large(tokens).value.sum().backward()
    assert large.blocks[0].attn.W_O.grad[2:].abs().sum() > 0
    assert large.blocks[0].mlp.W_out.weight.grad[:, 48:].abs().sum() > 0


@pytest.mark.parametrize("kwargs", [{}, {"preserve_outputs": True}, {"at_layer": 2, "layers": [0, 2]},
                                    {"at_layer": 1, "copy_heads": False}])
def test_parameter_masks_describe_exactly_what_embed_changed(kwargs):
    small, large = make_small(), make_large()
    before = copy.deepcopy(large.state_dict())
    embed(small, large, **kwargs)
    copied, zeroed = parameter_masks(large.embedding_plan, small, large)
    after = large.state_dict()
    for name, value in after.items():
        assert torch.count_nonzero(value[zeroed[name]]) == 0, name
        untouched = ~(copied[name] | zeroed[name])
        assert torch.equal(value[untouched], before[name][untouched]), name
        assert not (copied[name] & zeroed[name]).any(), name
    n_small = sum(p.numel() for n, p in small.named_parameters() if kwargs.get("copy_heads", True)
                  or not n.startswith(("ln_final", "value_head", "concept_head", "policy_head")))
    n_small_blocks_skipped = sum(p.numel() for n, p in small.named_parameters() if n.startswith("blocks.1."))
    n_embed = sum(p.numel() for n, p in small.named_parameters() if "_embed" in n)
    expected = n_small - (n_small_blocks_skipped if kwargs.get("layers") == [0, 2] else 0)
    expected -= 0 if large.embedding_plan.copy_embeddings else n_embed
    assert sum(int(m.sum()) for m in copied.values()) == expected


# Verification fails when it should ---------------------------------------------------------------------------
def test_verification_catches_a_changed_copied_weight():
    small, large, tokens = make_small(), make_large(), random_board_tokens()
    embed(small, large, preserve_outputs=True)
    with torch.no_grad():
        large.blocks[1].attn.W_Q[0, 0, 0] += 0.5
    with pytest.raises(EmbeddingVerificationError, match="layer 1"):
        verify_embedding(small, large, tokens)


def test_verification_catches_a_fresh_head_that_writes():
    small, large, tokens = make_small(), make_large(), random_board_tokens()
    embed(small, large)
    with torch.no_grad():
        large.blocks[0].attn.W_O[3] += 0.01
    report = verify_embedding(small, large, tokens, raise_on_failure=False)
    assert not report.passed and report.resid_diffs["0"] > 1e-5


def test_report_serialises_the_largest_difference():
    small, large, tokens = make_small(), make_large(), random_board_tokens()
    report = verify_embedding(small, embed(small, large), tokens).to_dict()
    assert report["max_abs_diff"] == max(report["resid_diffs"].values()) and report["passed"] is True


def test_verify_needs_a_plan_for_a_model_that_was_not_embedded():
    with pytest.raises(ValueError, match="embedding_plan"):
        verify_embedding(make_small(), make_large(), random_board_tokens(2))


# Mismatches ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("small_kw, large_kw, kwargs, message", [
    ({}, {"d_model": 48}, {}, "d_model differs"),
    ({}, {"d_head": 16}, {}, "d_head differs"),
    ({"n_heads": 5}, {}, {}, "too many heads"),
    ({"d_mlp": 200}, {}, {}, "too many MLP neurons"),
    ({"n_layers": 6}, {}, {}, "too many layers"),
    ({}, {}, {"at_layer": 3}, "too many layers"),
    ({}, {}, {"layers": [2, 1]}, "strictly increasing"),
    ({}, {}, {"layers": [3]}, "strictly increasing"),
    ({}, {"n_concepts": 4}, {}, "n_concepts differs"),
])
def test_mismatch_names_what_differs(small_kw, large_kw, kwargs, message):
    small, large = make_small(**small_kw), make_large(**large_kw)
    before = copy.deepcopy(large.state_dict())
    with pytest.raises(EmbeddingMismatchError, match=message):
        embed(small, large, **kwargs)
    assert all(torch.equal(large.state_dict()[k], v) for k, v in before.items())  # nothing half-copied


def test_board_size_mismatch_is_named():
    small = build_model("smoke", 4, 4)
    with pytest.raises(EmbeddingMismatchError, match="board size"):
        embed(small, build_model("smoke-large", 4, 5))


def test_side_to_move_mismatch_is_named():
    small = build_model("smoke", 4, 4, side_to_move=True)
    with pytest.raises(EmbeddingMismatchError, match="side_to_move"):
        embed(small, build_model("smoke-large", 4, 4))


# Real positions ------------------------------------------------------------------------------------------------
def test_embedding_is_verified_on_real_game_positions():
    domineering = pytest.importorskip("modinterp.games.domineering")
    players = pytest.importorskip("modinterp.games.players")
    spec = domineering.BoardSpec(ROWS, COLS)
    games = players.random_games(spec, 16, seed=3)
    game_index = np.repeat(np.arange(16), 3)
    ply = np.minimum(np.tile([0, 2, 5], 16), np.asarray(games.lengths)[game_index])
    boards = domineering.replay_boards(spec, np.asarray(games.moves), game_index, ply)
    tokens = torch.from_numpy(board_tokens(boards, make_small().config))
    small, large = make_small(), make_large()
    report = verify_embedding(small, embed(small, large, preserve_outputs=True), tokens)
    assert report.n_positions == 48 and report.passed


# Property: every valid plan verifies -------------------------------------------------------------------------
@st.composite
def valid_plans(draw):
    layers = sorted(draw(st.sets(st.integers(0, 2), min_size=1, max_size=3)))
    at_layer = draw(st.integers(0, 5 - len(layers)))
    return dict(at_layer=at_layer, layers=layers, preserve_outputs=draw(st.booleans()),
                copy_heads=draw(st.booleans()))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kwargs=valid_plans())
def test_every_valid_plan_verifies(kwargs):
    small, large, tokens = make_small(), make_large(), random_board_tokens(8)
    report = verify_embedding(small, embed(small, large, **kwargs), tokens)
    assert report.passed and len(report.resid_diffs) == len(kwargs["layers"])
    assert bool(report.output_diffs) == large.embedding_plan.outputs_preserved
