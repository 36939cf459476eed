"""Tests for the play-strength arena: statistics by hand, exact agents, colour symmetry, independent openings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from modinterp.data.store import GameStore
from modinterp.games import domineering as dom
from modinterp.play.arena import (
    AlphaBetaAgent,
    PolicyAgent,
    RandomAgent,
    ValueAgent,
    builtin_opponent,
    elo_difference,
    game_streams,
    play_games,
    play_match,
    wilson_interval,
)
from modinterp.games.players import alphabeta
from modinterp.models import ModelOutput, preset_config


class AlphaBetaPolicyNet(torch.nn.Module):
    """A fake network whose policy logits are one-hot on alpha-beta's move (vertical always moves first)."""

    def __init__(self, spec: dom.BoardSpec, depth: int):
        super().__init__()
        self.spec, self.depth = spec, depth
        self.config = preset_config("smoke", spec.rows, spec.cols, side_to_move=False)
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, tokens: torch.Tensor) -> ModelOutput:
        boards = tokens[:, : self.spec.n_cells].numpy().astype(np.uint8)
        to_move = (boards.sum(1) // 2) % 2
        moves, _ = alphabeta(self.spec, boards, to_move, self.depth)
        policy = torch.zeros(len(boards), self.spec.n_moves)
        policy[torch.arange(len(boards)), torch.as_tensor(moves)] = 10.0
        return ModelOutput(torch.zeros(len(boards)), policy, torch.zeros(len(boards), 1))


class CellWeightValueNet(torch.nn.Module):
    """A fake value network: vertical's logit is a fixed weighted sum of the occupied cells."""

    def __init__(self, spec: dom.BoardSpec, seed: int = 0):
        super().__init__()
        self.config = preset_config("smoke", spec.rows, spec.cols, side_to_move=True)
        self.weights = torch.nn.Parameter(torch.randn(spec.n_cells, generator=torch.Generator().manual_seed(seed),
                                                      dtype=torch.float64))

    def forward(self, tokens: torch.Tensor) -> ModelOutput:
        value = tokens[:, : self.weights.numel()].double() @ self.weights
        return ModelOutput(value, torch.zeros(len(tokens), 1), torch.zeros(len(tokens), 1))


def test_wilson_interval_matches_hand_computed_case():
    # 8 wins in 10: centre (0.8 + z^2/20) / (1 + z^2/10) = 0.716749, half-width 0.226577.
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.490162, abs=1e-6)
    assert high == pytest.approx(0.943318, abs=1e-6)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0


def test_elo_difference_of_known_scores():
    assert elo_difference(0.5) == 0.0
    assert elo_difference(0.75) == pytest.approx(400 * math.log10(3))
    assert elo_difference(1.0) is None and elo_difference(0.0) is None


def test_swapping_colours_swaps_results_game_for_game():
    spec = dom.BoardSpec(5, 6)
    a, b = RandomAgent(), AlphaBetaAgent(1)
    ab = play_match(spec, a, b, n_games=40, seed=3, opening_plies=2)
    ba = play_match(spec, b, a, n_games=40, seed=3, opening_plies=2)
    # game 2i of (a, b) has a as vertical; so does game 2i+1 of (b, a): the same game, move for move.
    swap = np.arange(40) ^ 1
    np.testing.assert_array_equal(ab.records.moves, ba.records.moves[swap])
    np.testing.assert_array_equal(ab.records.winners, ba.records.winners[swap])
    assert ab.wins + ba.wins == 40
    # a's wins as vertical are the games b's first agent lost as horizontal
    assert ab.wins_as_vertical == 20 - (ba.wins - ba.wins_as_vertical)


def test_same_seed_same_games_other_seed_other_games():
    spec = dom.BoardSpec(6, 6)
    first = play_match(spec, RandomAgent(), RandomAgent(), n_games=20, seed=5).records
    again = play_match(spec, RandomAgent(), RandomAgent(), n_games=20, seed=5).records
    other = play_match(spec, RandomAgent(), RandomAgent(), n_games=20, seed=6).records
    np.testing.assert_array_equal(first.moves, again.moves)
    assert not np.array_equal(first.moves, other.moves)


def test_match_games_are_legal_and_each_opening_is_played_with_both_colours():
    spec = dom.BoardSpec(6, 7)
    result = play_match(spec, RandomAgent(), AlphaBetaAgent(2), n_games=30, seed=1, opening_plies=3)
    store = GameStore.from_records(spec, result.records).validate()  # replays every move and checks the winner
    np.testing.assert_array_equal(store.moves[0::2, :3], store.moves[1::2, :3])
    assert result.games_as_vertical == 15


def test_policy_player_that_always_picks_alphabeta_move_beats_random():
    spec = dom.BoardSpec(6, 6)
    net = PolicyAgent(AlphaBetaPolicyNet(spec, depth=2), name="ab-net")
    result = play_match(spec, net, RandomAgent(), n_games=100, seed=0)
    reference = play_match(spec, AlphaBetaAgent(2), RandomAgent(), n_games=100, seed=0)
    np.testing.assert_array_equal(result.records.moves, reference.records.moves)  # followed exactly
    assert result.win_ci[0] > 0.8


def expected_value_move(spec: dom.BoardSpec, weights: np.ndarray, board: np.ndarray, mover: int) -> int:
    """Slow reference: the legal move whose two cells' weight sum is best for the mover (first on ties)."""
    best, best_move = -np.inf, -1
    for move in np.flatnonzero(dom.legal_mask(spec, board[None], mover)[0]):
        gain = weights[spec.move_cells[move]].sum() * (1 if mover == dom.VERTICAL else -1)
        if gain > best:
            best, best_move = gain, move
    return int(best_move)


def test_value_player_follows_the_child_the_model_prefers_exactly():
    spec = dom.BoardSpec(5, 5)
    net = CellWeightValueNet(spec)
    weights = net.weights.detach().numpy()
    result = play_match(spec, ValueAgent(net, known_wins=False), RandomAgent(), n_games=20, seed=2, opening_plies=2)
    checked = 0
    for g in range(20):
        value_side = dom.VERTICAL if g % 2 == 0 else dom.HORIZONTAL
        for ply in range(2, int(result.records.lengths[g])):
            mover = int(dom.player_to_move(ply))
            if mover != value_side:
                continue
            board = dom.replay_boards(spec, result.records.moves, [g], [ply])[0]
            assert result.records.moves[g, ply] == expected_value_move(spec, weights, board, mover)
            checked += 1
    assert checked > 50


def test_value_player_takes_a_winning_move_when_the_rules_know_it():
    spec = dom.BoardSpec(2, 3)
    board = np.zeros((1, 6), dtype=np.uint8)
    # Vertical to move on an empty 2x3 board: the middle column leaves horizontal no move.
    net = CellWeightValueNet(spec)
    with torch.no_grad():
        net.weights.copy_(torch.tensor([10.0, -10.0, 10.0, 10.0, -10.0, 10.0], dtype=torch.float64))
    move = ValueAgent(net).choose(spec, board, np.array([dom.VERTICAL]), [np.random.default_rng(0)])[0]
    assert move == 1  # vertical move with top cell (0, 1), though the network prefers the outer columns
    greedy = ValueAgent(net, known_wins=False).choose(spec, board, np.array([dom.VERTICAL]), [np.random.default_rng(0)])[0]
    assert greedy in (0, 2)


def test_neighbouring_openings_are_no_more_alike_than_unrelated_ones():
    spec, n, plies = dom.BoardSpec(8, 8), 600, 6
    records = play_games(spec, (RandomAgent(),), np.zeros(n, dtype=np.int64), game_streams(11, n), plies)
    openings = records.moves[:, :plies]
    neighbours = (openings[:-1] == openings[1:]).mean()
    shuffled = openings[np.random.default_rng(0).permutation(n)]
    unrelated = (openings == shuffled).mean()
    standard_error = math.sqrt(unrelated * (1 - unrelated) / openings[1:].size)
    assert neighbours <= unrelated + 4 * standard_error, (neighbours, unrelated)


def test_builtin_opponent_names():
    assert builtin_opponent("alphabeta:3").depth == 3
    with pytest.raises(ValueError, match="alphabeta:D"):
        builtin_opponent("minimax")
