"""Tests for the random and guided players: legality by a plain-Python referee, determinism, normal-play winners."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modinterp.games import domineering as dom
from modinterp.games._kernels import WIN, move_tables
from modinterp.games.players import (
    DEFAULT_DEPTH_SCHEDULE,
    HORIZONTAL,
    VERTICAL,
    GameRecords,
    alphabeta,
    guided_games,
    random_games,
)


def board(rows: int, cols: int) -> dom.BoardSpec:
    return dom.BoardSpec(rows, cols)


def reference_cells(rows: int, cols: int, move: int) -> tuple[int, int, int]:
    """(player, cell a, cell b) of a move code, straight from the convention in the docstring of games/domineering.py."""
    n_vertical = (rows - 1) * cols
    if move < n_vertical:
        r, c = divmod(move, cols)
        return VERTICAL, r * cols + c, (r + 1) * cols + c
    r, c = divmod(move - n_vertical, cols - 1)
    return HORIZONTAL, r * cols + c, r * cols + c + 1


def reference_legal_moves(rows: int, cols: int, occupied: list[bool], player: int) -> list[int]:
    """All legal moves of `player`, by scanning every move code (slow and obvious)."""
    n_moves = (rows - 1) * cols + rows * (cols - 1)
    legal = []
    for m in range(n_moves):
        owner, a, b = reference_cells(rows, cols, m)
        if owner == player and not occupied[a] and not occupied[b]:
            legal.append(m)
    return legal


def referee_replay(rows: int, cols: int, moves: np.ndarray, length: int, winner: int, first: int) -> None:
    """Replay one game in plain Python; assert every move legal, the game over exactly at `length`, the winner right."""
    occupied = [False] * (rows * cols)
    player = first
    for ply in range(length):
        move = int(moves[ply])
        assert move in reference_legal_moves(rows, cols, occupied, player), f"ply {ply}: move {move} illegal"
        _, a, b = reference_cells(rows, cols, move)
        occupied[a] = occupied[b] = True
        player = 1 - player
    assert reference_legal_moves(rows, cols, occupied, player) == [], "game stopped while the mover had a move"
    assert np.all(moves[length:] == -1), "padding after the last move must be -1"
    assert winner == 1 - player, "the winner must be the player who made the last move"


def engine_replay(spec: dom.BoardSpec, rec: GameRecords, first: int) -> None:
    """Replay all games at once with the engine's checked `play`; assert game over and winner at each length."""
    boards = dom.initial_boards(spec, len(rec))
    to_move = dom.initial_to_move(len(rec), first)
    for ply in range(int(rec.lengths.max())):
        live = rec.lengths > ply
        assert not dom.is_over(spec, boards[live], to_move[live]).any()
        boards[live], to_move[live] = dom.play(spec, boards[live], to_move[live], rec.moves[live, ply])
    np.testing.assert_array_equal(dom.winner(spec, boards, to_move), rec.winners)


def assert_records_equal(a: GameRecords, b: GameRecords) -> None:
    np.testing.assert_array_equal(a.moves, b.moves)
    np.testing.assert_array_equal(a.lengths, b.lengths)
    np.testing.assert_array_equal(a.winners, b.winners)


# ---------------------------------------------------------------- random games

def test_random_games_have_the_contract_dtypes_and_width():
    rec = random_games(board(6, 7), 5, seed=0)
    assert rec.moves.dtype == np.int16 and rec.moves.shape == (5, 6 * 7 // 2)
    assert rec.lengths.dtype == np.int16 and rec.winners.dtype == np.int8


def test_random_games_same_seed_gives_identical_records():
    assert_records_equal(random_games(board(8, 8), 300, seed=11), random_games(board(8, 8), 300, seed=11))


def test_random_games_do_not_depend_on_chunking():
    whole = random_games(board(8, 8), 300, seed=5)
    assert_records_equal(whole, random_games(board(8, 8), 300, seed=5, chunk_size=7))


def test_random_games_do_not_depend_on_the_number_of_threads():
    whole = random_games(board(8, 8), 300, seed=5)
    assert_records_equal(whole, random_games(board(8, 8), 300, seed=5, chunk_size=13, n_jobs=3))


def test_random_games_prefix_equals_smaller_request():
    whole = random_games(board(8, 8), 300, seed=5)
    head = random_games(board(8, 8), 40, seed=5)
    assert_records_equal(head, GameRecords(whole.moves[:40], whole.lengths[:40], whole.winners[:40]))


def test_random_games_differ_between_seeds():
    assert not np.array_equal(random_games(board(8, 8), 50, seed=1).moves, random_games(board(8, 8), 50, seed=2).moves)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(2, 9), cols=st.integers(2, 9), seed=st.integers(0, 2**63), first=st.sampled_from([0, 1]))
def test_random_games_are_legal_when_replayed_by_the_referee(rows, cols, seed, first):
    rec = random_games(board(rows, cols), 4, seed=seed, first=first)
    assert (rec.lengths <= rows * cols // 2).all()
    for g in range(len(rec)):
        referee_replay(rows, cols, rec.moves[g], int(rec.lengths[g]), int(rec.winners[g]), first)


def test_random_16x16_games_are_legal_when_replayed_by_the_referee():
    rec = random_games(board(16, 16), 3, seed=2026)
    for g in range(len(rec)):
        referee_replay(16, 16, rec.moves[g], int(rec.lengths[g]), int(rec.winners[g]), VERTICAL)


def test_kernel_move_tables_match_the_engine_move_cells():
    for rows, cols in [(2, 2), (3, 7), (8, 8), (16, 16), (16, 5)]:
        np.testing.assert_array_equal(move_tables(rows, cols)[0], board(rows, cols).move_cells)


@pytest.mark.parametrize("rows, cols, first", [(8, 8, VERTICAL), (5, 9, HORIZONTAL), (16, 16, VERTICAL)])
def test_random_games_are_legal_when_replayed_by_the_engine(rows, cols, first):
    spec = board(rows, cols)
    engine_replay(spec, random_games(spec, 200, seed=17, first=first), first)


def test_random_games_winner_made_the_last_move():
    rec = random_games(board(7, 5), 2000, seed=3, first=HORIZONTAL)
    last_mover = (HORIZONTAL + rec.lengths.astype(np.int64) - 1) % 2
    np.testing.assert_array_equal(rec.winners, last_mover)


def test_random_16x16_games_last_about_114_plies():
    """The original measured a mean of 113.8 plies (range 105-120) for random 16x16 games."""
    lengths = random_games(board(16, 16), 4000, seed=0).lengths
    assert 113.0 < lengths.mean() < 115.0
    assert lengths.max() <= 128


def test_random_games_first_move_is_uniform_over_the_first_players_moves():
    """Chi-square on the opening move of 8x8 games: 56 vertical codes, each equally likely."""
    first_moves = random_games(board(8, 8), 28_000, seed=9).moves[:, 0]
    counts = np.bincount(first_moves, minlength=112)
    assert counts[56:].sum() == 0
    expected = len(first_moves) / 56
    chi2 = float(((counts[:56] - expected) ** 2 / expected).sum())
    assert chi2 < 100.0  # 55 degrees of freedom: P(chi2 > 100) < 1e-4


def test_random_games_reject_a_negative_seed():
    with pytest.raises(ValueError, match="seed=-1"):
        random_games(board(4, 4), 1, seed=-1)


def test_random_games_report_progress_in_finished_games():
    seen: list[int] = []
    random_games(board(5, 5), 25, seed=0, progress=seen.append, chunk_size=10)
    assert seen == [10, 10, 5]


def test_threaded_games_report_every_game_to_progress():
    seen: list[int] = []
    guided_games(board(5, 5), 25, seed=0, progress=seen.append, chunk_size=4, n_jobs=2)
    assert sorted(seen) == [1, 4, 4, 4, 4, 4, 4]


# ---------------------------------------------------------------- alpha-beta search

def reference_minimax(rows: int, cols: int, occupied: list[bool], player: int, depth: int) -> int:
    """Plain fixed-depth negamax without pruning: own minus opponent's moves at the horizon, -WIN if stuck."""
    own = reference_legal_moves(rows, cols, occupied, player)
    if not own:
        return -WIN
    if depth == 0:
        return len(own) - len(reference_legal_moves(rows, cols, occupied, 1 - player))
    best = -10 * WIN
    for move in own:
        _, a, b = reference_cells(rows, cols, move)
        child = occupied.copy()
        child[a] = child[b] = True
        best = max(best, -reference_minimax(rows, cols, child, 1 - player, depth - 1))
    return best


def position_after(spec: dom.BoardSpec, seed: int, plies: int, first: int = VERTICAL) -> tuple[np.ndarray, int]:
    """(board, side to move) after the first `plies` plies (capped at the game's end) of a random game."""
    rec = random_games(spec, 1, seed=seed, first=first)
    plies = min(plies, int(rec.lengths[0]))
    board = dom.replay_boards(spec, rec.moves, np.array([0]), np.array([plies]))[0]
    return board, (first + plies) % 2


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(2, 5), cols=st.integers(2, 5), seed=st.integers(0, 10**9), plies=st.integers(0, 6),
       depth=st.integers(1, 3))
def test_alphabeta_value_equals_plain_minimax(rows, cols, seed, plies, depth):
    spec = board(rows, cols)
    position, player = position_after(spec, seed, plies)
    moves, values = alphabeta(spec, position, player, depth)
    occupied = [bool(x) for x in position]
    assert values[0] == reference_minimax(rows, cols, occupied, player, depth)
    if moves[0] >= 0:  # the returned move must achieve the value
        _, a, b = reference_cells(rows, cols, int(moves[0]))
        occupied[a] = occupied[b] = True
        assert -reference_minimax(rows, cols, occupied, 1 - player, depth - 1) == values[0]


def test_alphabeta_reports_no_move_for_a_stuck_player():
    spec = board(2, 3)
    full_rows = np.array([0, 0, 0, 1, 1, 1], dtype=np.uint8)  # vertical has no move, horizontal has two
    moves, values = alphabeta(spec, full_rows, VERTICAL, 2)
    assert moves[0] == -1 and values[0] == -WIN


def test_alphabeta_finds_the_winning_reply_on_2x2():
    """On an empty 2x2 board the first player wins with any move: the value at full depth is WIN."""
    moves, values = alphabeta(board(2, 2), np.zeros(4, dtype=np.uint8), VERTICAL, 4)
    assert values[0] == WIN and moves[0] in (0, 1)


# ---------------------------------------------------------------- guided games

def scheduled_depth(mobility: int, schedule=DEFAULT_DEPTH_SCHEDULE) -> int:
    return next(depth for min_mobility, depth in schedule if mobility >= min_mobility)


def test_guided_games_same_seed_gives_identical_records():
    a = guided_games(board(8, 8), 30, seed=4)
    assert_records_equal(a, guided_games(board(8, 8), 30, seed=4))


def test_guided_games_do_not_depend_on_chunking():
    whole = guided_games(board(8, 8), 30, seed=4)
    assert_records_equal(whole, guided_games(board(8, 8), 30, seed=4, chunk_size=7))


def test_guided_games_do_not_depend_on_the_number_of_threads():
    whole = guided_games(board(8, 8), 30, seed=4)
    assert_records_equal(whole, guided_games(board(8, 8), 30, seed=4, chunk_size=4, n_jobs=3))


@pytest.mark.parametrize("rows, cols, first", [(8, 8, VERTICAL), (6, 9, HORIZONTAL)])
def test_guided_games_are_legal_when_replayed_by_the_engine(rows, cols, first):
    spec = board(rows, cols)
    engine_replay(spec, guided_games(spec, 40, seed=8, first=first), first)


def test_guided_16x16_games_are_legal_when_replayed_by_the_referee():
    rec = guided_games(board(16, 16), 2, seed=1)
    for g in range(len(rec)):
        referee_replay(16, 16, rec.moves[g], int(rec.lengths[g]), int(rec.winners[g]), VERTICAL)


def test_guided_games_without_randomness_are_all_the_same_game():
    rec = guided_games(board(7, 7), 5, seed=3, opening_plies=0, epsilon=0.0)
    assert (rec.moves == rec.moves[0]).all()


def test_guided_games_differ_after_random_openings():
    rec = guided_games(board(8, 8), 20, seed=3, opening_plies=4, epsilon=0.0)
    assert len({tuple(m) for m in rec.moves}) > 10


def test_guided_moves_after_the_opening_are_the_searched_best_moves():
    """With epsilon=0 every move after the opening is alpha-beta's choice at the scheduled depth."""
    spec = board(8, 8)
    opening = 6
    rec = guided_games(spec, 6, seed=21, opening_plies=opening, epsilon=0.0)
    for g in range(len(rec)):
        plies = np.arange(opening, int(rec.lengths[g]))
        boards = dom.replay_boards(spec, rec.moves, np.full(len(plies), g), plies)
        players = (VERTICAL + plies) % 2
        mobility = dom.legal_counts(spec, boards)[np.arange(len(plies)), players]
        depths = [scheduled_depth(int(m)) for m in mobility]
        searched, _ = alphabeta(spec, boards, players, depths)
        np.testing.assert_array_equal(searched, rec.moves[g, opening : int(rec.lengths[g])])


def test_guided_games_with_epsilon_one_last_as_long_as_random_games():
    """epsilon=1 makes every move random, so the mean length matches random play (8x8: ~27 plies)."""
    guided = guided_games(board(8, 8), 3000, seed=1, epsilon=1.0).lengths.mean()
    random = random_games(board(8, 8), 3000, seed=1).lengths.mean()
    assert abs(guided - random) < 0.5


def test_guided_games_without_exploration_are_decided_by_their_opening():
    """With epsilon=0 only the random opening varies, so two games with the same opening end the same way."""
    spec = board(8, 8)
    a = guided_games(spec, 50, seed=2, opening_plies=2, epsilon=0.0)
    openings = {}
    for g in range(len(a)):
        key = tuple(a.moves[g, :2])
        openings.setdefault(key, set()).add(int(a.winners[g]))
    assert all(len(w) == 1 for w in openings.values())


def play_search_against_random(spec: dom.BoardSpec, n_games: int, depth: int, seed: int) -> float:
    """Vertical plays alphabeta at `depth`, horizontal uniformly random; returns vertical's win rate."""
    rng = np.random.default_rng(seed)
    boards = dom.initial_boards(spec, n_games)
    to_move = dom.initial_to_move(n_games, VERTICAL)
    live = np.ones(n_games, dtype=bool)
    while live.any():
        live &= ~dom.is_over(spec, boards, to_move)
        idx = np.flatnonzero(live)
        if len(idx) == 0:
            break
        if to_move[idx[0]] == VERTICAL:  # all live games are at the same ply
            moves, _ = alphabeta(spec, boards[idx], VERTICAL, depth)
        else:
            legal = dom.legal_mask(spec, boards[idx], HORIZONTAL)
            moves = np.argmax(np.where(legal, rng.random(legal.shape), -1.0), axis=1)
        boards[idx], to_move[idx] = dom.play(spec, boards[idx], to_move[idx], moves)
    return float((dom.winner(spec, boards, to_move) == VERTICAL).mean())


def test_search_beats_a_random_opponent():
    """On 6x6 (a first-player win) vertical searching 2 plies should beat a random horizontal nearly always,
    while random-vs-random vertical wins about half of its games."""
    spec = board(6, 6)
    assert play_search_against_random(spec, 60, depth=2, seed=0) > 0.85
    assert 0.3 < (random_games(spec, 2000, seed=0).winners == VERTICAL).mean() < 0.7


def test_guided_games_reject_a_schedule_without_a_catch_all():
    with pytest.raises(ValueError, match="depth_schedule"):
        guided_games(board(8, 8), 1, seed=0, depth_schedule=((30, 2),))
