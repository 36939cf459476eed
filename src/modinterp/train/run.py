"""Wiring for a standard run: games file + TrainConfig -> positions, model, Trainer. Used by the CLI.

Studies that build or embed their own models call `Trainer` directly with `make_positions` for the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from modinterp.data.positions import TrainPositions, ValidationPositions, n_concepts
from modinterp.data.store import GameStore
from modinterp.models import build_model
from modinterp.train.config import TrainConfig
from modinterp.train.distributed import DistInfo
from modinterp.train.trainer import ProbeHook, Trainer, TrainResult


def make_positions(config: TrainConfig, store: GameStore, batch_seed: int | None = None) -> tuple[TrainPositions, ValidationPositions]:
    """The training stream (seeded by `batch_seed`, default the config's) and the fixed validation set."""
    seed = config.stream_seed if batch_seed is None else int(batch_seed)
    train = TrainPositions(store, config.positions, config.batch_size, seed)
    val = ValidationPositions(store, config.val_positions, config.val_batch_size, config.seed)
    return train, val


def make_model(config: TrainConfig, store: GameStore) -> torch.nn.Module:
    """The config's model preset for the store's board, with n_concepts and the token format matching the data."""
    spec = store.spec
    fields: dict[str, Any] = {"n_concepts": n_concepts(spec, config.positions),
                              "side_to_move": config.positions.side_to_move_token, **config.model.overrides}
    return build_model(config.model.preset, spec.rows, spec.cols, seed=config.seed, **fields)


def train_from_games(config: TrainConfig, games: str | Path | GameStore, run_dir: str | Path, resume: bool = False,
                     dist: DistInfo | None = None, probe_hook: ProbeHook | None = None) -> TrainResult:
    """Train the config's model on a games file (or loaded store) into `run_dir`."""
    store = games if isinstance(games, GameStore) else GameStore.load(games)
    train, val = make_positions(config, store)
    terms = [settings.build() for settings in (config.modularity, config.interface) if settings is not None]
    trainer = Trainer(config, make_model(config, store), train, val, run_dir, probe_hook=probe_hook, dist=dist,
                      loss_terms=terms, games_digest=store.digest())
    return trainer.fit(resume=resume)
