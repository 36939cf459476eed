"""Tests for self-play: legal, reloadable, reproducible games; exploration; the gate's exact binomial test."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from modinterp.data.positions import PositionConfig
from modinterp.data.store import GameStore
from modinterp.games import domineering as dom
from modinterp.play.arena import sample_moves
from modinterp.play.selfplay import SelfPlaySettings, model_digest, selfplay
from modinterp.studies.selfplay import ImproveSettings, gate_p_value, improve
from modinterp.models import build_model
from modinterp.train.config import TrainConfig

SPEC = dom.BoardSpec(5, 5)


@pytest.fixture(scope="module")
def model():
    return build_model("smoke", SPEC.rows, SPEC.cols, seed=1, n_concepts=1).eval()


def test_selfplay_games_are_legal_and_reload_with_their_settings(model, tmp_path):
    settings = SelfPlaySettings(opening_plies=2, epsilon=0.1, temperature=0.05)
    run = selfplay(model, SPEC, 40, seed=7, settings=settings)
    path = run.store.save(tmp_path / "sp.npz")
    loaded = GameStore.load(path)  # replays and checks every move, length and winner
    np.testing.assert_array_equal(loaded.moves, run.store.moves)
    source = loaded.generator["sources"][0]
    assert source["model_sha256"] == model_digest(model) and source["seed"] == 7
    assert source["epsilon"] == 0.1 and source["temperature"] == 0.05 and source["opening_plies"] == 2
    assert run.positions_evaluated > 0


def test_same_seed_same_games(model):
    settings = SelfPlaySettings(opening_plies=2, epsilon=0.2, temperature=0.1)
    first = selfplay(model, SPEC, 30, seed=3, settings=settings).store
    again = selfplay(model, SPEC, 30, seed=3, settings=settings).store
    other = selfplay(model, SPEC, 30, seed=4, settings=settings).store
    np.testing.assert_array_equal(first.moves, again.moves)
    assert not np.array_equal(first.moves, other.moves)


def test_a_game_does_not_depend_on_its_batch(model):
    settings = SelfPlaySettings(opening_plies=2, epsilon=0.2, temperature=0.1)
    many = selfplay(model, SPEC, 30, seed=3, settings=settings).store
    few = selfplay(model, SPEC, 10, seed=3, settings=settings).store
    np.testing.assert_array_equal(few.moves, many.moves[:10, : few.moves.shape[1]])


def test_neighbouring_selfplay_openings_are_no_more_alike_than_unrelated(model):
    n, plies = 400, 4
    store = selfplay(model, SPEC, n, seed=0, settings=SelfPlaySettings(opening_plies=plies)).store
    openings = store.moves[:, :plies]
    neighbours = (openings[:-1] == openings[1:]).mean()
    unrelated = (openings == openings[np.random.default_rng(1).permutation(n)]).mean()
    assert neighbours <= unrelated + 4 * math.sqrt(unrelated * (1 - unrelated) / openings[1:].size)


def test_softmax_exploration_draws_children_with_softmax_frequencies():
    probabilities = np.array([0.9, 0.8, 0.5])
    scores = np.full((20000, 6), -np.inf)
    scores[:, [1, 3, 4]] = np.log(probabilities / (1 - probabilities))  # logits of the win probabilities
    rngs = [np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(0).spawn(len(scores))]
    moves = sample_moves(scores, temperature=0.1, epsilon=0.0, rngs=rngs)
    expected = np.exp(probabilities / 0.1) / np.exp(probabilities / 0.1).sum()
    observed = np.array([(moves == m).mean() for m in (1, 3, 4)])
    np.testing.assert_allclose(observed, expected, atol=0.015)
    assert sample_moves(scores[:3], 0.0, 0.0, rngs[:3]).tolist() == [1, 1, 1]


def test_epsilon_one_plays_uniformly_random_legal_moves():
    scores = np.full((6000, 4), -np.inf)
    scores[:, [0, 2, 3]] = [5.0, 0.0, -5.0]
    rngs = [np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(1).spawn(len(scores))]
    moves = sample_moves(scores, temperature=0.0, epsilon=1.0, rngs=rngs)
    np.testing.assert_allclose([(moves == m).mean() for m in (0, 2, 3)], [1 / 3] * 3, atol=0.025)


def test_gate_p_value_matches_hand_computed_case():
    # P(X >= 8 | n=10, p=1/2) = (C(10,8) + C(10,9) + C(10,10)) / 2^10 = 56 / 1024
    assert gate_p_value(8, 10) == pytest.approx(56 / 1024, rel=1e-12)
    assert gate_p_value(100, 200) == pytest.approx(0.5 + 0.5 * math.comb(200, 100) / 2**200, rel=1e-12)


def tiny_train_config() -> TrainConfig:
    sector = {"sector": [5, 5]}
    return TrainConfig(steps=6, batch_size=16, lr=3e-3, log_every=3, val_batch_size=32, tensorboard=False,
                       progress=False, prefetch=False, model={"preset": "smoke"},
                       positions=PositionConfig(positions_per_game=4, min_ply=2, concept_kwargs=sector),
                       val_positions=PositionConfig(positions_per_game=2, min_ply=2, concept_kwargs=sector))


def test_improve_gates_on_fresh_openings_and_keeps_gate_games_out_of_training(model, tmp_path):
    plan = ImproveSettings(rounds=2, games_per_round=12, gate_games=6, gate_opening_plies=2, seed=5)
    rounds = improve(model, None, tiny_train_config(), plan, tmp_path / "a", SelfPlaySettings(opening_plies=2))
    assert [r["training_games"] for r in rounds] == [12, 24]  # self-play games only
    for r in rounds:
        assert r["gate"]["p_value"] == pytest.approx(gate_p_value(r["gate"]["wins"], 6))
        assert r["gate"]["accepted"] == (r["gate"]["p_value"] < 0.05)
    gates = [GameStore.load(tmp_path / "a" / f"round-{r}" / "gate.npz") for r in range(2)]
    assert not np.array_equal(gates[0].moves[:, :2], gates[1].moves[:, :2])  # fresh openings every round
    assert GameStore.load(tmp_path / "a" / "selfplay.npz").n_games == 24
    logged = [json.loads(line) for line in (tmp_path / "a" / "rounds.jsonl").read_text().splitlines()]
    assert [r["gate"]["p_value"] for r in logged] == [r["gate"]["p_value"] for r in rounds]
    with_gates = ImproveSettings(**{**plan.model_dump(), "rounds": 2, "gate_games_in_training": True})
    rounds = improve(model, None, tiny_train_config(), with_gates, tmp_path / "b", SelfPlaySettings(opening_plies=2))
    assert [r["training_games"] for r in rounds] == [12, 30]
