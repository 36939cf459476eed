"""The fast trainer config shared by the trainer tests (a module of its own so spawned DDP workers can import it)."""

from __future__ import annotations

from modinterp.data.positions import PositionConfig
from modinterp.train.config import TrainConfig


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
