"""Players that generate Domineering games: uniform random and alpha-beta guided (the original's data recipe).

Both run compiled Numba kernels one game at a time. Each game draws its randomness from a counter-based stream
keyed by (seed, game index), so a game's moves never depend on how the games are batched or split over workers:
`random_games(spec, 10, s)` equals the first ten games of `random_games(spec, 1000, s)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from modinterp.games import _kernels

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


def random_games(spec: BoardSpec, n_games: int, seed: int, first: int = VERTICAL, progress: Progress | None = None,
                 chunk_size: int = 20_000) -> GameRecords:
    """Play `n_games` games in which both sides pick a uniformly random legal move.

    spec: a BoardSpec (rows, cols). seed: non-negative int; game g uses the stream (seed, g).
    progress: optional callable, called with the number of games finished since its last call
    (e.g. `lambda n: bar.advance(task, n)`). chunk_size only sets how often progress is reported.
    """
    rows, cols = check_request(spec, n_games, seed, first)
    move_cells, touching = _kernels.move_tables(rows, cols)
    n_vertical, n_moves = (rows - 1) * cols, move_cells.shape[0]
    out = empty_records(rows, cols, int(n_games))
    seed_u64 = np.uint64(int(seed) & _SEED_MASK)
    for start in range(0, int(n_games), max(1, int(chunk_size))):
        stop = min(int(n_games), start + max(1, int(chunk_size)))
        _kernels.random_games_kernel(seed_u64, start, stop - start, int(first), n_vertical, n_moves, touching,
                                     out.moves[start:stop], out.lengths[start:stop],
                                     out.winners[start:stop])
        if progress is not None:
            progress(stop - start)
    return out
