"""Positions for training and validation: sample plies per game, replay them vectorised, build a `PositionBatch`.

A position is (game, ply, symmetry): the board after the game's first `ply` moves, seen through one of the four
symmetries that keep the players' roles. Targets: value (1 if vertical won), policy (the move played next,
transformed with the board), the legal moves of the side to move, and concept targets (by default the sector
move difference / 10, as the original). Every step is an array operation over the whole batch.

Training positions are drawn afresh each epoch from a generator seeded by (seed, epoch) and shuffled, so the
batch at any step is a pure function of (seed, step): resuming needs only the step, and two runs given the same
batch seed see the same stream. Validation positions are drawn once and stay fixed.
"""

from __future__ import annotations

import inspect
import math
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modinterp.data.batch import PositionBatch
from modinterp.games.concepts import CONCEPTS, compute_concept, known_concept
from modinterp.games.domineering import BoardSpec, available_mask, player_to_move, replay_boards, transform_boards, transform_moves

# Token values (the model's format): cells 0 empty / 1 occupied, optional side-to-move token 3 + player, CLS last.
CLS_TOKEN = 2
SIDE_TO_MOVE_TOKEN = 3
# Tags that keep the random streams of the different uses of one seed apart.
_TRAIN_STREAM, _VAL_STREAM, _QUICK_VAL_STREAM = 0, 1, 2


def concept_parameters(name: str) -> list[str]:
    """The keyword arguments concept `name` accepts (beyond spec and boards)."""
    fn = inspect.unwrap(CONCEPTS[name].fn)
    return [p for p in inspect.signature(fn).parameters if p not in ("spec", "boards")]


def default_concept_kwargs(name: str) -> dict[str, Any]:
    """The study's default kwargs of a concept: 4x4 sectors for the sector concepts, none otherwise."""
    return {"sector": [4, 4]} if "sector" in concept_parameters(name) else {}


def resolve_concept_kwargs(name: str, kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """`kwargs` (or the concept's defaults when None), checked: a ValueError names those concept `name` does not
    accept, and those it does."""
    kwargs = default_concept_kwargs(name) if kwargs is None else kwargs
    unknown = sorted(set(kwargs) - set(concept_parameters(name)))
    if unknown:
        raise ValueError(f"concept {name!r}: kwargs {unknown} are not accepted; it takes "
                         f"{concept_parameters(name) or 'no kwargs'}")
    return kwargs


def concept_call_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for a concept function (lists from TOML become tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}



class PositionConfig(BaseModel):
    """How positions are drawn from games and which targets they carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    positions_per_game: int = Field(57, ge=1, description="plies sampled (with replacement) per game and epoch")
    min_ply: int = Field(16, ge=0, description="earliest ply sampled; games with no move at or after it are skipped")
    augment: bool = Field(True, description="apply a random board symmetry to each position")
    side_to_move_token: bool = Field(False, description="add a side-to-move token before CLS (off, as the original)")
    concept: str = Field("sector_move_difference", description="name in modinterp.games.concepts.CONCEPTS")
    concept_kwargs: dict[str, Any] | None = Field(None, description="the concept's kwargs (default: 4x4 sectors for "
                                                                    "sector concepts, none otherwise)")
    concept_scale: float = Field(0.1, description="concept targets are multiplied by this (original: / 10)")

    @field_validator("concept")
    @classmethod
    def _known_concept(cls, name: str) -> str:
        return known_concept(name)

    @model_validator(mode="after")
    def _concept_kwargs_accepted(self) -> "PositionConfig":
        object.__setattr__(self, "concept_kwargs", resolve_concept_kwargs(self.concept, self.concept_kwargs))
        return self

    def concept_arguments(self) -> dict[str, Any]:
        return concept_call_kwargs(self.concept_kwargs)


def eligible_games(lengths: np.ndarray, games: np.ndarray, min_ply: int, include_final: bool = False) -> np.ndarray:
    """The games among `games` with a position to sample at or after `min_ply`: a move to predict there
    (length > min_ply), or with `include_final` any position, the final one included (length >= min_ply)."""
    games = np.asarray(games, dtype=np.int64)
    lengths = np.asarray(lengths)[games]
    return games[lengths >= min_ply] if include_final else games[lengths > min_ply]


def sample_positions(
    lengths: np.ndarray, games: np.ndarray, per_game: int, min_ply: int, rng: np.random.Generator, augment: bool = True,
    include_final: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`per_game` (game, ply, symmetry) triples per eligible game: the one position sampler of the package.

    Plies are uniform in [min_ply, length - 1] (positions with a next move: training, validation, probes), or with
    `include_final` in [min_ply, length] (every position a game passes through: module descriptions), drawn there
    as `min_ply + floor(u * (length - min_ply + 1))` from one uniform `u` per position, the stream descriptions
    have always used. Returned grouped by game (game order as given); callers shuffle if they need to.
    """
    games = eligible_games(lengths, games, min_ply, include_final)
    if len(games) == 0:
        raise ValueError(f"no game is longer than min_ply={min_ply} moves; lower min_ply or supply longer games")
    game_ids = np.repeat(games, per_game)
    high = np.asarray(lengths, dtype=np.int64)[game_ids]  # exclusive: the last position with a next move is length-1
    if include_final:
        plies = min_ply + (rng.random(len(game_ids)) * (high - min_ply + 1)).astype(np.int64)
    else:
        plies = rng.integers(min_ply, high)
    syms = rng.integers(0, 4, size=len(game_ids)) if augment else np.zeros(len(game_ids), dtype=np.int64)
    return game_ids, plies.astype(np.int64), syms.astype(np.int64)


def sample_boards(spec: BoardSpec, moves: np.ndarray, lengths: np.ndarray, games: np.ndarray, per_game: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(boards (N, n_cells), game id of each board): `per_game` positions of every game in `games`, the final
    position included, as seen by the players (no symmetry)."""
    game_ids, plies, _ = sample_positions(lengths, games, per_game, 0, rng, augment=False, include_final=True)
    return replay_boards(spec, moves, game_ids, plies), game_ids


def position_tokens(boards: np.ndarray, to_move: np.ndarray | None) -> np.ndarray:
    """(N, n_cells + 1 [+ 1]) int64 tokens: cells, optional side-to-move token, CLS last."""
    parts = [boards.astype(np.int64)]
    if to_move is not None:
        parts.append(SIDE_TO_MOVE_TOKEN + np.asarray(to_move, dtype=np.int64)[:, None])
    parts.append(np.full((len(boards), 1), CLS_TOKEN, dtype=np.int64))
    return np.concatenate(parts, axis=1)


def build_positions(
    spec: BoardSpec,
    moves: np.ndarray,
    winners: np.ndarray,
    first: int,
    game_ids: np.ndarray,
    plies: np.ndarray,
    syms: np.ndarray,
    config: PositionConfig,
) -> PositionBatch:
    """Replay, transform and label the positions (game_ids[i], plies[i], syms[i]) of a game table."""
    boards = transform_boards(spec, replay_boards(spec, moves, game_ids, plies), syms)
    to_move = player_to_move(plies, first)
    next_move = transform_moves(spec, moves[game_ids, plies].astype(np.int64), syms)
    concepts = compute_concept(config.concept, spec, boards, **config.concept_arguments()) * np.float32(config.concept_scale)
    return PositionBatch(
        tokens=torch.from_numpy(position_tokens(boards, to_move if config.side_to_move_token else None)),
        value=torch.from_numpy((np.asarray(winners)[game_ids] == 0).astype(np.float32)),
        policy=torch.from_numpy(next_move),
        legal=torch.from_numpy(available_mask(spec, boards) & (spec.move_player[None, :] == to_move[:, None])),
        concepts=torch.from_numpy(np.ascontiguousarray(concepts, dtype=np.float32)),
        game_ids=torch.from_numpy(np.asarray(game_ids, dtype=np.int64)),
        plies=torch.from_numpy(np.asarray(plies, dtype=np.int64)),
    )


def n_concepts(spec: BoardSpec, config: PositionConfig) -> int:
    """Width of the concept target for this board and config (the model's `n_concepts`)."""
    return len(CONCEPTS[config.concept].output_names(spec, **config.concept_arguments()))


class TrainPositions:
    """The training batch stream: `batch(step)` is a pure function of (seed, step).

    Epoch e holds `positions_per_game` fresh positions of every eligible training game, drawn from
    `np.random.default_rng([seed, 0, e])` and shuffled; each epoch is cut into `steps_per_epoch` full batches.
    """

    def __init__(self, store, config: PositionConfig, batch_size: int, seed: int, games: np.ndarray | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.store, self.config, self.batch_size, self.seed = store, config, int(batch_size), int(seed)
        self.games = eligible_games(store.lengths, store.split_indices("train") if games is None else games, config.min_ply)
        self.n_positions = len(self.games) * config.positions_per_game
        self.steps_per_epoch = self.n_positions // self.batch_size
        if self.steps_per_epoch < 1:
            raise ValueError(f"{self.n_positions} training positions per epoch make no full batch of {batch_size}; "
                             "use more games, more positions_per_game or a smaller batch")
        self._plan = lru_cache(maxsize=2)(self._epoch_plan)

    def __getstate__(self) -> dict:
        """Picklable for DataLoader workers started by spawn/forkserver: the epoch cache is rebuilt there."""
        return {k: v for k, v in self.__dict__.items() if k != "_plan"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._plan = lru_cache(maxsize=2)(self._epoch_plan)

    def _epoch_plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, _TRAIN_STREAM, epoch])
        game_ids, plies, syms = sample_positions(self.store.lengths, self.games, self.config.positions_per_game,
                                                 self.config.min_ply, rng, self.config.augment)
        order = rng.permutation(len(game_ids))
        return game_ids[order], plies[order], syms[order]

    def positions(self, step: int, rank: int = 0, world_size: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(game_ids, plies, syms) of the batch at `step`; with DDP, rank `rank`'s contiguous share of it."""
        if self.batch_size % world_size:
            raise ValueError(f"batch_size {self.batch_size} is not divisible by the world size {world_size}")
        epoch, index = divmod(int(step), self.steps_per_epoch)
        share = self.batch_size // world_size
        start = index * self.batch_size + rank * share
        return tuple(a[start:start + share] for a in self._plan(epoch))  # type: ignore[return-value]

    def batch(self, step: int, rank: int = 0, world_size: int = 1) -> PositionBatch:
        game_ids, plies, syms = self.positions(step, rank, world_size)
        s = self.store
        return build_positions(s.spec, s.moves, s.winners, s.first, game_ids, plies, syms, self.config)


class ValidationPositions:
    """A fixed set of validation positions cut into batches; `quick_indices(step)` picks a seed-matched subset.

    Drawn once from `np.random.default_rng([seed, 1])`; every run with the same seed and games sees the same
    positions in the same batches, whatever the model or condition.
    """

    def __init__(self, store, config: PositionConfig, batch_size: int, seed: int, games: np.ndarray | None = None,
                 cache: bool = True):
        self.store, self.config, self.batch_size, self.seed = store, config, int(batch_size), int(seed)
        games = store.split_indices("val") if games is None else games
        rng = np.random.default_rng([self.seed, _VAL_STREAM])
        game_ids, plies, syms = sample_positions(store.lengths, games, config.positions_per_game, config.min_ply, rng,
                                                 config.augment)
        order = rng.permutation(len(game_ids))
        self.game_ids, self.plies, self.syms = game_ids[order], plies[order], syms[order]
        self.n_batches = math.ceil(len(self.game_ids) / self.batch_size)
        self._cache: dict[int, PositionBatch] | None = {} if cache else None

    def __len__(self) -> int:
        return self.n_batches

    def batch(self, index: int) -> PositionBatch:
        """Validation batch `index` (the last one may be smaller)."""
        if not 0 <= index < self.n_batches:
            raise IndexError(f"validation batch {index} out of range [0, {self.n_batches})")
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        sl = slice(index * self.batch_size, (index + 1) * self.batch_size)
        s = self.store
        out = build_positions(s.spec, s.moves, s.winners, s.first, self.game_ids[sl], self.plies[sl], self.syms[sl], self.config)
        if self._cache is not None:
            self._cache[index] = out
        return out

    def quick_indices(self, step: int, n_batches: int) -> list[int]:
        """The batches quick validation uses at `step`: drawn from (seed, step) alone, so seed-matched runs agree."""
        rng = np.random.default_rng([self.seed, _QUICK_VAL_STREAM, int(step)])
        k = min(int(n_batches), self.n_batches)
        return sorted(rng.choice(self.n_batches, size=k, replace=False).tolist())
