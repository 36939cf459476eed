"""TransformerConfig validation, serialisation and presets."""

from __future__ import annotations

import numpy as np
import pytest

from modinterp.models import PRESETS, TransformerConfig, board_tokens, build_model, preset_config


def test_config_round_trips_through_a_dict():
    cfg = preset_config("cpu-large", 8, 8, n_concepts=4, side_to_move=True)
    assert TransformerConfig.from_dict(cfg.to_dict()) == cfg


def test_from_dict_names_an_unknown_field():
    data = preset_config("smoke", 4, 4).to_dict() | {"d_modle": 3}
    with pytest.raises(ValueError, match="d_modle"):
        TransformerConfig.from_dict(data)


@pytest.mark.parametrize("field, value", [("rows", 1), ("cols", 17), ("d_model", 0), ("n_heads", -1),
                                          ("d_head", 2.0), ("n_layers", True), ("ln_eps", 0.0)])
def test_invalid_field_is_named_in_the_error(field, value):
    with pytest.raises(ValueError, match=f"TransformerConfig.{field}="):
        preset_config("smoke", 4, 4).replace(**{field: value})


def test_derived_sizes_on_a_16x16_board():
    cfg = preset_config("small", 16, 16)
    assert (cfg.n_cells, cfg.n_vertical, cfg.n_moves, cfg.seq_len) == (256, 240, 480, 257)


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ValueError, match="cpu-small"):
        build_model("medium", 8, 8)


def test_unknown_override_is_named():
    with pytest.raises(ValueError, match="n_head"):
        build_model("smoke", 8, 8, n_head=3)


@pytest.mark.parametrize("small, large", [("small", "large"), ("cpu-small", "cpu-large"), ("smoke", "smoke-large")])
def test_preset_pairs_share_width_so_small_embeds_into_large(small, large):
    a, b = PRESETS[small], PRESETS[large]
    assert a["d_model"] == b["d_model"] and a["d_head"] == b["d_head"]
    assert a["n_heads"] <= b["n_heads"] and a["d_mlp"] <= b["d_mlp"] and a["n_layers"] <= b["n_layers"]


def test_board_tokens_put_cls_last():
    cfg = preset_config("smoke", 2, 3)
    tokens = board_tokens(np.array([[1, 0, 0, 1, 1, 0]]), cfg)
    assert tokens.tolist() == [[1, 0, 0, 1, 1, 0, 2]]


def test_board_tokens_need_a_player_with_side_to_move():
    cfg = preset_config("smoke", 2, 3, side_to_move=True)
    with pytest.raises(ValueError, match="player"):
        board_tokens(np.zeros((1, 6)), cfg)
