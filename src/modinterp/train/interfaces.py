"""What the trainer consumes: step-indexed training batches, validation batches, extra loss terms."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn
from torch.utils.data import Dataset

from modinterp.data.batch import PositionBatch


class TrainBatches(Protocol):
    steps_per_epoch: int

    def batch(self, step: int, rank: int = 0, world_size: int = 1) -> PositionBatch: ...


class ValidationBatches(Protocol):
    n_batches: int

    def batch(self, index: int) -> PositionBatch: ...

    def quick_indices(self, step: int, n_batches: int) -> list[int]: ...


class StepBatches(Dataset):
    """Map-style view of a batch stream: item i is the batch of step `start + i` for one DDP rank."""

    def __init__(self, source: TrainBatches, start: int, stop: int, rank: int = 0, world_size: int = 1):
        self.source, self.start, self.stop, self.rank, self.world_size = source, start, stop, rank, world_size

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __getitem__(self, i: int) -> PositionBatch:
        return self.source.batch(self.start + i, self.rank, self.world_size)


class LossTerm(Protocol):
    """An extra term of the training loss computed from the model itself, e.g. `modularity.ModularityLoss`.

    `term(model, step)` returns a scalar tensor added to the task loss; `term.after_step(model)` runs after each
    optimizer step; `term.last_log` holds the values logged with the train metrics. Optional `state_dict()` /
    `load_state_dict(state, model)` travel in checkpoints so that a resumed run continues exactly."""

    name: str
    last_log: dict[str, float]

    def __call__(self, model: nn.Module, step: int) -> torch.Tensor: ...

    def after_step(self, model: nn.Module) -> None: ...
