"""Engine: move codes, masks, play, game end, symmetries, replay, rendering; checked against a one-game pure-Python reference."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modinterp.games import domineering as dom


# --------------------------------------------------------------- pure-Python reference (one game at a time)

class ReferenceGame:
    """Straightforward Domineering: a list-of-lists board, moves as ((r, c), (r2, c2)) pairs."""

    def __init__(self, rows: int, cols: int, first: int = 0):
        self.rows, self.cols = rows, cols
        self.grid = [[False] * cols for _ in range(rows)]
        self.to_move = first

    def legal_moves(self) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        out = []
        for r in range(self.rows):
            for c in range(self.cols):
                if self.to_move == 0 and r + 1 < self.rows and not self.grid[r][c] and not self.grid[r + 1][c]:
                    out.append(((r, c), (r + 1, c)))
                if self.to_move == 1 and c + 1 < self.cols and not self.grid[r][c] and not self.grid[r][c + 1]:
                    out.append(((r, c), (r, c + 1)))
        return out

    def play(self, move) -> None:
        for r, c in move:
            assert not self.grid[r][c]
            self.grid[r][c] = True
        self.to_move = 1 - self.to_move

    def code(self, move) -> int:
        (r, c), (r2, _) = move
        if r2 != r:  # vertical: numbered by top cell, row-major
            return r * self.cols + c
        return (self.rows - 1) * self.cols + r * (self.cols - 1) + c


board_sizes = st.tuples(st.integers(2, 9), st.integers(2, 9))


# ------------------------------------------------------------------------------------------- move codes

def test_board_spec_counts_moves_of_each_orientation():
    spec = dom.BoardSpec(4, 5)
    assert (spec.n_cells, spec.n_vertical, spec.n_horizontal, spec.n_moves) == (20, 15, 16, 31)


def test_move_codes_follow_documented_numbering():
    spec = dom.BoardSpec(4, 5)
    assert spec.move_cells[0].tolist() == [0, 5]  # vertical, top cell (0, 0)
    assert spec.move_cells[7].tolist() == [7, 12]  # vertical, top cell (1, 2)
    assert spec.move_cells[15].tolist() == [0, 1]  # first horizontal, left cell (0, 0)
    assert spec.move_cells[15 + 1 * 4 + 3].tolist() == [8, 9]  # horizontal, left cell (1, 3): row-major
    assert spec.move_cells[30].tolist() == [18, 19]


def test_move_player_splits_codes_at_n_vertical():
    spec = dom.BoardSpec(3, 3)
    assert spec.move_player.tolist() == [0] * 6 + [1] * 6


@pytest.mark.parametrize("bad", [(1, 5), (17, 4), (4, 0)])
def test_board_spec_rejects_sizes_outside_2_to_16(bad):
    with pytest.raises(ValueError, match="expected an integer in"):
        dom.BoardSpec(*bad)


@pytest.mark.parametrize("text,expected", [("8x8", (8, 8)), ("16X16", (16, 16)), (" 4x5 ", (4, 5))])
def test_parse_reads_rows_x_cols(text, expected):
    spec = dom.BoardSpec.parse(text)
    assert (spec.rows, spec.cols) == expected


@pytest.mark.parametrize("text", ["8", "8x", "axb", "1x8", "8x17", "8*8"])
def test_parse_rejects_malformed_boards(text):
    with pytest.raises(ValueError, match="board"):
        dom.BoardSpec.parse(text)


# -------------------------------------------------------------------------------------------- masks

def test_empty_16x16_has_240_moves_for_each_player():
    spec = dom.BoardSpec(16, 16)
    boards = dom.initial_boards(spec, 1)
    assert dom.legal_mask(spec, boards, dom.VERTICAL).sum() == 240
    assert dom.legal_mask(spec, boards, dom.HORIZONTAL).sum() == 240
    assert dom.legal_counts(spec, boards).tolist() == [[240, 240]]


def test_legal_mask_accepts_per_game_players():
    spec = dom.BoardSpec(3, 3)
    mask = dom.legal_mask(spec, dom.initial_boards(spec, 2), np.array([0, 1]))
    assert mask[0].tolist() == [True] * 6 + [False] * 6
    assert mask[1].tolist() == [False] * 6 + [True] * 6


def test_available_mask_drops_moves_touching_an_occupied_cell():
    spec = dom.BoardSpec(3, 3)
    board = dom.initial_boards(spec, 1)
    board[0, 4] = 1  # centre
    available = dom.available_mask(spec, board)[0]
    touching = {m for m in range(spec.n_moves) if 4 in spec.move_cells[m]}
    assert {m for m in range(spec.n_moves) if not available[m]} == touching
    assert len(touching) == 4


# --------------------------------------------------------------------------------------------- play

def test_play_does_not_modify_its_inputs():
    spec = dom.BoardSpec(4, 4)
    boards, to_move = dom.initial_boards(spec, 1), dom.initial_to_move(1)
    dom.play(spec, boards, to_move, [0])
    assert boards.sum() == 0 and to_move[0] == dom.VERTICAL


@pytest.mark.parametrize("move,to_move,reason", [
    (999, dom.VERTICAL, "out of range"),
    (-1, dom.VERTICAL, "out of range"),
    (12, dom.VERTICAL, "wrong orientation for the player"),
    (0, dom.HORIZONTAL, "wrong orientation for the player"),
    (4, dom.VERTICAL, "occupied cell"),
])
def test_illegal_move_error_names_game_move_and_reason(move, to_move, reason):
    spec = dom.BoardSpec(4, 4)  # 12 vertical codes, then 12 horizontal
    boards = dom.initial_boards(spec, 3)
    boards[2, 4] = 1  # cell (1, 0): covered by vertical move 0 and 4
    moves = np.array([1, 1, move]) if to_move == dom.VERTICAL else np.array([13, 13, move])
    with pytest.raises(dom.IllegalMoveError, match=rf"game 2: move {move} .*{reason}"):
        dom.play(spec, boards, np.full(3, to_move), moves)


def test_winner_is_minus_one_while_the_game_goes_on():
    spec = dom.BoardSpec(4, 4)
    assert dom.winner(spec, dom.initial_boards(spec, 2), [0, 1]).tolist() == [-1, -1]


def test_2x2_vertical_first_wins_after_one_move():
    # V covers column 0; H has no horizontal pair left, so V (who moved last) wins.
    spec = dom.BoardSpec(2, 2)
    boards, to_move = dom.play(spec, dom.initial_boards(spec, 1), [dom.VERTICAL], [0])
    assert dom.winner(spec, boards, to_move).tolist() == [dom.VERTICAL]


def test_random_16x16_games_last_about_114_plies(random_playout):
    # The original reported a mean of 113.8 plies for fully random 16x16 games (reference, section 2).
    _, lengths, _ = random_playout(dom.BoardSpec(16, 16), 2000, seed=1)
    assert 110 <= lengths.mean() <= 118


# ------------------------------------------------------------------------------- agreement with reference

@settings(max_examples=40, deadline=None)
@given(size=board_sizes, first=st.sampled_from([0, 1]), seed=st.integers(0, 2**31))
def test_batched_engine_agrees_with_reference_move_for_move(size, first, seed):
    rows, cols = size
    spec, ref, rnd = dom.BoardSpec(rows, cols), ReferenceGame(rows, cols, first), random.Random(seed)
    boards, to_move = dom.initial_boards(spec, 1), dom.initial_to_move(1, first)
    while True:
        expected = sorted(ref.code(m) for m in ref.legal_moves())
        assert np.flatnonzero(dom.legal_mask(spec, boards, to_move)[0]).tolist() == expected
        assert dom.is_over(spec, boards, to_move)[0] == (not expected)
        if not expected:
            assert dom.winner(spec, boards, to_move)[0] == 1 - ref.to_move
            return
        move = rnd.choice(ref.legal_moves())
        ref.play(move)
        boards, to_move = dom.play(spec, boards, to_move, [ref.code(move)])
        assert boards[0].reshape(rows, cols).astype(bool).tolist() == ref.grid


@settings(max_examples=30, deadline=None)
@given(size=board_sizes, first=st.sampled_from([0, 1]), seed=st.integers(0, 2**31))
def test_played_cells_become_occupied_and_no_cell_is_covered_twice(random_playout, size, first, seed):
    spec = dom.BoardSpec(*size)
    moves, lengths, _ = random_playout(spec, 8, seed, first)
    for game in range(len(moves)):
        played = moves[game, : lengths[game]]
        covered = spec.move_cells[played].ravel()
        assert len(set(covered.tolist())) == len(covered)
        final = dom.replay_boards(spec, moves, [game], [lengths[game]])[0]
        assert np.flatnonzero(final).tolist() == sorted(covered.tolist())


@settings(max_examples=30, deadline=None)
@given(size=board_sizes, first=st.sampled_from([0, 1]), seed=st.integers(0, 2**31))
def test_game_ends_within_half_the_cells(random_playout, size, first, seed):
    spec = dom.BoardSpec(*size)
    moves, lengths, winners = random_playout(spec, 16, seed, first)
    assert lengths.max() <= spec.n_cells // 2
    boards = dom.replay_boards(spec, moves, np.arange(16), lengths)
    to_move = dom.player_to_move(lengths, first)
    assert dom.is_over(spec, boards, to_move).all()
    assert (dom.winner(spec, boards, to_move) == winners).all()


# ------------------------------------------------------------------------------------------ symmetries

@settings(max_examples=40, deadline=None)
@given(size=board_sizes, sym=st.integers(0, 3), seed=st.integers(0, 2**31), ply=st.integers(0, 20))
def test_symmetry_commutes_with_play(random_playout, size, sym, seed, ply):
    spec = dom.BoardSpec(*size)
    moves, lengths, _ = random_playout(spec, 1, seed)
    ply = min(ply, int(lengths[0]) - 1)
    board = dom.replay_boards(spec, moves, [0], [ply])
    to_move = dom.player_to_move(np.array([ply]))
    move = moves[:, ply].astype(np.int64)
    played_then_moved, _ = dom.play(spec, board, to_move, move)
    moved_then_played, _ = dom.play(spec, dom.transform_boards(spec, board, sym), to_move,
                                    dom.transform_moves(spec, move, sym))
    assert (dom.transform_boards(spec, played_then_moved, sym) == moved_then_played).all()


@pytest.mark.parametrize("sym", range(4))
def test_each_symmetry_is_an_involution_on_moves_and_boards(sym):
    spec = dom.BoardSpec(5, 7)
    codes = np.arange(spec.n_moves)
    assert (dom.transform_moves(spec, dom.transform_moves(spec, codes, sym), sym) == codes).all()
    assert sorted(dom.transform_moves(spec, codes, sym).tolist()) == codes.tolist()
    boards = np.random.default_rng(sym).integers(0, 2, (3, spec.n_cells)).astype(np.uint8)
    assert (dom.transform_boards(spec, dom.transform_boards(spec, boards, sym), sym) == boards).all()


def test_symmetries_keep_move_orientation():
    spec = dom.BoardSpec(6, 4)
    codes = np.arange(spec.n_moves)
    for sym in range(4):
        assert (spec.move_player[dom.transform_moves(spec, codes, sym)] == spec.move_player).all()


def test_flip_top_bottom_maps_known_moves():
    spec = dom.BoardSpec(4, 5)
    # vertical top (0, 1) -> top (2, 1); horizontal left (0, 0) -> left (3, 0)
    assert dom.transform_moves(spec, [1, 15], 1).tolist() == [2 * 5 + 1, 15 + 3 * 4 + 0]
    # flip left-right: vertical (0, 1) -> (0, 3); horizontal left (0, 0) -> left (0, 3)
    assert dom.transform_moves(spec, [1, 15], 2).tolist() == [3, 15 + 3]


def test_rotate_180_is_both_flips():
    spec = dom.BoardSpec(5, 6)
    codes = np.arange(spec.n_moves)
    both = dom.transform_moves(spec, dom.transform_moves(spec, codes, 1), 2)
    assert (dom.transform_moves(spec, codes, 3) == both).all()


def test_per_row_symmetries_act_on_each_row_and_keep_padding():
    spec = dom.BoardSpec(4, 4)
    moves = np.array([[0, 13, -1], [0, 13, -1]], dtype=np.int16)
    out = dom.transform_moves(spec, moves, np.array([0, 3]))
    assert out.dtype == np.int16
    assert out[0].tolist() == [0, 13, -1]
    assert out[1].tolist() == dom.transform_moves(spec, [0, 13], 3).tolist() + [-1]


def test_unknown_symmetry_id_is_rejected():
    with pytest.raises(ValueError, match="symmetry id"):
        dom.transform_moves(dom.BoardSpec(4, 4), [0], 4)


# ------------------------------------------------------------------------------------------- replay

def test_replay_boards_matches_sequential_play(games_8x8):
    spec = dom.BoardSpec(8, 8)
    moves, lengths, _ = games_8x8
    game_index = np.repeat(np.arange(5), 3)
    ply = np.concatenate([[0, lengths[g] // 2, lengths[g]] for g in range(5)])
    replayed = dom.replay_boards(spec, moves, game_index, ply)
    for i, (g, k) in enumerate(zip(game_index, ply)):
        boards, to_move = dom.initial_boards(spec, 1), dom.initial_to_move(1)
        for move in moves[g, :k]:
            boards, to_move = dom.play(spec, boards, to_move, [move])
        assert (replayed[i] == boards[0]).all()


def test_replay_boards_rejects_ply_beyond_the_record():
    with pytest.raises(ValueError, match="ply"):
        dom.replay_boards(dom.BoardSpec(2, 2), np.array([[0, -1]]), [0], [3])


# ------------------------------------------------------------------------------------------- render

def test_render_marks_occupied_cells_and_last_move():
    spec = dom.BoardSpec(3, 4)
    boards, _ = dom.play(spec, dom.initial_boards(spec, 1), [0], [5])  # V at (1,1)-(2,1)
    assert dom.render(spec, boards[0]).splitlines() == ["   0 1 2 3", " 0 . . . .", " 1 . # . .", " 2 . # . ."]
    assert dom.render(spec, boards[0], last_move=5).splitlines()[2] == " 1 . V . ."


def test_render_with_history_shows_owners():
    spec = dom.BoardSpec(3, 4)
    moves = np.array([[5, 8, -1]])  # V (1,1)-(2,1), then H (0,0)-(0,1)
    board = dom.replay_boards(spec, moves, [0], [2])[0]
    assert dom.render(spec, board, last_move=8, moves=moves[0, :2]).splitlines()[1:3] == [" 0 H H . .", " 1 . v . ."]


def test_per_row_board_symmetries_match_one_at_a_time():
    spec = dom.BoardSpec(3, 5)
    boards = np.random.default_rng(1).integers(0, 2, (4, spec.n_cells)).astype(np.uint8)
    sym = np.array([0, 1, 2, 3])
    expected = np.stack([dom.transform_boards(spec, boards[i], s)[0] for i, s in enumerate(sym)])
    assert (dom.transform_boards(spec, boards, sym) == expected).all()


def test_flip_top_bottom_moves_row_zero_to_the_last_row():
    spec = dom.BoardSpec(3, 2)
    board = np.array([[1, 0, 0, 0, 0, 0]], dtype=np.uint8)
    assert dom.transform_boards(spec, board, 1).tolist() == [[0, 0, 0, 0, 1, 0]]
    assert dom.transform_boards(spec, board, 2).tolist() == [[0, 1, 0, 0, 0, 0]]
    assert dom.transform_boards(spec, board, 3).tolist() == [[0, 0, 0, 0, 0, 1]]


def test_legal_mask_rejects_unknown_players():
    spec = dom.BoardSpec(3, 3)
    with pytest.raises(ValueError, match="player values"):
        dom.legal_mask(spec, dom.initial_boards(spec, 2), np.array([0, 2]))
