"""Numba kernels shared by the players: move tables, a counter-based RNG and the move-list game state.

A game state is kept as two lists of still-available move codes (one per player) with a position index per
code (`pos[code] = -1` once the code is gone). Placing a domino removes itself and the at most 6 other moves
that touch its two cells by swap-remove, so a ply costs O(1) instead of a scan over all moves.
Move codes follow `domineering.py` (where they are defined): vertical `r*C + c` (top cell), then horizontal `n_vertical + r*(C-1) + c`
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


@njit(cache=True, nogil=True)
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


# ------------------------------------------------------------------------------------------ alpha-beta search
# Search state: av (2, n_moves) lists of available codes, pos, counts (2,), the undo log of one make per search
# ply, and a transposition table of 2**k slots. A slot is valid only when its stamp equals the current search's
# stamp, so no result ever depends on an earlier search (or on which games shared the table before).

WIN = 1_000_000  # score of a won position; above any mobility difference
INF = 10_000_000
EXACT, LOWER, UPPER = 0, 1, 2


@njit(cache=True)
def make_move(move, slot, n_vertical, touching, av, pos, counts, undo_code, undo_idx):
    """Play `move`, logging each removed code and its index in row `slot` of the undo log; returns #removed."""
    n = 0
    for t in range(8):
        other = touching[move, t]
        if other < 0:
            break
        i = pos[other]
        if i >= 0:
            q = 0 if other < n_vertical else 1
            counts[q] -= 1
            last = av[q, counts[q]]
            av[q, i] = last
            pos[last] = i
            pos[other] = -1
            undo_code[slot, n] = other
            undo_idx[slot, n] = i
            n += 1
    return n


@njit(cache=True)
def unmake_move(n, slot, n_vertical, av, pos, counts, undo_code, undo_idx):
    """Undo the last make logged in row `slot`: re-insert the removed codes in reverse order."""
    for k in range(n - 1, -1, -1):
        other = undo_code[slot, k]
        i = undo_idx[slot, k]
        q = 0 if other < n_vertical else 1
        moved = av[q, i]
        av[q, counts[q]] = moved
        pos[moved] = counts[q]
        av[q, i] = other
        pos[other] = i
        counts[q] += 1


@njit(cache=True)
def reset_state(n_vertical, n_moves, av, pos, counts):
    """Empty board: every vertical move available to player 0, every horizontal one to player 1."""
    for m in range(n_moves):
        q = 0 if m < n_vertical else 1
        av[q, m - q * n_vertical] = m
        pos[m] = m - q * n_vertical
    counts[0] = n_vertical
    counts[1] = n_moves - n_vertical


@njit(cache=True)
def state_from_board(board, n_vertical, n_moves, move_cells, av, pos, counts):
    """Fill the move lists from a uint8 board (1 = occupied)."""
    counts[0] = 0
    counts[1] = 0
    for m in range(n_moves):
        if board[move_cells[m, 0]] == 0 and board[move_cells[m, 1]] == 0:
            q = 0 if m < n_vertical else 1
            av[q, counts[q]] = m
            pos[m] = counts[q]
            counts[q] += 1
        else:
            pos[m] = -1


@njit(cache=True)
def new_workspace(n_moves, max_depth, tt_bits):
    """Arrays of one searcher: board state, undo log and per-level frames (max_depth+1 levels), TT."""
    levels = max_depth + 1
    state = (np.empty((2, n_moves), dtype=np.int32), np.empty(n_moves, dtype=np.int32), np.zeros(2, dtype=np.int64),
             np.empty((levels, 8), dtype=np.int32), np.empty((levels, 8), dtype=np.int32))
    # frame columns: alpha, beta, alpha0, best, best_move, depth, next k, hint, slot, n_removed, move
    frames = np.zeros((levels, 11), dtype=np.int64)
    keys = np.zeros(levels, dtype=np.uint64)
    size = 1 << tt_bits
    tt = (np.zeros(size, dtype=np.uint64), np.zeros(size, dtype=np.int64), np.zeros((size, 4), dtype=np.int32))
    return state, frames, keys, tt


# frame columns
F_ALPHA, F_BETA, F_ALPHA0, F_BEST, F_BEST_MOVE, F_DEPTH, F_K, F_HINT, F_SLOT, F_NREM, F_MOVE = range(11)
# tt_data columns: depth, flag, value, best move
T_DEPTH, T_FLAG, T_VALUE, T_MOVE = range(4)


@njit(cache=True)
def negamax(root_player, depth, alpha, beta, root_key, stamp, tables, ws):
    """Alpha-beta negamax value for `root_player` to move and the best root move, searched `depth` plies.

    Score: own minus opponent's available moves at the horizon, -WIN for the side to move with no move.
    Iterative (an explicit stack of frames), because Numba's on-disk cache cannot hold recursive functions.
    TT entries count only when their stamp is `stamp`; the TT move, then centre distance, orders the moves.
    """
    n_vertical, touching, zmove, order, zside = tables
    (av, pos, counts, undo_code, undo_idx), fr, keys, (tt_key, tt_stamp, tt_data) = ws
    n_moves = zmove.shape[0]
    mask = np.uint64(tt_key.shape[0] - 1)
    sp = 0
    player = root_player
    fr[0, F_ALPHA] = alpha
    fr[0, F_BETA] = beta
    fr[0, F_DEPTH] = depth
    keys[0] = root_key
    entering = True
    value = 0  # value of the child just finished, from the child's mover's view
    while True:
        if entering:  # a new node at level sp with `player` to move and depth >= 1
            entering = False
            done = False
            if counts[player] == 0:
                value = -WIN
                done = True
            else:
                h = keys[sp] ^ (zside * np.uint64(player))
                slot = np.int64(h & mask)
                fr[sp, F_SLOT] = slot
                fr[sp, F_HINT] = -1
                if tt_stamp[slot] == stamp and tt_key[slot] == h:
                    fr[sp, F_HINT] = tt_data[slot, T_MOVE]
                    if tt_data[slot, T_DEPTH] >= fr[sp, F_DEPTH]:
                        v = tt_data[slot, T_VALUE]
                        flag = tt_data[slot, T_FLAG]
                        if flag == EXACT or (flag == LOWER and v >= fr[sp, F_BETA]) or (
                                flag == UPPER and v <= fr[sp, F_ALPHA]):
                            value = v
                            fr[sp, F_BEST_MOVE] = tt_data[slot, T_MOVE]
                            done = True
                fr[sp, F_ALPHA0] = fr[sp, F_ALPHA]
                fr[sp, F_BEST] = -INF
                fr[sp, F_BEST_MOVE] = -1 if not done else fr[sp, F_BEST_MOVE]
                fr[sp, F_K] = -1
            cutoff = False
        else:  # the child of the move fr[sp, F_MOVE] returned `value`
            move = fr[sp, F_MOVE]
            unmake_move(fr[sp, F_NREM], sp, n_vertical, av, pos, counts, undo_code, undo_idx)
            v = -value
            done = False
            if v > fr[sp, F_BEST]:
                fr[sp, F_BEST] = v
                fr[sp, F_BEST_MOVE] = move
                if v > fr[sp, F_ALPHA]:
                    fr[sp, F_ALPHA] = v
            cutoff = fr[sp, F_ALPHA] >= fr[sp, F_BETA]
        if not done:  # play the next move (leaves are scored here without a frame), or close the node
            n_own = n_vertical if player == 0 else n_moves - n_vertical
            pushed = False
            while not cutoff and fr[sp, F_K] < n_own:
                k = fr[sp, F_K]
                fr[sp, F_K] = k + 1
                hint = fr[sp, F_HINT]
                if k < 0:
                    move = hint
                    if move < 0 or pos[move] < 0:  # pos check: only a 64-bit key collision could fail it
                        continue
                else:
                    move = order[player, k]
                    if move == hint or pos[move] < 0:
                        continue
                n_rem = make_move(move, sp, n_vertical, touching, av, pos, counts, undo_code, undo_idx)
                if fr[sp, F_DEPTH] == 1:
                    child = -WIN if counts[1 - player] == 0 else counts[1 - player] - counts[player]
                    unmake_move(n_rem, sp, n_vertical, av, pos, counts, undo_code, undo_idx)
                    v = -child
                    if v > fr[sp, F_BEST]:
                        fr[sp, F_BEST] = v
                        fr[sp, F_BEST_MOVE] = move
                        if v > fr[sp, F_ALPHA]:
                            fr[sp, F_ALPHA] = v
                            cutoff = v >= fr[sp, F_BETA]
                    continue
                fr[sp, F_MOVE] = move
                fr[sp, F_NREM] = n_rem
                fr[sp + 1, F_ALPHA] = -fr[sp, F_BETA]
                fr[sp + 1, F_BETA] = -fr[sp, F_ALPHA]
                fr[sp + 1, F_DEPTH] = fr[sp, F_DEPTH] - 1
                keys[sp + 1] = keys[sp] ^ zmove[move]
                sp += 1
                player = 1 - player
                pushed = True
                entering = True
                break
            if pushed:
                continue
            value = fr[sp, F_BEST]
            slot = fr[sp, F_SLOT]
            tt_key[slot] = keys[sp] ^ (zside * np.uint64(player))
            tt_stamp[slot] = stamp
            tt_data[slot, T_DEPTH] = fr[sp, F_DEPTH]
            tt_data[slot, T_VALUE] = value
            tt_data[slot, T_MOVE] = fr[sp, F_BEST_MOVE]
            tt_data[slot, T_FLAG] = UPPER if value <= fr[sp, F_ALPHA0] else (LOWER if value >= fr[sp, F_BETA] else EXACT)
        if sp == 0:
            return value, fr[0, F_BEST_MOVE]
        sp -= 1
        player = 1 - player


@njit(cache=True)
def search_root(player, depth, key, stamp, tables, ws):
    """Iterative deepening to `depth` (each iteration orders the previous best move first through the TT);
    returns (best move, value). Ties go to the move searched first, so the choice is deterministic."""
    value = 0
    best_move = -1
    for d in range(1, depth + 1):
        value, best_move = negamax(player, d, -INF, INF, key, stamp, tables, ws)
    return best_move, value
