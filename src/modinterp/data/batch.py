"""`PositionBatch`: the tensors one training or validation step consumes (tokens plus every target)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass(frozen=True)
class PositionBatch:
    """A batch of board positions with their targets; all fields share the leading batch dimension.

    tokens   (B, T) long: cell states (0 empty, 1 occupied), optional side-to-move token, CLS (2) last.
    value    (B,) float: 1.0 if vertical won the game the position comes from, else 0.0.
    policy   (B,) long: the move code played next (already transformed with the board's symmetry).
    legal    (B, n_moves) bool: legal moves of the side to move.
    concepts (B, n_concepts) float: concept regression targets (e.g. sector move difference / 10).
    game_ids (B,) long: game index in the store the positions were drawn from (for grouped probe splits).
    plies    (B,) long: number of moves played before the position.
    """

    tokens: torch.Tensor
    value: torch.Tensor
    policy: torch.Tensor
    legal: torch.Tensor
    concepts: torch.Tensor
    game_ids: torch.Tensor
    plies: torch.Tensor

    def __post_init__(self) -> None:
        n = self.tokens.shape[0]
        for f in fields(self):
            t = getattr(self, f.name)
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"PositionBatch.{f.name} must be a torch.Tensor, got {type(t).__name__}")
            if t.shape[0] != n:
                raise ValueError(f"PositionBatch.{f.name} has batch size {t.shape[0]}, expected {n} (the size of tokens)")

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "PositionBatch":
        """The same batch with every tensor on `device`."""
        return PositionBatch(**{f.name: getattr(self, f.name).to(device, non_blocking=non_blocking) for f in fields(self)})

    def pin_memory(self) -> "PositionBatch":
        """The same batch in page-locked memory, so a later `.to(cuda, non_blocking=True)` overlaps compute."""
        return PositionBatch(**{f.name: getattr(self, f.name).pin_memory() for f in fields(self)})

    def select(self, index: slice | torch.Tensor) -> "PositionBatch":
        """Rows `index` of every field (a slice or an index tensor), e.g. one DDP rank's share of a global batch."""
        return PositionBatch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(batches: list["PositionBatch"]) -> "PositionBatch":
        """Concatenate batches along the batch dimension."""
        if not batches:
            raise ValueError("PositionBatch.concat needs at least one batch")
        return PositionBatch(**{f.name: torch.cat([getattr(b, f.name) for b in batches]) for f in fields(PositionBatch)})
