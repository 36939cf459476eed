"""Positions: vectorised batches agree with a one-position-at-a-time Python reference, and streams are seeded."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from modinterp.data.positions import (
    PositionConfig,
    TrainPositions,
    ValidationPositions,
    build_positions,
    n_concepts,
    sample_boards,
    sample_positions,
)
from modinterp.data.store import GameStore
from modinterp.games.concepts import compute_concept
from modinterp.games.domineering import HORIZONTAL, VERTICAL, BoardSpec, replay_boards
from modinterp.games.players import random_games

SPEC = BoardSpec(5, 7)  # not square, so a transposition bug would show
CONFIG = PositionConfig(positions_per_game=6, min_ply=3, concept_kwargs={"sector": [2, 3]})


@pytest.fixture(scope="module")
def store():
    return GameStore.from_records(SPEC, random_games(SPEC, 120, seed=5, first=HORIZONTAL), seed=5, first=HORIZONTAL)


def _reference_position(spec, moves, winner, first, ply, sym):
    """One position built the slow, obvious way: replay cell by cell, mirror coordinates, scan moves."""
    rows, cols = spec.rows, spec.cols
    grid = np.zeros((rows, cols), dtype=np.uint8)
    for code in moves[:ply]:
        a, b = spec.move_cells[code]
        grid.flat[a] = grid.flat[b] = 1
    if sym in (1, 3):
        grid = grid[::-1, :]
    if sym in (2, 3):
        grid = grid[:, ::-1]
    board = grid.reshape(-1).copy()

    def mirror(cell):
        r, c = divmod(int(cell), cols)
        r = rows - 1 - r if sym in (1, 3) else r
        c = cols - 1 - c if sym in (2, 3) else c
        return r * cols + c

    a, b = sorted(mirror(x) for x in spec.move_cells[moves[ply]])
    policy = int(np.flatnonzero((spec.move_cells[:, 0] == a) & (spec.move_cells[:, 1] == b))[0])
    mover = first if ply % 2 == 0 else 1 - first
    vertical = np.arange(spec.n_moves) < spec.n_vertical
    free = (board[spec.move_cells[:, 0]] == 0) & (board[spec.move_cells[:, 1]] == 0)
    legal = free & (vertical if mover == VERTICAL else ~vertical)
    return board, policy, legal, float(winner == VERTICAL)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_batch_matches_the_per_position_reference(store, seed):
    rng = np.random.default_rng(seed)
    game_ids, plies, syms = sample_positions(store.lengths, np.arange(store.n_games), 1, CONFIG.min_ply, rng)
    batch = build_positions(SPEC, store.moves, store.winners, store.first, game_ids[:8], plies[:8], syms[:8], CONFIG)
    for i, (g, p, s) in enumerate(zip(game_ids[:8], plies[:8], syms[:8])):
        board, policy, legal, value = _reference_position(SPEC, store.moves[g], store.winners[g], store.first, p, s)
        assert batch.tokens[i].tolist() == board.tolist() + [2]
        assert batch.policy[i].item() == policy
        assert batch.legal[i].numpy().tolist() == legal.tolist()
        assert batch.value[i].item() == value
        expected = compute_concept("sector_move_difference", SPEC, board[None], sector=(2, 3))[0] / 10
        np.testing.assert_allclose(batch.concepts[i].numpy(), expected, rtol=1e-6)


def test_next_move_is_always_legal_for_the_side_to_move(store):
    batch = TrainPositions(store, CONFIG, 64, seed=1).batch(0)
    assert batch.legal[torch.arange(64), batch.policy].all()


def test_plies_are_drawn_from_min_ply_to_the_last_move(store):
    rng = np.random.default_rng(0)
    game_ids, plies, _ = sample_positions(store.lengths, np.arange(store.n_games), 50, 3, rng)
    assert (plies >= 3).all() and (plies <= store.lengths[game_ids] - 1).all()
    assert plies.min() == 3 and (plies == store.lengths[game_ids] - 1).any()


def test_games_without_a_move_after_min_ply_are_skipped():
    lengths = np.array([5, 10, 6])
    game_ids, _, _ = sample_positions(lengths, np.arange(3), 2, 6, np.random.default_rng(0))
    assert game_ids.tolist() == [1, 1]


def test_side_to_move_token_sits_before_cls(store):
    config = CONFIG.model_copy(update={"side_to_move_token": True, "augment": False})
    plies = np.array([3, 4])
    batch = build_positions(SPEC, store.moves, store.winners, store.first, np.array([0, 0]), plies, np.zeros(2, int), config)
    # first mover is HORIZONTAL (token 3 + 1) on even plies, VERTICAL (3 + 0) on odd ones
    assert batch.tokens[:, -2:].tolist() == [[3, 2], [4, 2]]
    assert batch.tokens.shape[1] == SPEC.n_cells + 2


def test_concept_width_follows_the_sector_grid():
    assert n_concepts(SPEC, CONFIG) == 3 * 3  # 5x7 board in 2x3 sectors: ceil(5/2) x ceil(7/3)


def test_training_batches_are_a_pure_function_of_seed_and_step(store):
    a, b = TrainPositions(store, CONFIG, 32, seed=3), TrainPositions(store, CONFIG, 32, seed=3)
    for step in (0, 5, a.steps_per_epoch + 2):
        assert torch.equal(a.batch(step).tokens, b.batch(step).tokens)
    assert not torch.equal(a.batch(0).tokens, TrainPositions(store, CONFIG, 32, seed=4).batch(0).tokens)


def test_each_epoch_draws_fresh_positions(store):
    stream = TrainPositions(store, CONFIG, 32, seed=3)
    first = stream.positions(0)
    again = stream.positions(stream.steps_per_epoch)
    assert not all(np.array_equal(x, y) for x, y in zip(first, again))


def test_an_epoch_uses_every_eligible_game_positions_per_game_times(store):
    stream = TrainPositions(store, CONFIG, 1, seed=3)
    games = np.concatenate([stream.positions(s)[0] for s in range(stream.steps_per_epoch)])
    assert np.array_equal(np.bincount(games, minlength=store.n_games)[stream.games], np.full(len(stream.games), 6))


def test_rank_shares_concatenate_to_the_global_batch(store):
    stream = TrainPositions(store, CONFIG, 32, seed=3)
    shares = [stream.positions(7, rank=r, world_size=4) for r in range(4)]
    for part, whole in zip(zip(*shares), stream.positions(7)):
        assert np.array_equal(np.concatenate(part), whole)


def test_batch_size_not_divisible_by_world_size_is_rejected(store):
    with pytest.raises(ValueError, match="batch_size 30 is not divisible by the world size 4"):
        TrainPositions(store, CONFIG, 30, seed=3).positions(0, rank=0, world_size=4)


def test_validation_positions_are_fixed_and_cover_the_validation_split(store):
    a = ValidationPositions(store, CONFIG, 16, seed=2, games=np.arange(40))
    b = ValidationPositions(store, CONFIG, 16, seed=2, games=np.arange(40))
    assert torch.equal(a.batch(1).tokens, b.batch(1).tokens)
    assert set(a.game_ids.tolist()) <= set(range(40)) and len(a.game_ids) == 6 * 40


def test_quick_validation_indices_are_distinct_sorted_and_step_seeded(store):
    val = ValidationPositions(store, CONFIG, 4, seed=2, games=np.arange(40))
    chosen = val.quick_indices(800, 5)
    assert chosen == sorted(set(chosen)) and len(chosen) == 5 and chosen == val.quick_indices(800, 5)


def test_unknown_concept_is_rejected_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown concept 'centre_control'; choose one of"):
        PositionConfig(concept="centre_control")


def test_training_stream_survives_pickling_for_worker_processes(store):
    import pickle

    stream = TrainPositions(store, CONFIG, 32, seed=3)
    stream.batch(0)
    copy = pickle.loads(pickle.dumps(stream))
    assert torch.equal(copy.batch(stream.steps_per_epoch + 1).tokens, stream.batch(stream.steps_per_epoch + 1).tokens)


def _describe_reference_boards(spec, moves, lengths, games, per_game, rng):
    """The boards the describe stage drew before it shared this sampler: ply = floor(u * (length + 1))."""
    game = np.repeat(games, per_game)
    ply = (rng.random(len(game)) * (lengths[game].astype(np.int64) + 1)).astype(np.int64)
    return replay_boards(spec, moves, game, ply), game


def test_sample_boards_is_bit_identical_to_the_describe_stage_stream(store):
    games = np.arange(7, 60)
    boards, game_ids = sample_boards(SPEC, store.moves, store.lengths, games, 9, np.random.default_rng(4))
    ref_boards, ref_games = _describe_reference_boards(SPEC, store.moves, store.lengths, games, 9, np.random.default_rng(4))
    assert np.array_equal(boards, ref_boards) and np.array_equal(game_ids, ref_games)


def test_sample_boards_reaches_the_first_and_the_final_position(store):
    games = np.arange(store.n_games)
    game_ids, plies, syms = sample_positions(store.lengths, games, 40, 0, np.random.default_rng(1), augment=False,
                                             include_final=True)
    assert (plies >= 0).all() and (plies <= store.lengths[game_ids]).all() and (syms == 0).all()
    assert (plies == 0).any() and (plies == store.lengths[game_ids]).any()


def test_include_final_keeps_games_that_end_at_min_ply():
    lengths = np.array([5, 10, 6])
    game_ids, plies, _ = sample_positions(lengths, np.arange(3), 2, 6, np.random.default_rng(0), include_final=True)
    assert game_ids.tolist() == [1, 1, 2, 2] and (plies[2:] == 6).all()
