"""Numba kernels shared by the players: move tables, a counter-based RNG and the move-list game state.

A game state is kept as two lists of still-available move codes (one per player) with a position index per
code (`pos[code] = -1` once the code is gone). Placing a domino removes itself and the at most 6 other moves
that touch its two cells by swap-remove, so a ply costs O(1) instead of a scan over all moves.
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
    """(move_cells (n_moves, 2), touching (n_moves, 8)) as int32, from the move-code convention.

    `touching[m]` lists every move sharing a cell with m (m itself first), padded with -1: the moves that
    placing m removes.
    """
    n_vertical = (rows - 1) * cols
    n_moves = n_vertical + rows * (cols - 1)
    move_cells = np.empty((n_moves, 2), dtype=np.int32)
    for r in range(rows - 1):
        for c in range(cols):
            move_cells[r * cols + c] = (r * cols + c, (r + 1) * cols + c)
    for r in range(rows):
        for c in range(cols - 1):
            move_cells[n_vertical + r * (cols - 1) + c] = (r * cols + c, r * cols + c + 1)
    covering: list[list[int]] = [[] for _ in range(rows * cols)]
    for m in range(n_moves):
        for cell in move_cells[m]:
            covering[cell].append(m)
    touching = np.full((n_moves, 8), -1, dtype=np.int32)
    for m in range(n_moves):
        others = [m] + sorted({o for cell in move_cells[m] for o in covering[cell]} - {m})
        touching[m, : len(others)] = others
    move_cells.setflags(write=False)
    touching.setflags(write=False)
    return move_cells, touching


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
def random_games_kernel(seed, start, n_games, first, n_vertical, n_moves, touching,
                        out_moves, out_lengths, out_winners):
    """Play games start .. start+n_games-1 with uniform random legal moves into the output rows 0..n_games-1.

    Two lists of available codes (av0 vertical, av1 horizontal) with `pos[code]` = index in its list or -1;
    counts live in locals, which is what makes this loop fast.
    """
    av0 = np.empty(n_moves, dtype=np.int32)
    av1 = np.empty(n_moves, dtype=np.int32)
    pos = np.empty(n_moves, dtype=np.int32)
    for g in range(n_games):
        state = game_key(seed, STREAM_RANDOM, start + g)
        for m in range(n_vertical):
            av0[m] = m
            pos[m] = m
        for m in range(n_vertical, n_moves):
            av1[m - n_vertical] = m
            pos[m] = m - n_vertical
        c0 = n_vertical
        c1 = n_moves - n_vertical
        player = first
        ply = 0
        while True:
            if player == 0:
                if c0 == 0:
                    break
                state, bits = next_u64(state)
                move = av0[below(bits, c0)]
            else:
                if c1 == 0:
                    break
                state, bits = next_u64(state)
                move = av1[below(bits, c1)]
            out_moves[g, ply] = move
            ply += 1
            for t in range(8):
                other = touching[move, t]
                if other < 0:
                    break
                i = pos[other]
                if i >= 0:  # swap-remove `other` from its list
                    if other < n_vertical:
                        c0 -= 1
                        last = av0[c0]
                        av0[i] = last
                    else:
                        c1 -= 1
                        last = av1[c1]
                        av1[i] = last
                    pos[last] = i
                    pos[other] = -1
            player = 1 - player
        out_lengths[g] = ply
        out_winners[g] = 1 - player  # the side to move has no move and loses (normal play)
