"""Leak-free probe splits: by game, grouped folds, and symmetry-aware deduplication of boards.

Positions of one game are strongly correlated and move orders transpose to identical boards, so a probe
is scored only on games it never saw and on boards that are not (up to the four role-preserving
symmetries) in its training set.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

BoardTransform = Callable[[np.ndarray, int], np.ndarray]
"""`transform(boards (B, n_cells) uint8, sym) -> transformed boards`, sym in 0..3 (0 = identity)."""

N_SYMMETRIES = 4


def _as_group_array(game_ids, name: str = "game_ids") -> np.ndarray:
    ids = np.asarray(game_ids)
    if ids.ndim != 1 or ids.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1D array of game ids (one per position), got shape {ids.shape}")
    return ids


def split_by_game(game_ids, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Positions split into (train_index, test_index) so that no game has positions on both sides.

    The games are permuted by `np.random.default_rng(seed)`; the first round(test_fraction * n_games) of them
    are the test games. Returns sorted position indices.
    """
    ids = _as_group_array(game_ids)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a number strictly between 0 and 1, got {test_fraction!r}")
    games = np.unique(ids)
    n_test = int(round(test_fraction * len(games)))
    if n_test < 1 or n_test >= len(games):
        raise ValueError(
            f"test_fraction={test_fraction} of {len(games)} games leaves an empty side ({n_test} test games); "
            "use more games or a different test_fraction"
        )
    test_games = np.random.default_rng(seed).permutation(games)[:n_test]
    is_test = np.isin(ids, test_games)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def group_kfold(game_ids, n_splits: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped K-fold (train_index, test_index) pairs with scikit-learn's `GroupKFold` (shuffle=False) folds.

    Groups are dealt out largest first (ties: the later group id first) to the fold with the fewest
    positions so far, so folds are balanced in positions and never split a game.
    """
    ids = _as_group_array(game_ids)
    groups, position_group = np.unique(ids, return_inverse=True)
    if not 2 <= n_splits <= len(groups):
        raise ValueError(f"n_splits: expected 2 <= n_splits <= number of games ({len(groups)}), got {n_splits}")
    sizes = np.bincount(position_group)
    order = np.argsort(sizes, kind="stable")[::-1]
    fold_load = np.zeros(n_splits)
    group_fold = np.empty(len(groups), dtype=np.int64)
    for group in order:  # one step per game, not per position
        fold = int(np.argmin(fold_load))
        fold_load[fold] += sizes[group]
        group_fold[group] = fold
    position_fold = group_fold[position_group]
    return [(np.flatnonzero(position_fold != f), np.flatnonzero(position_fold == f)) for f in range(n_splits)]


def _lexicographic_min(candidates: np.ndarray) -> np.ndarray:
    """Row-wise lexicographic minimum over the first axis of (S, B, n) arrays -> (B, n)."""
    best = candidates[0].copy()
    for other in candidates[1:]:
        differs = best != other
        first = differs.argmax(axis=1)
        rows = np.arange(len(best))
        smaller = differs.any(axis=1) & (other[rows, first] < best[rows, first])
        best[smaller] = other[smaller]
    return best


def canonical_boards(boards, transform: BoardTransform) -> np.ndarray:
    """The canonical representative of each board: the lexicographically smallest of its four symmetric images.

    Two boards get the same canonical board exactly when one is a role-preserving symmetry of the other.
    `transform(boards, sym)` must return boards of the same shape (sym 0 = identity).
    """
    boards = np.ascontiguousarray(np.asarray(boards, dtype=np.uint8))
    if boards.ndim != 2:
        raise ValueError(f"boards: expected a 2D (n_positions, n_cells) uint8 array, got shape {boards.shape}")
    images = np.stack([np.asarray(transform(boards, sym), dtype=np.uint8) for sym in range(N_SYMMETRIES)])
    if images.shape[1:] != boards.shape:
        raise ValueError(f"transform: expected boards of shape {boards.shape} back, got {images.shape[1:]}")
    return _lexicographic_min(images)


def canonical_keys(boards, transform: BoardTransform) -> np.ndarray:
    """Canonical key bytes per board (a fixed-width numpy bytes array), equal for symmetric boards."""
    canonical = np.ascontiguousarray(canonical_boards(boards, transform))
    return canonical.view(np.dtype((np.void, canonical.shape[1]))).ravel()


def symmetric_duplicates(boards, train_index, test_index, transform: BoardTransform) -> np.ndarray:
    """Boolean mask over `test_index`: True where the test board, up to symmetry, also occurs in probe-train."""
    keys = canonical_keys(boards, transform)
    train_keys = np.unique(keys[np.asarray(train_index)])
    return np.isin(keys[np.asarray(test_index)], train_keys)


def drop_symmetric_duplicates(boards, train_index, test_index, transform: BoardTransform) -> np.ndarray:
    """`test_index` without every position whose board (under the four symmetries) also occurs in probe-train."""
    test_index = np.asarray(test_index)
    return test_index[~symmetric_duplicates(boards, train_index, test_index, transform)]


def grid_transform(rows: int, cols: int) -> BoardTransform:
    """The four role-preserving symmetries of a rows x cols board as a `BoardTransform` (pure numpy).

    Ids follow `modinterp.games.domineering`: 0 identity, 1 flip top-bottom, 2 flip left-right, 3 rotate 180.
    Prefer `domineering_transform(spec)`, which uses the engine's implementation.
    """

    def transform(boards: np.ndarray, sym: int) -> np.ndarray:
        grid = np.asarray(boards).reshape(len(boards), rows, cols)
        flips = {0: (), 1: (1,), 2: (2,), 3: (1, 2)}[int(sym)]
        return np.flip(grid, axis=flips).reshape(len(boards), rows * cols) if flips else grid.reshape(len(boards), -1)

    return transform


def domineering_transform(spec) -> BoardTransform:
    """The engine's `transform_boards` bound to a board spec, as a `BoardTransform`."""
    from modinterp.games.domineering import transform_boards

    return lambda boards, sym: transform_boards(spec, boards, sym)
