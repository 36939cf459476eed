"""Shared fixtures for trainer tests: a small 8x8 game store on disk and a fast config."""

from __future__ import annotations

import pytest

from modinterp.data.store import GameStore
from modinterp.games.domineering import BoardSpec
from modinterp.games.players import random_games
from modinterp.train.config import TrainConfig
from .train_fixtures import fast_config


@pytest.fixture(scope="session")
def store() -> GameStore:
    spec = BoardSpec(6, 6)
    return GameStore.from_records(spec, random_games(spec, 300, seed=11), seed=11)


@pytest.fixture(scope="session")
def games_path(tmp_path_factory, store):
    path = tmp_path_factory.mktemp("games") / "games.npz"
    store.save(path)
    return path


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
