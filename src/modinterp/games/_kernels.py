"""Numba kernels shared by the players: move tables, a counter-based RNG and the move-list game state.

A game state is kept as two lists of still-available move codes (one per player) with a position index per
code (`pos[code] = -1` once the code is gone). Placing a domino removes the at most 7 other moves that touch
its two cells by swap-remove, so a ply costs O(1) instead of a scan over all moves.
Move codes follow CONTRACTS.md: vertical `r*C + c` (top cell), then horizontal `n_vertical + r*(C-1) + c`
(left cell).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

# splitmix64 constants (Steele, Lea & Flood 2014); all arithmetic below is uint64 and wraps mod 2**64.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_SH30 = np.uint64(30)
_SH27 = np.uint64(27)
_SH31 = np.uint64(31)
_SH32 = np.uint64(32)
_SH11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53

# Stream tags keep the random-game and guided-game streams of one seed apart.
STREAM_RANDOM = 0x52414E44
STREAM_GUIDED = 0x47554944


@lru_cache(maxsize=64)
def move_tables(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(move_cells (n_moves, 2), cell_moves (n_cells, 4) padded with -1) as int32, from the move-code convention."""
    n_vertical = (rows - 1) * cols
    n_moves = n_vertical + rows * (cols - 1)
    move_cells = np.empty((n_moves, 2), dtype=np.int32)
    for r in range(rows - 1):
        for c in range(cols):
            move_cells[r * cols + c] = (r * cols + c, (r + 1) * cols + c)
    for r in range(rows):
        for c in range(cols - 1):
            move_cells[n_vertical + r * (cols - 1) + c] = (r * cols + c, r * cols + c + 1)
    cell_moves = np.full((rows * cols, 4), -1, dtype=np.int32)
    fill = np.zeros(rows * cols, dtype=np.int64)
    for m in range(n_moves):
        for cell in move_cells[m]:
            cell_moves[cell, fill[cell]] = m
            fill[cell] += 1
    move_cells.setflags(write=False)
    cell_moves.setflags(write=False)
    return move_cells, cell_moves


@njit(cache=True, inline="always")
def mix64(z):
    """splitmix64 finaliser: a bijective avalanche of a uint64."""
    z = (z ^ (z >> _SH30)) * _MIX1
    z = (z ^ (z >> _SH27)) * _MIX2
    return z ^ (z >> _SH31)


@njit(cache=True)
def game_key(seed, stream, game_index):
    """Initial RNG state of one game: a function of (seed, stream, game index) only, never of batching."""
    return mix64(mix64(np.uint64(seed) ^ mix64(np.uint64(stream))) + mix64(np.uint64(game_index) + _GOLDEN))


@njit(cache=True, inline="always")
def next_u64(state):
    """One splitmix64 step: returns (new state, 64 random bits)."""
    state = state + _GOLDEN
    return state, mix64(state)


@njit(cache=True, inline="always")
def below(bits, n):
    """Map 64 random bits to an int in [0, n) by multiply-shift (bias < n / 2**32, n < 2**31)."""
    return np.int64(((bits >> _SH32) * np.uint64(n)) >> _SH32)


@njit(cache=True, inline="always")
def unit_float(bits):
    """Map 64 random bits to a float in [0, 1) with 53 bits of precision."""
    return np.float64(bits >> _SH11) * _INV53


@njit(cache=True)
def reset_state(n_vertical, n_moves, avail, pos, counts):
    """Empty board: every vertical move available to player 0, every horizontal one to player 1."""
    for m in range(n_vertical):
        avail[0, m] = m
        pos[m] = m
    for m in range(n_vertical, n_moves):
        avail[1, m - n_vertical] = m
        pos[m] = m - n_vertical
    counts[0] = n_vertical
    counts[1] = n_moves - n_vertical


@njit(cache=True, inline="always")
def remove_move(code, n_vertical, avail, pos, counts):
    """Swap-remove `code` from its player's list; returns its old index (-1 if it was already gone)."""
    i = pos[code]
    if i >= 0:
        q = 0 if code < n_vertical else 1
        last = avail[q, counts[q] - 1]
        avail[q, i] = last
        pos[last] = i
        pos[code] = -1
        counts[q] -= 1
    return i


@njit(cache=True)
def place(move, n_vertical, move_cells, cell_moves, avail, pos, counts):
    """Play `move`: remove every move touching its two cells (itself included)."""
    for j in range(2):
        cell = move_cells[move, j]
        for t in range(4):
            other = cell_moves[cell, t]
            if other < 0:
                break
            remove_move(other, n_vertical, avail, pos, counts)


@njit(cache=True)
def random_games_kernel(seed, start, n_games, first, n_vertical, n_moves, move_cells, cell_moves,
                        out_moves, out_lengths, out_winners):
    """Play games start .. start+n_games-1 with uniform random legal moves into the output rows 0..n_games-1."""
    avail = np.empty((2, n_moves), dtype=np.int32)
    pos = np.empty(n_moves, dtype=np.int32)
    counts = np.empty(2, dtype=np.int64)
    for g in range(n_games):
        state = game_key(seed, STREAM_RANDOM, start + g)
        reset_state(n_vertical, n_moves, avail, pos, counts)
        player = first
        ply = 0
        while counts[player] > 0:
            state, bits = next_u64(state)
            move = avail[player, below(bits, counts[player])]
            out_moves[g, ply] = move
            ply += 1
            place(move, n_vertical, move_cells, cell_moves, avail, pos, counts)
            player = 1 - player
        out_lengths[g] = ply
        out_winners[g] = 1 - player  # the side to move has no move and loses (normal play)
