"""Exact Domineering solver for small boards (R*C <= 64): who wins with perfect play.

A win/loss search over 64-bit occupancy masks, compiled with Numba: a memo table keyed by the canonical board
(the least of its four role-keeping symmetric images, so mirrored positions share one entry), and moves
ordered by the mobility difference they leave (a move that leaves the opponent stuck first). The side to move
needs no key bits: it is fixed by the number of covered cells and the first player of the solve.
Boards up to 6x6 solve in well under a second once compiled, 7x7 in about half a minute, 8x8 is out of reach;
`node_limit` turns a hopeless search into a clear SolverBudgetExceeded error.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from modinterp.games._kernels import mix64
from modinterp.games.domineering import HORIZONTAL, VERTICAL, BoardSpec

MAX_CELLS = 64
_ONE = np.uint64(1)
_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_WIN, _LOSS = 1, 2  # memo values; 0 marks an empty slot


@njit(cache=True, inline="always")
def popcount(x):
    """Number of set bits of a uint64 (SWAR)."""
    x = x - ((x >> _ONE) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return np.int64((x * _H01) >> np.uint64(56))


@njit(cache=True, inline="always")
def move_bits(occ, vertical, full, v_tops, h_lefts, cols):
    """Bitmask of the top (vertical) or left (horizontal) cells of the moves still free on `occ`."""
    free = ~occ & full
    if vertical:
        return free & (free >> np.uint64(cols)) & v_tops
    return free & (free >> _ONE) & h_lefts


@njit(cache=True)
def canonical(occ, rows, cols, row_mask, reverse_row):
    """Least of the board and its top-bottom, left-right and 180-degree images."""
    tb = np.uint64(0)
    lr = np.uint64(0)
    rot = np.uint64(0)
    for r in range(rows):
        row = (occ >> np.uint64(r * cols)) & row_mask
        rev = reverse_row[np.int64(row)]
        tb |= row << np.uint64((rows - 1 - r) * cols)
        lr |= rev << np.uint64(r * cols)
        rot |= rev << np.uint64((rows - 1 - r) * cols)
    return min(min(occ, tb), min(lr, rot))


@njit(cache=True)
def solve_kernel(root_occ, root_player, rows, cols, reverse_row, tt_bits, node_limit):
    """1 if `root_player` (0 vertical, 1 horizontal) to move on `root_occ` wins, 0 if it loses, -1 if more than
    `node_limit` nodes (> 0) would be needed. Iterative depth-first search with an explicit stack (Numba's cache
    cannot hold recursive functions)."""
    n_cells = rows * cols
    full = (_ONE << np.uint64(n_cells)) - _ONE if n_cells < 64 else ~np.uint64(0)
    row_mask = (_ONE << np.uint64(cols)) - _ONE
    v_tops = full >> np.uint64(cols)  # every cell but the last row
    h_lefts = np.uint64(0)
    for r in range(rows):
        h_lefts |= (row_mask >> _ONE) << np.uint64(r * cols)  # every cell but the last column
    tt_mask = np.uint64((1 << tt_bits) - 1)
    tt_keys = np.zeros(1 << tt_bits, dtype=np.uint64)
    tt_vals = np.zeros(1 << tt_bits, dtype=np.int8)
    levels = n_cells // 2 + 2
    occs = np.zeros(levels, dtype=np.uint64)
    keys = np.zeros(levels, dtype=np.uint64)
    moves = np.zeros((levels, n_cells), dtype=np.uint64)  # each move as its two-cell mask, best first
    scores = np.zeros(n_cells, dtype=np.int64)
    n_moves = np.zeros(levels, dtype=np.int64)
    nxt = np.zeros(levels, dtype=np.int64)
    sp = 0
    player = root_player
    occs[0] = root_occ
    entering = True
    child_won = False
    nodes = 0
    while True:
        result = 0
        if entering:
            entering = False
            nodes += 1
            if node_limit > 0 and nodes > node_limit:
                return -1
            occ = occs[sp]
            key = canonical(occ, rows, cols, row_mask, reverse_row)
            keys[sp] = key
            slot = np.int64(mix64(key) & tt_mask)
            if tt_vals[slot] != 0 and tt_keys[slot] == key:
                result = tt_vals[slot]
            else:
                own = move_bits(occ, player == 0, full, v_tops, h_lefts, cols)
                k = 0
                step = np.uint64(cols) if player == 0 else _ONE
                for i in range(n_cells):
                    if (own >> np.uint64(i)) & _ONE:
                        mask = (_ONE << np.uint64(i)) | (_ONE << (np.uint64(i) + step))
                        after = occ | mask
                        opp = popcount(move_bits(after, player == 1, full, v_tops, h_lefts, cols))
                        mine = popcount(move_bits(after, player == 0, full, v_tops, h_lefts, cols))
                        score = (1 << 20) if opp == 0 else mine - opp
                        j = k  # insertion sort, best score first
                        while j > 0 and scores[j - 1] < score:
                            scores[j] = scores[j - 1]
                            moves[sp, j] = moves[sp, j - 1]
                            j -= 1
                        scores[j] = score
                        moves[sp, j] = mask
                        k += 1
                n_moves[sp] = k
                nxt[sp] = 0
                if k == 0:
                    result = _LOSS
        elif not child_won:  # the child lost: this node wins
            result = _WIN
        if result == 0:
            if nxt[sp] < n_moves[sp]:
                occs[sp + 1] = occs[sp] | moves[sp, nxt[sp]]
                nxt[sp] += 1
                sp += 1
                player = 1 - player
                entering = True
                continue
            result = _LOSS
        slot = np.int64(mix64(keys[sp]) & tt_mask)
        tt_keys[slot] = keys[sp]
        tt_vals[slot] = result
        if sp == 0:
            return 1 if result == _WIN else 0
        child_won = result == _WIN
        sp -= 1
        player = 1 - player


def _reverse_row_table(cols: int) -> np.ndarray:
    """reverse[x] = the cols-bit row x mirrored left-right."""
    x = np.arange(1 << cols, dtype=np.uint64)
    out = np.zeros_like(x)
    for c in range(cols):
        out |= ((x >> np.uint64(c)) & np.uint64(1)) << np.uint64(cols - 1 - c)
    return out


def default_tt_bits(n_cells: int) -> int:
    """Memo size: 2**(8 + n_cells/2) slots, between 2**12 and 2**22 (36 MiB), enough for the boards it can solve."""
    return int(min(22, max(12, 8 + n_cells // 2)))


class SolverBudgetExceeded(RuntimeError):
    """The search needed more nodes than `node_limit` allowed."""


def solve_board(spec: BoardSpec, board: np.ndarray, to_move: int, tt_bits: int | None = None,
                node_limit: int | None = None) -> int:
    """Winner (VERTICAL/HORIZONTAL) with perfect play from `board` (uint8, 1 = occupied) with `to_move` to move.

    tt_bits: log2 of the memo size (default from the board size); a full memo only costs speed, never accuracy.
    node_limit: give up with SolverBudgetExceeded after this many searched positions (None: no limit).
    """
    rows, cols = int(spec.rows), int(spec.cols)
    if rows * cols > MAX_CELLS:
        raise ValueError(f"board {rows}x{cols} has {rows * cols} cells; the exact solver handles at most "
                         f"{MAX_CELLS} (and is practical up to about 6x6).")
    board = np.asarray(board).reshape(-1)
    if board.shape[0] != rows * cols:
        raise ValueError(f"board has {board.shape[0]} cells; a {rows}x{cols} board needs {rows * cols}.")
    if int(to_move) not in (VERTICAL, HORIZONTAL):
        raise ValueError(f"to_move={to_move}: expected VERTICAL (0) or HORIZONTAL (1).")
    occ = 0
    for cell in np.flatnonzero(board):
        occ |= 1 << int(cell)
    if tt_bits is None:
        tt_bits = default_tt_bits(rows * cols)
    if not 4 <= int(tt_bits) <= 30:
        raise ValueError(f"tt_bits={tt_bits}: expected an integer in [4, 30].")
    limit = 0 if node_limit is None else int(node_limit)
    if node_limit is not None and limit < 1:
        raise ValueError(f"node_limit={node_limit}: expected a positive number of positions, or None for no limit.")
    status = solve_kernel(np.uint64(occ), int(to_move), rows, cols, _reverse_row_table(cols), int(tt_bits), limit)
    if status < 0:
        raise SolverBudgetExceeded(f"solving {rows}x{cols} needs more than node_limit={limit} positions; raise the "
                                   f"limit or pass node_limit=None (boards above about 7x7 are out of reach).")
    return int(to_move) if status == 1 else 1 - int(to_move)


def solve(spec: BoardSpec, first: int = VERTICAL, tt_bits: int | None = None, node_limit: int | None = None) -> int:
    """Winner (VERTICAL or HORIZONTAL) of the empty board with perfect play when `first` moves first."""
    empty = np.zeros(int(spec.rows) * int(spec.cols), dtype=np.uint8)
    return solve_board(spec, empty, first, tt_bits, node_limit)


def outcome_class(spec: BoardSpec, tt_bits: int | None = None, node_limit: int | None = None) -> str:
    """'V' (vertical wins either way), 'H', '1' (the first player wins) or '2' (the second player wins)."""
    v_first = solve(spec, VERTICAL, tt_bits, node_limit)
    h_first = solve(spec, HORIZONTAL, tt_bits, node_limit)
    if v_first == h_first:
        return "V" if v_first == VERTICAL else "H"
    return "1" if v_first == VERTICAL else "2"
