"""Tests for the exact solver: published outcome classes, an independent brute-force referee, transposition."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from modinterp.games.domineering import HORIZONTAL, VERTICAL, BoardSpec
from modinterp.games.solver import SolverBudgetExceeded, outcome_class, solve, solve_board

# Outcome classes of the empty R x C board (R rows, C columns; vertical dominoes span two rows):
# "V"/"H" = that player wins whoever starts, "1" = the first player wins, "2" = the second player wins.
PUBLISHED = {
    # Breuker, Uiterwijk & van den Herik, "Solving 8x8 Domineering", Theoret. Comput. Sci. 230 (2000) 195-206,
    # table of m x n results: square boards up to 6x6 (5x5 is the classic second-player win).
    (2, 2): "1", (3, 3): "1", (4, 4): "1", (5, 5): "2", (6, 6): "1",
    # Berlekamp, "Blockbusting and Domineering", J. Combin. Theory A 49 (1988), Appendix B.1: the board two
    # columns wide and 2n rows tall has value +-1 (n=1), tiny-2 > 0 (n=2), +-1 + 2 tiny-2 (fuzzy, n=3).
    (4, 2): "V", (6, 2): "1",
    # D. Wolfe's computation of 4x5 recorded by Guy, "Unsolved problems in combinatorial games", Games of No
    # Chance (MSRI Publications 29, 1996), Problem 4: value 1, so vertical wins.
    (4, 5): "V",
    # 2 x n (two rows), the width-2 family solved by Lachmann, Moore & Rapaport, "Who wins Domineering on
    # rectangular boards?", More Games of No Chance, MSRI Publications 42 (2002): outcome classes read off the
    # canonical values computed with A. N. Siegel's CGSuite: {2|-1/2}, Miny(2), 1/2, {1Miny(2)|-1}, {3/2|-1/2},
    # {2Miny(2)|0||-1/2|-2}, {{5/2|1/2}|{0|-3/2}} and 0 for n = 3, 4, 5, 6, 7, 8, 9, 13.
    (2, 3): "1", (2, 4): "H", (2, 5): "V", (2, 6): "1", (2, 7): "1", (2, 8): "H", (2, 9): "V", (2, 13): "2",
    # The 11 x 2 board, {1 ||| 1/2 | -1 || -3/2 | -7/2} (Drummond-Cole, "An update on Domineering on rectangular
    # boards", INTEGERS 14 (2014) #G3): the first player wins.
    (11, 2): "1",
}


@pytest.mark.parametrize("rows, cols", sorted(PUBLISHED))
def test_solver_matches_the_published_outcome_class(rows, cols):
    assert outcome_class(BoardSpec(rows, cols)) == PUBLISHED[(rows, cols)]


@pytest.mark.slow
@pytest.mark.parametrize("rows, cols, expected", [(7, 7, "1")])
def test_solver_matches_the_published_outcome_of_larger_squares(rows, cols, expected):
    """7x7: first player wins (Breuker, Uiterwijk & van den Herik 2000). Takes about a minute."""
    assert outcome_class(BoardSpec(rows, cols)) == expected


def brute_force_winner(rows: int, cols: int, occupied: int, player: int) -> int:
    """Winner by exhaustive search over integer bitmasks, memoised per board size, no symmetry or ordering."""

    @lru_cache(maxsize=None)
    def mover_wins(occ: int, side: int) -> bool:
        for r in range(rows - (1 if side == VERTICAL else 0)):
            for c in range(cols - (1 if side == HORIZONTAL else 0)):
                a = r * cols + c
                b = a + (cols if side == VERTICAL else 1)
                if not (occ >> a) & 1 and not (occ >> b) & 1 and not mover_wins(occ | 1 << a | 1 << b, 1 - side):
                    return True
        return False

    return player if mover_wins(occupied, player) else 1 - player


@pytest.mark.parametrize("rows, cols", [(r, c) for r in range(2, 6) for c in range(2, 6) if r * c <= 16])
@pytest.mark.parametrize("first", [VERTICAL, HORIZONTAL])
def test_solver_agrees_with_brute_force_on_empty_boards(rows, cols, first):
    assert solve(BoardSpec(rows, cols), first) == brute_force_winner(rows, cols, 0, first)


def test_solver_agrees_with_brute_force_on_random_positions():
    spec = BoardSpec(4, 5)
    rng = np.random.default_rng(0)
    for _ in range(40):
        board = (rng.random(spec.n_cells) < 0.3).astype(np.uint8)
        occupied = sum(1 << int(i) for i in np.flatnonzero(board))
        to_move = int(rng.integers(2))
        assert solve_board(spec, board, to_move) == brute_force_winner(4, 5, occupied, to_move)


@pytest.mark.parametrize("rows, cols", [(2, 3), (3, 4), (3, 5), (4, 6), (2, 10)])
def test_transposing_the_board_swaps_the_players(rows, cols):
    swap = {"V": "H", "H": "V", "1": "1", "2": "2"}
    assert outcome_class(BoardSpec(cols, rows)) == swap[outcome_class(BoardSpec(rows, cols))]


def test_a_player_without_moves_loses():
    spec = BoardSpec(2, 3)
    bottom_row_full = np.array([0, 0, 0, 1, 1, 1], dtype=np.uint8)  # no vertical move left, two horizontal ones
    assert solve_board(spec, bottom_row_full, VERTICAL) == HORIZONTAL
    assert solve_board(spec, bottom_row_full, HORIZONTAL) == HORIZONTAL


def test_solver_rejects_boards_over_64_cells():
    with pytest.raises(ValueError, match="at most 64"):
        solve(BoardSpec(9, 8))


def test_solver_gives_up_past_its_node_limit():
    with pytest.raises(SolverBudgetExceeded, match="node_limit=50"):
        solve(BoardSpec(6, 6), node_limit=50)


def test_solver_answers_within_a_sufficient_node_limit():
    assert solve(BoardSpec(3, 3), node_limit=10_000) == VERTICAL
