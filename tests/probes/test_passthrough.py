"""Passthrough-free probe scores: the board split, a board-copying layer, a planted nonlinear direction, the control."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modinterp.games import concepts
from modinterp.games import domineering as dom
from modinterp.probes.capture import capture_cls_residuals
from modinterp.probes import passthrough as pt
from modinterp.probes.probe_set import make_domineering_probe_set

SECTOR = (3, 3)  # as the `positions` fixture (tests/probes/conftest.py)

ALPHAS = tuple(float(a) for a in np.logspace(-4, 6, 11))
SPEC = dom.BoardSpec(6, 6)  # as the `positions` fixture


@pytest.fixture(scope="module")
def probe_set(positions):
    tokens, _, targets, games = positions
    return make_domineering_probe_set(SPEC, tokens, targets, games, test_fraction=0.25, seed=0)


@pytest.fixture(scope="module")
def reference(probe_set):
    return pt.domineering_board_reference(SPEC, probe_set, "sector_move_difference", control_seed=0, alphas=ALPHAS,
                                       sector=SECTOR)


def board_copy(probe_set, width: int = 48, seed: int = 0) -> torch.Tensor:
    """A residual stream that is the one-hot board written along random orthonormal directions: pure passthrough.

    Orthonormal, so ridge on it equals ridge on the board itself (same spectrum), alpha for alpha.
    """
    features = pt.input_one_hot(probe_set.tokens)
    directions, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(width, features.shape[1])))
    return features @ torch.as_tensor(directions.T)


def test_one_hot_of_binary_cells_is_the_occupancy_of_every_cell_that_varies(positions, probe_set):
    _, boards, _, _ = positions
    varying = boards.min(axis=0) != boards.max(axis=0)
    assert pt.input_one_hot(probe_set.tokens).numpy().tolist() == boards[:, varying].astype(float).tolist()  # CLS dropped


def test_linear_and_nonlinear_parts_add_up_to_the_targets(probe_set):
    features = pt.input_one_hot(probe_set.tokens)
    linear, nonlinear = pt.split_linear_part(features, probe_set.targets, probe_set.train_index)
    assert np.allclose(linear + nonlinear, probe_set.targets, atol=1e-12)


def test_nonlinear_part_is_orthogonal_on_probe_train_to_every_linear_function_of_the_board(probe_set):
    features = pt.input_one_hot(probe_set.tokens).numpy()
    _, nonlinear = pt.split_linear_part(torch.as_tensor(features), probe_set.targets, probe_set.train_index)
    train_features, train_part = features[probe_set.train_index], nonlinear[probe_set.train_index]
    basis = np.column_stack([np.ones(len(train_features)), train_features])  # every linear function, intercept included
    scale = np.linalg.norm(basis, axis=0)[:, None] * np.linalg.norm(train_part, axis=0)[None, :]
    assert np.abs(basis.T @ train_part / scale).max() < 1e-10
    weights = np.random.default_rng(1).normal(size=(features.shape[1], 5))
    assert np.abs(np.corrcoef(train_features @ weights, train_part, rowvar=False)[:5, 5:]).max() < 1e-10
    assert np.var(train_part) > 0.1 * np.var(probe_set.y_train)  # and the part is not trivially zero


def test_board_copying_layer_scores_raw_r2_but_nothing_passthrough_free(probe_set, reference):
    scores = pt.passthrough_scores("copy", board_copy(probe_set), probe_set, reference, alphas=ALPHAS)
    assert reference.r2_board > 0.3
    assert scores.r2 == pytest.approx(reference.r2_board, abs=1e-9)  # raw R^2 is all passthrough
    assert scores.r2_linear_part > 0.95
    assert abs(scores.r2_nonlinear) < 0.02
    assert abs(scores.r2_gain) < 0.02


def test_planted_nonlinear_direction_is_found_and_selective(probe_set, reference):
    nonlinear = torch.as_tensor(reference.nonlinear_part.targets)
    mixing = torch.as_tensor(np.random.default_rng(2).normal(size=(nonlinear.shape[1], 8)))
    noise = 0.01 * torch.as_tensor(np.random.default_rng(3).normal(size=(len(nonlinear), 8)))
    layer = torch.cat([board_copy(probe_set), nonlinear @ mixing + noise], dim=1)
    scores = pt.passthrough_scores("planted", layer, probe_set, reference, alphas=ALPHAS)
    assert scores.r2_nonlinear > 0.95
    assert scores.r2 > 0.95 > reference.r2_board + 0.3  # the layer now holds the whole concept
    assert scores.r2_gain > 0.3
    assert scores.r2_control_nonlinear < 0.05 and scores.selectivity > 0.9


def test_scrambled_control_is_the_concept_on_one_fixed_cell_permutation(positions, probe_set, spec):
    _, boards, _, _ = positions
    permutation = np.random.default_rng(7).permutation(spec.rows * spec.cols)
    got = pt.scrambled_board_concept(spec, probe_set.tokens, "sector_move_difference", seed=7, sector=SECTOR)
    expected = concepts.sector_move_difference(spec, boards[:, permutation], sector=SECTOR)
    assert got.dtype == np.float64 and got.tolist() == expected.astype(np.float64).tolist()
    assert not np.array_equal(got, probe_set.targets)


def test_record_has_the_documented_keys_and_derived_values(probe_set, reference):
    scores = pt.passthrough_scores("copy", board_copy(probe_set), probe_set, reference, alphas=ALPHAS)
    record = scores.record("large-baseline", 2, 300, "sector_move_difference")
    assert tuple(record) == pt.PASSTHROUGH_RECORD_KEYS
    assert record["r2_gain"] == record["r2_board_layer"] - record["r2_board"]
    assert record["selectivity"] == max(record["r2_nonlinear"], 0) - max(record["r2_control_nonlinear"], 0)
    assert record["n_alphas_at_open_edge"] == sum(s.at_open_edge for s in scores.selections.values())
    assert 0 < record["nonlinear_share"] < 1 and record["alpha"] in ALPHAS
    assert record["n_alphas_at_edge"] == sum(s.at_grid_edge for s in scores.selections.values())


def test_missing_control_is_a_clear_error(probe_set):
    reference = pt.board_reference(probe_set, alphas=ALPHAS)
    with pytest.raises(ValueError, match="control_targets"):
        pt.passthrough_scores("copy", board_copy(probe_set), probe_set, reference, alphas=ALPHAS)


def test_side_to_move_token_adds_one_indicator(probe_set):
    tokens = probe_set.tokens
    side = torch.as_tensor(np.random.default_rng(5).integers(3, 5, size=len(tokens)))[:, None]  # tokens 3 / 4
    with_side = torch.cat([tokens[:, :-1], side, tokens[:, -1:]], dim=1)
    features = pt.input_one_hot(with_side)
    assert features.shape[1] == pt.input_one_hot(tokens).shape[1] + 1
    assert features[:, -1].tolist() == (side[:, 0] == 4).double().tolist()


def test_every_layer_of_a_real_model_gets_a_finite_record(tiny_model, probe_set, reference):
    activations = capture_cls_residuals(tiny_model, probe_set.tokens)
    scores = pt.passthrough_all_layers(activations, probe_set, reference, alphas=ALPHAS)
    assert list(scores) == ["0", "1", "final_ln"]
    for layer, s in scores.items():
        record = s.record("c", 0, 0, "sector_move_difference")
        assert record["layer"] == layer and all(np.isfinite(v) for k, v in record.items() if isinstance(v, float))
        assert record["r2_board"] == reference.r2_board


def test_concepts_scored_together_equal_each_concept_scored_alone(probe_set, reference, spec):
    """passthrough_for_concepts shares each fold's eigendecomposition across concepts; every score and chosen
    alpha is the one the concept gets alone."""
    other_set = probe_set.with_targets(concepts.compute_concept(
        "safe_moves", spec, probe_set.tokens[:, : SPEC.rows * SPEC.cols].numpy().astype(np.uint8)).astype(np.float64))
    other = pt.domineering_board_reference(SPEC, other_set, "safe_moves", control_seed=0, alphas=ALPHAS)
    X = board_copy(probe_set) + 0.3 * torch.as_tensor(np.random.default_rng(5).normal(size=(len(probe_set.tokens), 48)))
    together = pt.passthrough_for_concepts("1", X, [(probe_set, reference), (other_set, other)], ALPHAS)
    for joint, (concept_set, ref) in zip(together, [(probe_set, reference), (other_set, other)]):
        alone = {"raw": pt.probe_test_r2(X, concept_set, ALPHAS, 5, False),
                 "board_layer": pt.probe_test_r2(torch.cat([ref.features, X], dim=1), concept_set, ALPHAS, 5, False),
                 "linear_part": pt.probe_test_r2(X, ref.linear_part, ALPHAS, 5, False),
                 "nonlinear": pt.probe_test_r2(X, ref.nonlinear_part, ALPHAS, 5, False),
                 "control_nonlinear": pt.probe_test_r2(X, ref.control_nonlinear_part, ALPHAS, 5, False)}
        for name, key in (("raw", "r2"), ("board_layer", "r2_board_layer"), ("linear_part", "r2_linear_part"),
                          ("nonlinear", "r2_nonlinear"), ("control_nonlinear", "r2_control_nonlinear")):
            assert abs(getattr(joint, key) - alone[name][0]) < 1e-10, key
            assert joint.selections[name].alpha == alone[name][1].alpha, name
