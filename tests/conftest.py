"""Shared test helpers: a seeded random playout through the batched engine (test-only, not a player)."""

from __future__ import annotations

import numpy as np
import pytest

from modinterp.games import domineering as dom


def random_playout(spec: dom.BoardSpec, n_games: int, seed: int, first: int = dom.VERTICAL):
    """Play n_games uniformly random games with the batched engine; returns (moves (G, Lmax) int16, lengths, winners)."""
    rng = np.random.default_rng(seed)
    boards = dom.initial_boards(spec, n_games)
    to_move = dom.initial_to_move(n_games, first)
    max_len = spec.n_cells // 2
    moves = np.full((n_games, max_len), -1, dtype=np.int16)
    lengths = np.zeros(n_games, dtype=np.int16)
    for ply in range(max_len):
        legal = dom.legal_mask(spec, boards, to_move)
        alive = legal.any(axis=1)
        if not alive.any():
            break
        scores = np.where(legal, rng.random(legal.shape), -1.0)
        choice = scores.argmax(axis=1)
        new_boards, new_to_move = dom.play(spec, boards[alive], to_move[alive], choice[alive])
        boards[alive], to_move[alive] = new_boards, new_to_move
        moves[alive, ply] = choice[alive]
        lengths[alive] += 1
    winners = dom.player_to_move(lengths - 1, first).astype(np.int8)  # the side that moved last wins
    return moves, lengths, winners


@pytest.fixture(name="random_playout", scope="session")
def random_playout_fixture():
    """The `random_playout(spec, n_games, seed, first)` helper above."""
    return random_playout


@pytest.fixture(scope="session")
def games_8x8():
    """200 random 8x8 games (moves, lengths, winners), seed 0."""
    return random_playout(dom.BoardSpec(8, 8), 200, seed=0)
