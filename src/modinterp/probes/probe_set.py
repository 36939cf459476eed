"""`ProbeSet`: one fixed set of positions with concept targets, split into probe-train and probe-test by game.

The same probe set is used for every checkpoint, condition and seed, so comparisons between them are paired
and test-set sampling noise cancels. Test boards that also occur in probe-train up to the four
role-preserving symmetries are dropped from probe-test (move orders transpose to identical boards).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from modinterp.atomic import atomic_write
from modinterp.probes.splits import BoardTransform, domineering_transform, drop_symmetric_duplicates, split_by_game


@dataclass(frozen=True)
class ProbeSet:
    """Positions (tokens), targets and game ids, with a game-level split. Index arrays point into the rows."""

    tokens: torch.Tensor  # (N, T) long
    targets: np.ndarray  # (N, k) float64
    game_ids: np.ndarray  # (N,) int64
    train_index: np.ndarray  # rows of probe-train
    test_index: np.ndarray  # rows of probe-test (games disjoint from train, symmetric duplicates removed)
    n_dropped_duplicates: int = 0
    target_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        # Normalise types once so that every consumer can rely on them (frozen: set through object.__setattr__).
        object.__setattr__(self, "tokens", torch.as_tensor(self.tokens).long())
        for name, dtype in (("targets", np.float64), ("game_ids", np.int64), ("train_index", np.int64), ("test_index", np.int64)):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=dtype))
        n = len(self.tokens)
        if self.targets.ndim != 2 or len(self.targets) != n or len(self.game_ids) != n:
            raise ValueError(f"ProbeSet: tokens, targets (2D) and game_ids need the same number of rows; got "
                             f"{n}, {self.targets.shape} and {len(self.game_ids)}")
        shared = np.intersect1d(self.game_ids[self.train_index], self.game_ids[self.test_index])
        if len(shared):
            raise ValueError(f"ProbeSet: games {shared[:5].tolist()} have positions in both probe-train and probe-test; split by game")
        if len(self.train_index) < 2 or len(self.test_index) < 2:
            raise ValueError(f"ProbeSet: need at least 2 train and 2 test positions, got {len(self.train_index)} and {len(self.test_index)}")

    @property
    def n_train(self) -> int:
        return len(self.train_index)

    @property
    def n_test(self) -> int:
        return len(self.test_index)

    @property
    def y_train(self) -> np.ndarray:
        return self.targets[self.train_index]

    @property
    def y_test(self) -> np.ndarray:
        return self.targets[self.test_index]

    @property
    def train_games(self) -> np.ndarray:
        return self.game_ids[self.train_index]

    @property
    def test_games(self) -> np.ndarray:
        return self.game_ids[self.test_index]

    def with_targets(self, targets: np.ndarray) -> "ProbeSet":
        """The same positions and split with other targets (e.g. permuted ones for a control)."""
        return ProbeSet(self.tokens, np.asarray(targets, dtype=np.float64), self.game_ids, self.train_index,
                        self.test_index, self.n_dropped_duplicates, self.target_names)

    def save(self, path: str | Path) -> Path:
        """Write as an .npz archive (no pickled objects), atomically."""
        arrays = {
            "tokens": self.tokens.cpu().numpy(), "targets": self.targets, "game_ids": self.game_ids,
            "train_index": self.train_index, "test_index": self.test_index,
            "n_dropped_duplicates": np.array(self.n_dropped_duplicates),
            "target_names": np.array(self.target_names, dtype=np.str_),
        }

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path) -> "ProbeSet":
        with np.load(path, allow_pickle=False) as data:
            return cls(torch.from_numpy(data["tokens"]).long(), data["targets"], data["game_ids"], data["train_index"],
                       data["test_index"], int(data["n_dropped_duplicates"]), tuple(str(s) for s in data["target_names"]))


def make_probe_set(tokens, targets, game_ids, boards, transform: BoardTransform | None, test_fraction: float = 0.2,
                   seed: int = 0, target_names=()) -> ProbeSet:
    """Split positions by game (seeded), then drop test boards that appear in probe-train up to symmetry.

    `boards` (N, n_cells) uint8 are the positions' boards; `transform(boards, sym)` applies the symmetries
    (pass None to skip deduplication, e.g. for non-board data).
    """
    tokens = torch.as_tensor(tokens).long()
    targets = np.asarray(targets, dtype=np.float64)
    targets = targets[:, None] if targets.ndim == 1 else targets
    game_ids = np.asarray(game_ids, dtype=np.int64)
    if not len(tokens) == len(targets) == len(game_ids):
        raise ValueError(f"tokens, targets and game_ids: expected the same number of rows, got {len(tokens)}, {len(targets)} and {len(game_ids)}")
    if target_names and len(target_names) != targets.shape[1]:
        raise ValueError(f"target_names: expected {targets.shape[1]} names (one per target column), got {len(target_names)}")
    train_index, test_index = split_by_game(game_ids, test_fraction, seed)
    kept = test_index
    if transform is not None:
        boards = np.asarray(boards)
        if len(boards) != len(tokens):
            raise ValueError(f"boards: expected {len(tokens)} rows (one per position), got {len(boards)}")
        kept = drop_symmetric_duplicates(boards, train_index, test_index, transform)
    return ProbeSet(tokens, targets, game_ids, train_index, kept, len(test_index) - len(kept), tuple(target_names))


def make_domineering_probe_set(spec, tokens, targets, game_ids, test_fraction: float = 0.2, seed: int = 0,
                               target_names=()) -> ProbeSet:
    """`make_probe_set` for Domineering tokens: boards are the first rows*cols tokens, symmetries from the engine."""
    tokens = torch.as_tensor(tokens).long()
    n_cells = spec.rows * spec.cols
    boards = tokens[:, :n_cells].numpy().astype(np.uint8)
    if boards.size and boards.max() > 1:
        raise ValueError(f"tokens: the first {n_cells} columns must be cell tokens 0/1 for a {spec.rows}x{spec.cols} board")
    return make_probe_set(tokens, targets, game_ids, boards, domineering_transform(spec), test_fraction, seed, target_names)
