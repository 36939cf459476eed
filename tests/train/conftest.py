"""Shared fixtures for trainer tests: a small 8x8 game store on disk and a fast config."""

from __future__ import annotations

import pytest

from modinterp.data.positions import PositionConfig
from modinterp.data.store import GameStore
from modinterp.games.domineering import BoardSpec
from modinterp.games.players import random_games
from modinterp.train.config import TrainConfig


@pytest.fixture(scope="session")
def store() -> GameStore:
    spec = BoardSpec(6, 6)
    return GameStore.from_records(spec, random_games(spec, 300, seed=11), seed=11)


@pytest.fixture(scope="session")
def games_path(tmp_path_factory, store):
    path = tmp_path_factory.mktemp("games") / "games.npz"
    store.save(path)
    return path


def fast_config(**changes) -> TrainConfig:
    """A run of a few dozen tiny steps with every callback switched on."""
    base = dict(
        steps=24, batch_size=16, lr=3e-3, warmup_steps=3, log_every=4, quick_val_every=6, quick_val_batches=2,
        full_val_every=12, val_batch_size=32, checkpoint_every=5, keep_checkpoints=2, tensorboard=False,
        progress=False, prefetch=False,
        positions=PositionConfig(positions_per_game=4, min_ply=2, concept_kwargs={"sector": [3, 3]}),
        val_positions=PositionConfig(positions_per_game=2, min_ply=2, concept_kwargs={"sector": [3, 3]}),
    )
    base.update(changes)
    return TrainConfig(**base)


@pytest.fixture
def make_trainer(store):
    """Factory: a Trainer for `config` on the shared store (model from the config's preset)."""
    from modinterp.train.run import make_model, make_positions
    from modinterp.train.trainer import Trainer

    def build(config: TrainConfig, run_dir=None, **kwargs) -> Trainer:
        train, val = make_positions(config, store)
        return Trainer(config, make_model(config, store), train, val, run_dir, **kwargs)

    return build


@pytest.fixture
def config_factory():
    return fast_config
