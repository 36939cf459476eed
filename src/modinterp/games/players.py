"""Players that generate Domineering games: uniform random and alpha-beta guided (the original's data recipe).

Both run compiled Numba kernels one game at a time. Each game draws its randomness from a counter-based stream
keyed by (seed, game index), so a game's moves never depend on how the games are batched or split over workers:
`random_games(spec, 10, s)` equals the first ten games of `random_games(spec, 1000, s)`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
from numba import njit

from modinterp.games import _kernels as K
from modinterp.games.domineering import HORIZONTAL, VERTICAL, BoardSpec

Progress = Callable[[int], None]
_SEED_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class GameRecords:
    """Finished games: `moves` (G, Lmax) int16 padded with -1, `lengths` (G,) int16, `winners` (G,) int8.

    `Lmax` is always R*C//2 (the longest possible game), so records of one board concatenate without padding.
    `winners[g]` is 0 if vertical won, 1 if horizontal won; under normal play the winner made the last move.
    """

    moves: np.ndarray
    lengths: np.ndarray
    winners: np.ndarray

    def __post_init__(self) -> None:
        if self.moves.ndim != 2 or self.lengths.shape != (self.moves.shape[0],) or self.winners.shape != self.lengths.shape:
            raise ValueError(
                f"GameRecords: moves must be (G, Lmax) and lengths/winners (G,); got {self.moves.shape}, "
                f"{self.lengths.shape}, {self.winners.shape}."
            )

    def __len__(self) -> int:
        return int(self.moves.shape[0])

    @staticmethod
    def concatenate(parts: list[GameRecords]) -> GameRecords:
        """Stack records of the same board, in order."""
        if not parts:
            raise ValueError("GameRecords.concatenate: got no records; pass at least one GameRecords.")
        return GameRecords(
            moves=np.concatenate([p.moves for p in parts]),
            lengths=np.concatenate([p.lengths for p in parts]),
            winners=np.concatenate([p.winners for p in parts]),
        )


def check_request(spec: BoardSpec, n_games: int, seed: int, first: int) -> tuple[int, int]:
    """Validate the common arguments early; returns (rows, cols)."""
    rows, cols = int(spec.rows), int(spec.cols)
    if not (2 <= rows <= 16 and 2 <= cols <= 16):
        raise ValueError(f"board {rows}x{cols}: rows and cols must lie in [2, 16]; use e.g. BoardSpec(8, 8).")
    if int(n_games) < 0:
        raise ValueError(f"n_games={n_games}: expected a count >= 0.")
    if int(seed) < 0:
        raise ValueError(f"seed={seed}: expected a non-negative integer seed.")
    if int(first) not in (VERTICAL, HORIZONTAL):
        raise ValueError(f"first={first}: expected VERTICAL (0) or HORIZONTAL (1).")
    return rows, cols


def empty_records(rows: int, cols: int, n_games: int) -> GameRecords:
    """Output arrays for `n_games` games, moves pre-filled with the -1 padding."""
    return GameRecords(
        moves=np.full((n_games, rows * cols // 2), -1, dtype=np.int16),
        lengths=np.zeros(n_games, dtype=np.int16),
        winners=np.zeros(n_games, dtype=np.int8),
    )


def run_in_chunks(n_games: int, chunk_size: int, n_jobs: int, play_chunk: Callable[[int, int], None],
                  progress: Progress | None) -> None:
    """Call play_chunk(start, stop) over [0, n_games) in chunks, on `n_jobs` threads (the kernels release the GIL
    and write disjoint rows, so the records are identical for any n_jobs); report finished games to `progress`."""
    if int(n_jobs) < 1:
        raise ValueError(f"n_jobs={n_jobs}: expected a number of threads >= 1.")
    step = max(1, int(chunk_size))
    bounds = [(start, min(n_games, start + step)) for start in range(0, n_games, step)]
    if int(n_jobs) == 1:
        for start, stop in bounds:
            play_chunk(start, stop)
            if progress is not None:
                progress(stop - start)
        return
    with ThreadPoolExecutor(max_workers=int(n_jobs)) as pool:
        futures = {pool.submit(play_chunk, start, stop): stop - start for start, stop in bounds}
        for future in as_completed(futures):
            future.result()
            if progress is not None:
                progress(futures[future])


def random_games(spec: BoardSpec, n_games: int, seed: int, first: int = VERTICAL, progress: Progress | None = None,
                 chunk_size: int = 20_000, n_jobs: int = 1) -> GameRecords:
    """Play `n_games` games in which both sides pick a uniformly random legal move.

    spec: a BoardSpec (rows, cols). seed: non-negative int; game g uses the stream (seed, g).
    progress: optional callable, called with the number of games finished since its last call
    (e.g. `lambda n: bar.advance(task, n)`). chunk_size sets how often progress is reported; n_jobs threads
    play chunks in parallel. Neither changes the records.
    """
    rows, cols = check_request(spec, n_games, seed, first)
    move_cells, touching = K.move_tables(rows, cols)
    n_vertical, n_moves = (rows - 1) * cols, move_cells.shape[0]
    out = empty_records(rows, cols, int(n_games))
    seed_u64 = np.uint64(int(seed) & _SEED_MASK)

    def play_chunk(start: int, stop: int) -> None:
        K.random_games_kernel(seed_u64, start, stop - start, int(first), n_vertical, n_moves, touching,
                              out.moves[start:stop], out.lengths[start:stop], out.winners[start:stop])

    run_in_chunks(int(n_games), chunk_size, n_jobs, play_chunk, progress)
    return out


# ------------------------------------------------------------------------------------------ guided games

# (minimum mover mobility, search depth), checked in order: the original's schedule for 16x16.
DEFAULT_DEPTH_SCHEDULE: tuple[tuple[int, int], ...] = ((100, 1), (30, 2), (0, 3))
_ZOBRIST_SEED = 0x5A0B_2157


def search_tables(rows: int, cols: int) -> tuple:
    """(n_vertical, touching, zobrist key per move, move order per player by centre distance, side key)."""
    move_cells, touching = K.move_tables(rows, cols)
    n_vertical = (rows - 1) * cols
    rng = np.random.default_rng(_ZOBRIST_SEED)
    zcell = rng.integers(0, np.iinfo(np.uint64).max, size=rows * cols, dtype=np.uint64, endpoint=True)
    zside = rng.integers(0, np.iinfo(np.uint64).max, dtype=np.uint64, endpoint=True)
    zmove = zcell[move_cells[:, 0]] ^ zcell[move_cells[:, 1]]  # a key of the covered cells, not of the move order
    centre_r = (move_cells // cols).mean(axis=1) - (rows - 1) / 2
    centre_c = (move_cells % cols).mean(axis=1) - (cols - 1) / 2
    distance = centre_r**2 + centre_c**2
    order = np.full((2, max(n_vertical, len(move_cells) - n_vertical)), -1, dtype=np.int32)
    for player, codes in enumerate((np.arange(n_vertical), np.arange(n_vertical, len(move_cells)))):
        order[player, : len(codes)] = codes[np.argsort(distance[codes], kind="stable")]
    return (n_vertical, touching, zmove, order, np.uint64(zside))


def _check_schedule(depth_schedule) -> tuple[np.ndarray, np.ndarray]:
    """Schedule as two arrays; it must end with a catch-all entry (min mobility 0) and use depths in [1, 12]."""
    schedule = [(int(m), int(d)) for m, d in depth_schedule]
    mins = [m for m, _ in schedule]
    if not schedule or mins != sorted(mins, reverse=True) or mins[-1] != 0 or not all(1 <= d <= 12 for _, d in schedule):
        raise ValueError(
            f"depth_schedule={depth_schedule!r}: expected (min_mobility, depth) pairs with decreasing min_mobility, "
            f"the last one 0, depths in [1, 12]; e.g. {DEFAULT_DEPTH_SCHEDULE}.")
    return np.array(mins, dtype=np.int64), np.array([d for _, d in schedule], dtype=np.int64)


@njit(cache=True, nogil=True)
def guided_games_kernel(seed, start, n_games, first, opening_plies, epsilon, depth_min_mobility, depth_values,
                        tables, tt_bits, out_moves, out_lengths, out_winners):
    """Guided games start .. start+n_games-1: `opening_plies` random plies, then per ply a random move with
    probability `epsilon`, else the alpha-beta best move at the depth of the first schedule entry with
    depth_min_mobility[i] <= the mover's legal-move count."""
    n_vertical, touching, zmove, order, zside = tables
    n_moves = zmove.shape[0]
    ws = K.new_workspace(n_moves, depth_values.max(), tt_bits)
    av, pos, counts, undo_code, undo_idx = ws[0]
    stamp = 0
    for g in range(n_games):
        state = K.game_key(seed, K.STREAM_GUIDED, start + g)
        K.reset_state(n_vertical, n_moves, av, pos, counts)
        key = np.uint64(0)
        player = first
        ply = 0
        while counts[player] > 0:
            explore = ply < opening_plies
            if not explore:
                state, bits = K.next_u64(state)
                explore = K.unit_float(bits) < epsilon
            if explore:
                state, bits = K.next_u64(state)
                move = av[player, K.below(bits, counts[player])]
            else:
                depth = depth_values[-1]
                for i in range(depth_min_mobility.shape[0]):
                    if counts[player] >= depth_min_mobility[i]:
                        depth = depth_values[i]
                        break
                stamp += 1
                move, _ = K.search_root(player, depth, key, stamp, tables, ws)
            out_moves[g, ply] = move
            ply += 1
            K.make_move(move, 0, n_vertical, touching, av, pos, counts, undo_code, undo_idx)
            key ^= zmove[move]
            player = 1 - player
        out_lengths[g] = ply
        out_winners[g] = 1 - player


@njit(cache=True, nogil=True)
def search_positions_kernel(boards, players, depths, tables, move_cells, tt_bits, out_moves, out_values):
    """Alpha-beta (best move, negamax value for the mover) of each board; a fresh table stamp per board."""
    n_vertical, touching, zmove, order, zside = tables
    n_moves = zmove.shape[0]
    ws = K.new_workspace(n_moves, depths.max(), tt_bits)
    av, pos, counts, undo_code, undo_idx = ws[0]
    for b in range(boards.shape[0]):
        K.state_from_board(boards[b], n_vertical, n_moves, move_cells, av, pos, counts)
        key = np.uint64(0)  # keys only need to agree within one search: cells covered since the root
        player = players[b]
        if counts[player] == 0:
            out_moves[b] = -1
            out_values[b] = -K.WIN
            continue
        move, value = K.search_root(player, depths[b], key, b + 1, tables, ws)
        out_moves[b] = move
        out_values[b] = value


def guided_games(spec: BoardSpec, n_games: int, seed: int, first: int = VERTICAL, opening_plies: int = 16,
                 epsilon: float = 0.25, progress: Progress | None = None,
                 depth_schedule: tuple[tuple[int, int], ...] = DEFAULT_DEPTH_SCHEDULE, tt_bits: int = 16,
                 chunk_size: int = 50, n_jobs: int = 1) -> GameRecords:
    """Play the original's guided games: `opening_plies` random plies, then each ply a random move with
    probability `epsilon`, else the alpha-beta best move (negamax over the mobility difference, which ranks
    moves exactly as the original's sigmoid(0.3*(V_avail - H_avail)); transposition table with Zobrist keys;
    previous best then centre-distance move ordering).

    depth_schedule: (min_mobility, depth) pairs; the mover searches at the depth of the first pair whose
    min_mobility <= its legal-move count (default: 1 at >= 100 moves, 2 at 30-99, 3 below 30).
    tt_bits: log2 of the transposition-table size (one table per chunk, reused with a fresh stamp per search).
    Game g uses the random stream (seed, g), so games never depend on chunk_size or n_jobs; ties between equally
    valued moves go to the one searched first (deterministic). progress: as in `random_games`.
    """
    rows, cols = check_request(spec, n_games, seed, first)
    if not 0.0 <= float(epsilon) <= 1.0:
        raise ValueError(f"epsilon={epsilon}: expected a probability in [0, 1].")
    if int(opening_plies) < 0:
        raise ValueError(f"opening_plies={opening_plies}: expected a count >= 0.")
    if not 4 <= int(tt_bits) <= 26:
        raise ValueError(f"tt_bits={tt_bits}: expected an integer in [4, 26] (table of 2**tt_bits slots).")
    mins, depths = _check_schedule(depth_schedule)
    tables = search_tables(rows, cols)
    out = empty_records(rows, cols, int(n_games))
    seed_u64 = np.uint64(int(seed) & _SEED_MASK)

    def play_chunk(start: int, stop: int) -> None:
        guided_games_kernel(seed_u64, start, stop - start, int(first), int(opening_plies), float(epsilon), mins,
                            depths, tables, int(tt_bits), out.moves[start:stop], out.lengths[start:stop],
                            out.winners[start:stop])

    run_in_chunks(int(n_games), chunk_size, n_jobs, play_chunk, progress)
    return out


def alphabeta(spec: BoardSpec, boards: np.ndarray, players, depth, tt_bits: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Best move and negamax value (mover's available moves minus the opponent's at the horizon, -1e6 for a
    lost position) of each board at a fixed `depth`, with the guided player's search. Returns (moves, values);
    the move is -1 where the mover has no legal move."""
    boards = np.ascontiguousarray(np.atleast_2d(boards), dtype=np.uint8)
    rows, cols = int(spec.rows), int(spec.cols)
    if boards.shape[1] != rows * cols:
        raise ValueError(f"boards have {boards.shape[1]} cells; a {rows}x{cols} board needs {rows * cols}.")
    n = boards.shape[0]
    players = np.broadcast_to(np.asarray(players, dtype=np.int64), (n,)).copy()
    depths = np.broadcast_to(np.asarray(depth, dtype=np.int64), (n,)).copy()
    if n and (depths.min() < 1 or depths.max() > 40):
        raise ValueError(f"depth={depth}: expected search depths in [1, 40].")
    move_cells, _ = K.move_tables(rows, cols)
    out_moves = np.empty(n, dtype=np.int64)
    out_values = np.empty(n, dtype=np.int64)
    search_positions_kernel(boards, players, depths, search_tables(rows, cols), move_cells, int(tt_bits),
                            out_moves, out_values)
    return out_moves, out_values
