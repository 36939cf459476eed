"""ProbeSet: fixed positions split by game, deduplicated against probe-train, saved without pickle."""

from __future__ import annotations

import numpy as np
import pytest

from modinterp.probes.probe_set import ProbeSet, make_domineering_probe_set, make_probe_set
from modinterp.probes.splits import canonical_keys, domineering_transform


def test_no_game_has_positions_in_both_probe_train_and_probe_test(positions, spec):
    tokens, _, targets, games = positions
    probe_set = make_domineering_probe_set(spec, tokens, targets, games, test_fraction=0.25, seed=0)
    assert not set(probe_set.train_games) & set(probe_set.test_games)


def test_no_probe_test_board_occurs_in_probe_train_up_to_symmetry(positions, spec):
    tokens, boards, targets, games = positions
    probe_set = make_domineering_probe_set(spec, tokens, targets, games, test_fraction=0.25, seed=0)
    keys = canonical_keys(boards, domineering_transform(spec))
    assert not set(keys[probe_set.train_index].tolist()) & set(keys[probe_set.test_index].tolist())


def test_random_games_do_transpose_so_duplicates_are_actually_dropped(positions, spec):
    """Every game starts from the empty board, so at least the test games' opening boards are duplicates."""
    tokens, _, targets, games = positions
    probe_set = make_domineering_probe_set(spec, tokens, targets, games, test_fraction=0.25, seed=0)
    n_test_games = len(np.unique(probe_set.test_games))
    assert probe_set.n_dropped_duplicates >= n_test_games
    assert probe_set.n_test + probe_set.n_dropped_duplicates == np.isin(games, probe_set.test_games).sum()


def test_probe_set_round_trips_through_npz(tmp_path, positions, spec):
    tokens, _, targets, games = positions
    original = make_domineering_probe_set(spec, tokens, targets, games, seed=2, target_names=("a", "b", "c", "d"))
    loaded = ProbeSet.load(original.save(tmp_path / "probe_set.npz"))
    assert np.array_equal(loaded.tokens.numpy(), original.tokens.numpy())
    for name in ("targets", "game_ids", "train_index", "test_index"):
        assert np.array_equal(getattr(loaded, name), getattr(original, name))
    assert (loaded.n_dropped_duplicates, loaded.target_names) == (original.n_dropped_duplicates, original.target_names)


def test_probe_set_refuses_a_game_on_both_sides(positions):
    tokens, _, targets, games = positions
    with pytest.raises(ValueError, match="both probe-train and probe-test"):
        ProbeSet(np.asarray(tokens), targets, games, np.arange(0, 100), np.arange(50, 150))


def test_target_names_must_match_target_columns(positions):
    tokens, boards, targets, games = positions
    with pytest.raises(ValueError, match="target_names"):
        make_probe_set(tokens, targets, games, boards, None, target_names=("only-one",))
