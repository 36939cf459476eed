"""Board concepts: named quantities of a position, vectorised over a batch of boards (B, n_cells).

They are the vocabulary that probes and module descriptions use. Each concept in `CONCEPTS` has a name,
a one-line meaning, a function `fn(spec, boards, **kw) -> (B, k) float32` and the names of its k outputs.

Sectors tile the board in blocks of `sector = (height, width)` cells, numbered row-major; when the board
size is not a multiple of the sector size, the last row/column of sectors is smaller. A move belongs to
the sector of its top cell (vertical) or left cell (horizontal), as in the original experiment.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from modinterp.games import domineering as dom

DEFAULT_SECTOR = (4, 4)


def _check_sector(sector) -> tuple[int, int]:
    try:
        height, width = (int(x) for x in sector)
    except (TypeError, ValueError):
        raise ValueError(f"sector={sector!r}: expected a pair (height, width) of positive integers") from None
    if height < 1 or width < 1:
        raise ValueError(f"sector={sector!r}: expected a pair (height, width) of positive integers")
    return height, width


def sector_grid(spec: dom.BoardSpec, sector=DEFAULT_SECTOR) -> tuple[int, int]:
    """Number of sector rows and columns covering the board."""
    height, width = _check_sector(sector)
    return -(-spec.rows // height), -(-spec.cols // width)


@functools.lru_cache(maxsize=None)
def _cell_sector(rows: int, cols: int, height: int, width: int) -> np.ndarray:
    """(n_cells,) sector index of each cell."""
    r, c = np.divmod(np.arange(rows * cols), cols)
    return (r // height) * -(-cols // width) + c // width


@functools.lru_cache(maxsize=None)
def _signed_move_sectors(rows: int, cols: int, height: int, width: int) -> np.ndarray:
    """(n_moves, n_sectors) float32: +1 for a vertical move in its anchor's sector, -1 for a horizontal one."""
    spec = dom.BoardSpec(rows, cols)
    sectors = _cell_sector(rows, cols, height, width)[spec.move_cells[:, 0]]
    n_sectors = -(-rows // height) * -(-cols // width)
    table = np.zeros((spec.n_moves, n_sectors), dtype=np.float32)
    table[np.arange(spec.n_moves), sectors] = np.where(spec.move_player == dom.VERTICAL, 1.0, -1.0)
    table.setflags(write=False)
    return table


def sector_move_difference(spec: dom.BoardSpec, boards, sector=DEFAULT_SECTOR) -> np.ndarray:
    """(B, n_sectors) float32: available vertical minus available horizontal moves anchored in each sector.

    "Available" counts both players' geometrically free moves whoever is to move (the original's target,
    before its division by 10). Empty 16x16 with 4x4 sectors: interior 0, right column +4, bottom row -4.
    """
    height, width = _check_sector(sector)
    available = dom.available_mask(spec, boards).astype(np.float32)
    return available @ _signed_move_sectors(spec.rows, spec.cols, height, width)


def mobility(spec: dom.BoardSpec, boards) -> np.ndarray:
    """(B, 2) int64 legal-move counts of (vertical, horizontal) on each board, whoever is to move."""
    return dom.legal_counts(spec, boards)


def sector_occupancy(spec: dom.BoardSpec, boards, sector=DEFAULT_SECTOR) -> np.ndarray:
    """(B, n_sectors) float32: fraction of each sector's cells that are occupied."""
    height, width = _check_sector(sector)
    boards = dom.as_boards(spec, boards)
    cell_sector = _cell_sector(spec.rows, spec.cols, height, width)
    n_sectors = int(cell_sector.max()) + 1
    one_hot = np.zeros((spec.n_cells, n_sectors), dtype=np.float32)
    one_hot[np.arange(spec.n_cells), cell_sector] = 1.0
    return (boards.astype(np.float32) @ one_hot) / one_hot.sum(axis=0)


def move_difference(spec: dom.BoardSpec, boards) -> np.ndarray:
    """(B, 1) float32: available vertical minus available horizontal moves on the whole board."""
    counts = dom.legal_counts(spec, boards)
    return (counts[:, :1] - counts[:, 1:]).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _crossing_moves(rows: int, cols: int) -> np.ndarray:
    """(n_moves, n_moves) float32: 1 where a vertical and a horizontal move share a cell (symmetric)."""
    spec = dom.BoardSpec(rows, cols)
    covers = np.zeros((spec.n_moves, spec.n_cells), dtype=np.float32)
    covers[np.repeat(np.arange(spec.n_moves), 2), spec.move_cells.ravel()] = 1.0
    shared = (covers @ covers.T) > 0
    crossing = shared & (spec.move_player[:, None] != spec.move_player[None, :])
    table = crossing.astype(np.float32)
    table.setflags(write=False)
    return table


def safe_moves(spec: dom.BoardSpec, boards) -> np.ndarray:
    """(B, 2) int64 available moves of (vertical, horizontal) that the opponent can never take away.

    A move is safe when no available move of the other orientation covers one of its cells (the opponent can
    never block it). Overlapping safe moves are each counted, unlike the non-overlapping count of solvers.
    """
    available = dom.available_mask(spec, boards)
    threatened = (available.astype(np.float32) @ _crossing_moves(spec.rows, spec.cols)) > 0
    safe = available & ~threatened
    return np.stack([safe[:, : spec.n_vertical].sum(1), safe[:, spec.n_vertical :].sum(1)], axis=1)


def sector_mobility(spec: dom.BoardSpec, boards, sector=DEFAULT_SECTOR) -> np.ndarray:
    """(B, 2 * n_sectors) float32: available vertical moves per sector, then available horizontal moves per sector.

    A move counts in the sector of its top/left cell, as in `sector_move_difference` (which is their difference).
    """
    height, width = _check_sector(sector)
    available = dom.available_mask(spec, boards).astype(np.float32)
    signed = _signed_move_sectors(spec.rows, spec.cols, height, width)
    return np.concatenate([available @ np.maximum(signed, 0.0), available @ np.maximum(-signed, 0.0)], axis=1)


def fill_fraction(spec: dom.BoardSpec, boards) -> np.ndarray:
    """(B, 1) float32: fraction of the board's cells that are occupied (the game's phase)."""
    return dom.as_boards(spec, boards).mean(axis=1, dtype=np.float32)[:, None]


# ---------------------------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class Concept:
    """A named board quantity: `fn(spec, boards, **kw)` gives (B, k) float32 with column names `output_names`."""

    name: str
    meaning: str
    fn: Callable[..., np.ndarray]
    output_names: Callable[..., list[str]]


def _sector_names(prefix: str) -> Callable[..., list[str]]:
    def names(spec: dom.BoardSpec, sector=DEFAULT_SECTOR) -> list[str]:
        n_rows, n_cols = sector_grid(spec, sector)
        return [f"{prefix}[{i},{j}]" for i in range(n_rows) for j in range(n_cols)]
    return names


def _sector_mobility_names(spec: dom.BoardSpec, sector=DEFAULT_SECTOR) -> list[str]:
    return _sector_names("sector_mobility_vertical")(spec, sector) + _sector_names("sector_mobility_horizontal")(spec, sector)


def _as_float(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    @functools.wraps(fn)
    def wrapped(spec, boards, **kw):
        return np.asarray(fn(spec, boards, **kw), dtype=np.float32)
    return wrapped


CONCEPTS: dict[str, Concept] = {c.name: c for c in [
    Concept("sector_move_difference",
            "per sector, vertical minus horizontal moves still available there (either player, a move counted in "
            "the sector of its top/left cell)",
            _as_float(sector_move_difference), _sector_names("sector_move_difference")),
    Concept("mobility", "number of legal moves of vertical and of horizontal",
            _as_float(mobility), lambda spec: ["mobility_vertical", "mobility_horizontal"]),
    Concept("safe_moves", "number of available moves of vertical and of horizontal that the opponent cannot block",
            _as_float(safe_moves), lambda spec: ["safe_moves_vertical", "safe_moves_horizontal"]),
    Concept("sector_mobility", "per sector, the available vertical moves, then the available horizontal moves, "
            "anchored there (a move counted in the sector of its top/left cell)",
            _as_float(sector_mobility), _sector_mobility_names),
    Concept("sector_occupancy", "per sector, the fraction of its cells already covered by dominoes",
            _as_float(sector_occupancy), _sector_names("sector_occupancy")),
    Concept("move_difference", "vertical minus horizontal available moves on the whole board",
            _as_float(move_difference), lambda spec: ["move_difference"]),
    Concept("fill_fraction", "fraction of the board covered by dominoes (the game's phase)",
            _as_float(fill_fraction), lambda spec: ["fill_fraction"]),
]}


def known_concept(name: str) -> str:
    """`name` if it is in `CONCEPTS`, else a ValueError listing the known names (for config validators)."""
    if name not in CONCEPTS:
        raise ValueError(f"unknown concept {name!r}; choose one of {sorted(CONCEPTS)}")
    return name


def compute_concept(name: str, spec: dom.BoardSpec, boards, **kw) -> np.ndarray:
    """(B, k) float32 values of concept `name` (see `CONCEPTS`) on a batch of boards."""
    if name not in CONCEPTS:
        raise KeyError(f"concept {name!r} is unknown; known concepts: {sorted(CONCEPTS)}")
    return CONCEPTS[name].fn(spec, boards, **kw)
