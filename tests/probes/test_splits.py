"""Game-level splits and symmetry-aware deduplication of probe-test boards."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modinterp.games import domineering as dom
from modinterp.probes.splits import (
    canonical_keys,
    domineering_transform,
    drop_symmetric_duplicates,
    grid_transform,
    split_by_game,
    symmetric_duplicates,
)


def test_split_by_game_puts_no_game_on_both_sides():
    games = np.random.default_rng(0).integers(0, 100, size=2000)
    train, test = split_by_game(games, 0.2, seed=3)
    assert not set(games[train]) & set(games[test])
    assert len(train) + len(test) == len(games)


def test_split_by_game_takes_the_requested_fraction_of_games():
    games = np.repeat(np.arange(50), 7)
    _, test = split_by_game(games, 0.2, seed=0)
    assert len(np.unique(games[test])) == 10


def test_split_by_game_is_reproducible_from_its_seed():
    games = np.repeat(np.arange(40), 5)
    first, again, other = (split_by_game(games, 0.25, seed=s)[1] for s in (7, 7, 8))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("fraction", [0.0, 1.0, 0.001])
def test_split_fraction_leaving_a_side_empty_is_rejected(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        split_by_game(np.arange(10), fraction)


def test_grid_transform_equals_the_engine_symmetries():
    spec = dom.BoardSpec(4, 6)
    boards = np.random.default_rng(0).integers(0, 2, size=(20, 24)).astype(np.uint8)
    for sym in range(4):
        assert np.array_equal(grid_transform(4, 6)(boards, sym), dom.transform_boards(spec, boards, sym))


boards_strategy = st.integers(0, 2**31 - 1).map(
    lambda seed: np.random.default_rng(seed).integers(0, 2, size=(12, 5 * 4)).astype(np.uint8)
)


@settings(max_examples=50, deadline=None)
@given(boards_strategy, st.integers(0, 3))
def test_canonical_key_is_invariant_under_every_symmetry(boards, sym):
    transform = domineering_transform(dom.BoardSpec(5, 4))
    assert np.array_equal(canonical_keys(boards, transform), canonical_keys(transform(boards, sym), transform))


@settings(max_examples=50, deadline=None)
@given(boards_strategy)
def test_canonical_keys_match_exactly_when_boards_are_symmetric(boards):
    """Slow reference: two boards share a key iff one equals some symmetric image of the other."""
    transform = grid_transform(5, 4)
    keys = canonical_keys(boards, transform)
    images = [{transform(boards[i:i + 1], s).tobytes() for s in range(4)} for i in range(len(boards))]
    for i in range(len(boards)):
        for j in range(len(boards)):
            assert (keys[i] == keys[j]) == (boards[j].tobytes() in images[i])


def test_test_boards_symmetric_to_a_train_board_are_dropped():
    spec = dom.BoardSpec(4, 4)
    transform = domineering_transform(spec)
    rng = np.random.default_rng(1)
    train_boards = rng.integers(0, 2, size=(6, 16)).astype(np.uint8)
    fresh = rng.integers(0, 2, size=(3, 16)).astype(np.uint8)
    mirrored = transform(train_boards[:2], 2)  # left-right mirror images of two train boards
    boards = np.concatenate([train_boards, mirrored, fresh])
    kept = drop_symmetric_duplicates(boards, np.arange(6), np.arange(6, 11), transform)
    expected_fresh = [6 + 2 + i for i in range(3) if fresh[i].tobytes() not in
                      {transform(train_boards, s)[j].tobytes() for s in range(4) for j in range(6)}]
    assert kept.tolist() == expected_fresh
    assert symmetric_duplicates(boards, np.arange(6), np.arange(6, 8), transform).all()


def test_transform_returning_the_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match="transform"):
        canonical_keys(np.zeros((3, 4), dtype=np.uint8), lambda boards, sym: boards[:, :2])
