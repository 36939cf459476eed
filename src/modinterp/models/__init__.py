"""Models: the Domineering board transformer, its config, presets and token format; a plain MLP."""

from __future__ import annotations

from typing import Any

from modinterp.models.config import (
    CLS,
    EMPTY,
    OCCUPIED,
    PRESETS,
    TransformerConfig,
    board_tokens,
    move_cells_table,
    preset_config,
)
from modinterp.models.mlp import MLP
from modinterp.models.transformer import BoardTransformer, ModelOutput, masked_policy_logits


def build_model(preset: str, rows: int, cols: int, seed: int = 0, **overrides: Any) -> BoardTransformer:
    """A freshly initialised `BoardTransformer` from a named preset (see `PRESETS`), drawn from `seed`.

    Example: `build_model("small", 16, 16)` is the original's small model (563,730 parameters).
    """
    return BoardTransformer(preset_config(preset, rows, cols, **overrides), seed=seed)


__all__ = [
    "BoardTransformer", "ModelOutput", "TransformerConfig", "build_model", "masked_policy_logits",
    "MLP", "board_tokens", "move_cells_table", "preset_config", "PRESETS", "EMPTY", "OCCUPIED", "CLS",
]
