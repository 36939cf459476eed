"""Probe fixtures: real Domineering positions from seeded random games, with sector targets, and a tiny model."""

from __future__ import annotations

import numpy as np
import pytest

from modinterp.games import concepts
from modinterp.games import domineering as dom
from modinterp.models import BoardTransformer, TransformerConfig, board_tokens

SPEC = dom.BoardSpec(6, 6)
SECTOR = (3, 3)


def tiny_config(n_layers: int = 2, d_model: int = 16) -> TransformerConfig:
    return TransformerConfig(rows=SPEC.rows, cols=SPEC.cols, d_model=d_model, n_layers=n_layers, n_heads=2, d_head=8,
                             d_mlp=32, n_concepts=4)


@pytest.fixture(scope="session")
def positions(random_playout):
    """Every position (ply 0..length) of 80 random 6x6 games: (tokens, boards, sector targets, game ids)."""
    moves, lengths, _ = random_playout(SPEC, 80, seed=11)
    game_index = np.repeat(np.arange(len(lengths)), lengths.astype(np.int64) + 1)
    ply = np.concatenate([np.arange(n + 1) for n in lengths])
    boards = dom.replay_boards(SPEC, moves, game_index, ply)
    targets = concepts.sector_move_difference(SPEC, boards, sector=SECTOR).astype(np.float64)
    tokens = board_tokens(boards, tiny_config())
    return tokens, boards, targets, game_index


@pytest.fixture
def tiny_model():
    return BoardTransformer(tiny_config(), seed=0)


@pytest.fixture
def spec():
    return SPEC
