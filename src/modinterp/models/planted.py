"""A task with known modules for MLPs: k independent subtasks on disjoint input blocks, outputs concatenated.

Subtask i maps input block i (`block_in` standard normal inputs) to output block i (`block_out` values)
through a fixed random teacher tanh(x A_i) B_i; nothing couples the blocks, so a net that solves the task
needs no weight between block i's units and block j's. Hidden units have no label by construction; their
functional label is the subtask whose loss rises most when the unit is ablated (`hidden_unit_labels`).
Trained by `modinterp.studies.carve.sweep` (the modularity-loss lambda sweep).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from modinterp.models.mlp import MLP

__all__ = ["PlantedTask", "hidden_unit_labels", "test_set"]


@dataclass
class PlantedTask:
    """k teacher subnetworks tanh(x A_i) B_i, one per disjoint input block, drawn from `seed`."""

    k: int = 4
    block_in: int = 8
    block_out: int = 2
    teacher_hidden: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        g = torch.Generator().manual_seed(self.seed)
        self.A = torch.randn(self.k, self.block_in, self.teacher_hidden, generator=g) * self.block_in ** -0.5 * 2
        self.B = torch.randn(self.k, self.teacher_hidden, self.block_out, generator=g) * self.teacher_hidden ** -0.5

    @property
    def n_in(self) -> int:
        return self.k * self.block_in

    @property
    def n_out(self) -> int:
        return self.k * self.block_out

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(x (n, k*block_in), y (n, k*block_out)) drawn from `generator`."""
        x = torch.randn(n, self.k, self.block_in, generator=generator)
        y = torch.einsum("nkh,kho->nko", torch.tanh(torch.einsum("nki,kih->nkh", x, self.A)), self.B)
        return x.reshape(n, -1), y.reshape(n, -1)

    def input_labels(self) -> np.ndarray:
        return np.repeat(np.arange(self.k), self.block_in)

    def output_labels(self) -> np.ndarray:
        return np.repeat(np.arange(self.k), self.block_out)

    def subtask_losses(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(k,) mean squared error of each subtask."""
        err = (pred - y).pow(2).reshape(len(y), self.k, self.block_out)
        return err.mean(dim=(0, 2))


@torch.no_grad()
def hidden_unit_labels(model: MLP, task: PlantedTask, x: torch.Tensor, y: torch.Tensor,
                       min_importance: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """(label per hidden unit, -1 if unimportant; importance (n_hidden, k)) by zero-ablating each unit.

    Importance of unit u for subtask i = rise of subtask i's MSE when u's activation is set to 0. A unit
    whose largest rise is below `min_importance` x the largest rise of any unit gets label -1.
    """
    hidden_sizes = model.sizes[1:-1]
    base = task.subtask_losses(model(x), y)
    rises = []
    for layer, size in enumerate(hidden_sizes):
        for u in range(size):
            masks = [torch.ones(s) for s in hidden_sizes]
            masks[layer][u] = 0.0
            rises.append(task.subtask_losses(model(x, unit_mask=masks), y) - base)
    importance = torch.stack(rises).numpy()
    labels = importance.argmax(1)
    top = importance.max(1)
    labels[top < min_importance * max(float(top.max()), 1e-30)] = -1
    return labels.astype(np.int64), importance


def test_set(task: PlantedTask, n: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed held-out set (same for every run of a task)."""
    return task.sample(n, torch.Generator().manual_seed(987_654_321))
