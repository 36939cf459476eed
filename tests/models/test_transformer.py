"""BoardTransformer: sizes, names, attention and policy against slow references, masking, overfitting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from modinterp.models import BoardTransformer, TransformerConfig, build_model, masked_policy_logits
from modinterp.models.config import board_tokens, move_cells_table


def random_tokens(cfg: TransformerConfig, batch: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    boards = (rng.random((batch, cfg.n_cells)) < 0.4).astype(np.uint8)
    player = rng.integers(0, 2, batch) if cfg.side_to_move else None
    return torch.from_numpy(board_tokens(boards, cfg, player))


@pytest.fixture(scope="module")
def tiny() -> BoardTransformer:
    return build_model("smoke-large", 4, 5, seed=3)


# Sizes and names ------------------------------------------------------------------------------------------------
def test_small_preset_has_the_original_parameter_count():
    assert build_model("small", 16, 16).count_parameters() == 563_730


def test_large_preset_has_the_original_parameter_count():
    assert build_model("large", 16, 16).count_parameters() == 1_650_066


def test_state_dict_keys_follow_the_contract():
    keys = set(build_model("smoke", 3, 3).state_dict())
    expected = {"state_embed.weight", "pos_embed.weight", "ln_final.weight", "ln_final.bias",
                "value_head.weight", "value_head.bias", "concept_head.weight", "concept_head.bias",
                "policy_head.fc_in.weight", "policy_head.fc_in.bias",
                "policy_head.fc_out.weight", "policy_head.fc_out.bias"}
    for part in ("ln1.weight", "ln1.bias", "attn.W_Q", "attn.W_K", "attn.W_V", "attn.W_O", "ln2.weight",
                 "ln2.bias", "mlp.W_in.weight", "mlp.W_in.bias", "mlp.W_out.weight", "mlp.W_out.bias"):
        expected.add(f"blocks.0.{part}")
    assert keys == expected


def test_attention_weights_are_per_head_tensors(tiny):
    attn = tiny.blocks[1].attn
    cfg = tiny.config
    assert attn.W_Q.shape == attn.W_K.shape == attn.W_V.shape == (cfg.n_heads, cfg.d_model, cfg.d_head)
    assert attn.W_O.shape == (cfg.n_heads, cfg.d_head, cfg.d_model)


def test_output_shapes(tiny):
    out = tiny(random_tokens(tiny.config, 7))
    assert out.value.shape == (7,)
    assert out.policy.shape == (7, tiny.config.n_moves)
    assert out.concepts.shape == (7, tiny.config.n_concepts)


def test_hook_names_and_shapes(tiny):
    cfg = tiny.config
    batch, seq = 3, cfg.seq_len
    _, cache = tiny.run_with_cache(random_tokens(cfg, batch))
    expected = {"hook_embed": (batch, seq, cfg.d_model), "ln_final.hook_normalized": (batch, seq, cfg.d_model)}
    for i in range(cfg.n_layers):
        for name in ("hook_resid_pre", "hook_resid_mid", "hook_resid_post", "hook_attn_out", "hook_mlp_out"):
            expected[f"blocks.{i}.{name}"] = (batch, seq, cfg.d_model)
        for name in ("hook_q", "hook_k", "hook_v", "hook_z"):
            expected[f"blocks.{i}.attn.{name}"] = (batch, seq, cfg.n_heads, cfg.d_head)
        expected[f"blocks.{i}.attn.hook_pattern"] = (batch, cfg.n_heads, seq, seq)
        expected[f"blocks.{i}.mlp.hook_pre"] = (batch, seq, cfg.d_mlp)
        expected[f"blocks.{i}.mlp.hook_post"] = (batch, seq, cfg.d_mlp)
    shapes = {name: tuple(t.shape) for name, t in cache.items()}
    assert {k: shapes[k] for k in expected} == expected


def test_run_with_cache_returns_only_the_requested_names(tiny):
    names = ["blocks.0.hook_resid_post", "blocks.1.mlp.hook_post"]
    _, cache = tiny.run_with_cache(random_tokens(tiny.config, 2), names=names)
    assert sorted(cache) == sorted(names)


def test_run_with_cache_rejects_an_unknown_name(tiny):
    with pytest.raises(KeyError, match="blocks.9.hook_resid_post"):
        tiny.run_with_cache(random_tokens(tiny.config, 2), names=["blocks.9.hook_resid_post"])


def test_run_with_cache_output_equals_forward(tiny):
    tokens = random_tokens(tiny.config, 4)
    plain = tiny(tokens)
    cached, cache = tiny.run_with_cache(tokens, names=lambda n: "pattern" not in n)
    for a, b in zip(plain, cached):
        assert torch.equal(a, b)
    assert not tiny.blocks[0].attn.hook_z.is_hooked  # hooks removed afterwards


def test_resid_post_of_last_block_feeds_the_final_layer_norm(tiny):
    tokens = random_tokens(tiny.config, 4)
    _, cache = tiny.run_with_cache(tokens, names=["blocks.1.hook_resid_post", "ln_final.hook_normalized"])
    torch.testing.assert_close(tiny.ln_final(cache["blocks.1.hook_resid_post"]), cache["ln_final.hook_normalized"])


# Attention and policy head against slow references ---------------------------------------------------------------
def explicit_attention(attn, x: torch.Tensor) -> torch.Tensor:
    """The original's way: a Python loop over heads, explicit softmax, each head's output through its own W_O."""
    out = torch.zeros_like(x)
    for h in range(attn.n_heads):
        q, k, v = x @ attn.W_Q[h], x @ attn.W_K[h], x @ attn.W_V[h]
        pattern = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(attn.d_head), dim=-1)
        out = out + (pattern @ v) @ attn.W_O[h]
    return out


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-6), (torch.float32, 1e-5)])
def test_sdpa_attention_equals_explicit_per_head_reference(dtype, tolerance):
    model = build_model("small", 5, 5, seed=1).to(dtype)
    attn = model.blocks[0].attn
    x = torch.randn(3, model.config.seq_len, model.config.d_model, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(attn(x.to(dtype)), explicit_attention(attn, x.to(dtype)), atol=tolerance, rtol=0)


def test_hooked_pattern_path_equals_sdpa_path(tiny):
    tokens = random_tokens(tiny.config, 3)
    plain = tiny(tokens)
    with_pattern, _ = tiny.run_with_cache(tokens, names=["blocks.0.attn.hook_pattern"])
    torch.testing.assert_close(with_pattern.policy, plain.policy, atol=1e-5, rtol=0)


def test_policy_head_equals_concatenation_reference(tiny):
    cfg = tiny.config
    head = tiny.policy_head
    cells = torch.randn(2, cfg.n_cells, cfg.d_model, generator=torch.Generator().manual_seed(0))
    table = torch.from_numpy(move_cells_table(cfg.rows, cfg.cols))
    pairs = torch.cat([cells[:, table[:, 0]], cells[:, table[:, 1]]], dim=-1)  # (B, n_moves, 2d)
    reference = head.fc_out(F.gelu(head.fc_in(pairs))).squeeze(-1)
    with torch.no_grad():
        torch.testing.assert_close(head(cells), reference, atol=1e-6, rtol=0)


def test_policy_head_matches_the_gather_formulation_bit_for_bit(tiny):
    """Shifted views must reproduce the earlier index_select head exactly, gradients included, so that runs
    recorded with it (docs/results.md) reproduce bit for bit."""
    cfg, head, d = tiny.config, tiny.policy_head, tiny.config.d_model
    table = torch.from_numpy(move_cells_table(cfg.rows, cfg.cols))

    def gathered(cells):
        both = F.linear(cells, torch.cat([head.fc_in.weight[:, :d], head.fc_in.weight[:, d:]]))
        first, second = both[..., :d].index_select(1, table[:, 0]), both[..., d:].index_select(1, table[:, 1])
        return head.fc_out(F.gelu(first + second + head.fc_in.bias)).squeeze(-1)

    cells = torch.randn(5, cfg.n_cells, d, generator=torch.Generator().manual_seed(1))
    results = []
    for fn in (gathered, head):
        x = cells.clone().requires_grad_()
        out = fn(x)
        weights = torch.arange(out.numel(), dtype=out.dtype).reshape(out.shape).sin()
        results.append((out, torch.autograd.grad((out * weights).sum(), [x, *head.parameters()])))
    (out_a, grads_a), (out_b, grads_b) = results
    assert torch.equal(out_a, out_b)
    assert all(torch.equal(a, b) for a, b in zip(grads_a, grads_b))


def test_zeroing_a_heads_z_equals_zeroing_its_output_weights():
    model = build_model("smoke-large", 4, 4, seed=2)
    tokens = random_tokens(model.config, 3)
    handle = model.blocks[0].attn.hook_z.register_forward_hook(
        lambda _m, _a, z: z * (torch.arange(z.shape[2]) != 1).to(z.dtype)[:, None])
    with torch.no_grad():
        patched = model(tokens).value
        handle.remove()
        model.blocks[0].attn.W_O[1] = 0
        ablated = model(tokens).value
    torch.testing.assert_close(patched, ablated, atol=1e-6, rtol=0)


# Move table ---------------------------------------------------------------------------------------------------
def test_move_cells_table_on_a_3x3_board():
    expected = [[0, 3], [1, 4], [2, 5], [3, 6], [4, 7], [5, 8],  # vertical: top cell r*3+c
                [0, 1], [1, 2], [3, 4], [4, 5], [6, 7], [7, 8]]  # horizontal: left cell r*3+c
    assert move_cells_table(3, 3).tolist() == expected


def test_move_cells_table_agrees_with_the_engine():
    domineering = pytest.importorskip("modinterp.games.domineering")
    for rows, cols in [(2, 5), (8, 8), (16, 16), (7, 3)]:
        spec = domineering.BoardSpec(rows, cols)
        np.testing.assert_array_equal(move_cells_table(rows, cols), np.asarray(spec.move_cells))


# Masking ----------------------------------------------------------------------------------------------------
def test_masked_cross_entropy_equals_cross_entropy_over_legal_moves():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 12, generator=g)
    legal = torch.rand(5, 12, generator=g) < 0.5
    legal[:, 3] = True
    target = torch.full((5,), 3)
    masked = F.cross_entropy(masked_policy_logits(logits, legal), target, reduction="none")
    by_hand = torch.stack([-torch.log_softmax(row[ok], 0)[ok[:3].sum()] for row, ok in zip(logits, legal)])
    torch.testing.assert_close(masked, by_hand)


def test_masked_logits_put_no_probability_on_illegal_moves():
    legal = torch.tensor([[True, False, True, False]])
    probs = torch.softmax(masked_policy_logits(torch.tensor([[0.0, 50.0, 1.0, 80.0]]), legal), -1)
    assert probs[0, 1].item() == 0.0 and probs[0, 3].item() == 0.0


def test_a_row_without_legal_moves_gives_a_finite_loss():
    loss = F.cross_entropy(masked_policy_logits(torch.zeros(1, 4), torch.zeros(1, 4, dtype=torch.bool)),
                           torch.tensor([0]))
    assert torch.isfinite(loss)


def test_masking_rejects_a_mask_of_the_wrong_shape():
    with pytest.raises(ValueError, match="shaped like policy"):
        masked_policy_logits(torch.zeros(2, 4), torch.ones(2, 5, dtype=torch.bool))


# Determinism and inputs ----------------------------------------------------------------------------------------
def test_same_seed_gives_identical_weights():
    a, b = build_model("smoke", 4, 4, seed=7), build_model("smoke", 4, 4, seed=7)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_different_seeds_give_different_weights():
    a, b = build_model("smoke", 4, 4, seed=7), build_model("smoke", 4, 4, seed=8)
    assert not torch.equal(a.blocks[0].attn.W_Q, b.blocks[0].attn.W_Q)


def test_forward_is_deterministic(tiny):
    tokens = random_tokens(tiny.config, 6)
    first, second = tiny(tokens), tiny(tokens)
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_a_positions_output_does_not_depend_on_its_batch(tiny):
    tokens = random_tokens(tiny.config, 6)
    torch.testing.assert_close(tiny(tokens[2:3]).policy, tiny(tokens).policy[2:3], atol=1e-5, rtol=0)


def test_init_scales_follow_the_original():
    model = build_model("large", 16, 16, seed=0)
    attn = model.blocks[0].attn
    assert attn.W_Q.std().item() == pytest.approx(128 ** -0.5, rel=0.03)
    assert attn.W_O.std().item() == pytest.approx(16 ** -0.5, rel=0.03)
    assert abs(model.pos_embed.weight.std().item() - 1.0) < 0.02


def test_wrong_token_length_is_rejected(tiny):
    with pytest.raises(ValueError, match=f"expected \\(batch, {tiny.config.seq_len}\\)"):
        tiny(torch.zeros(2, tiny.config.seq_len - 1, dtype=torch.long))


def test_out_of_range_token_value_is_rejected(tiny):
    tokens = random_tokens(tiny.config, 2)
    tokens[0, 0] = 3
    with pytest.raises(ValueError, match="token values span 0..3"):
        tiny(tokens)


def test_float_tokens_are_rejected(tiny):
    with pytest.raises(TypeError, match="torch.long"):
        tiny(random_tokens(tiny.config, 2).float())


def test_side_to_move_token_adds_one_position_and_changes_the_value():
    model = build_model("smoke", 4, 4, side_to_move=True)
    boards = np.zeros((2, 16), dtype=np.uint8)
    tokens = torch.from_numpy(board_tokens(boards, model.config, player=np.array([0, 1])))
    assert tokens.shape == (2, 18) and tokens[:, -2].tolist() == [3, 4] and tokens[:, -1].tolist() == [2, 2]
    value = model(tokens).value
    assert value[0] != value[1]


# Learning -----------------------------------------------------------------------------------------------------
def test_tiny_model_overfits_a_handful_of_positions():
    """8 fixed random positions with random value/policy/concept targets: the summed loss (about 2.0 at
    the start) falls below 0.01 within 150 Adam steps."""
    model = build_model("smoke", 4, 4, seed=0)
    cfg = model.config
    g = torch.Generator().manual_seed(1)
    tokens = random_tokens(cfg, 8, seed=1)
    value = torch.randint(0, 2, (8,), generator=g).float()
    policy = torch.randint(0, cfg.n_moves, (8,), generator=g)
    concepts = torch.randn(8, cfg.n_concepts, generator=g) * 0.5
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        out = model(tokens)
        loss = (F.binary_cross_entropy_with_logits(out.value, value) + 0.2 * F.cross_entropy(out.policy, policy)
                + 0.8 * F.mse_loss(out.concepts, concepts))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.01
