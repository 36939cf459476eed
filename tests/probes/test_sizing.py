"""Bootstrap standard error of probe-test R^2 over whole test games."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import r2_score

from modinterp.probes.sizing import bootstrap_r2_by_game, r2_standard_error


def clustered_predictions(seed: int, n_games: int, per_game: int = 10, k: int = 3):
    """Targets with a shared per-game offset (positions of a game are correlated) and noisy predictions."""
    rng = np.random.default_rng(seed)
    games = np.repeat(np.arange(n_games), per_game)
    Y = rng.normal(size=(n_games, k))[games] + 0.5 * rng.normal(size=(len(games), k))
    P = Y + rng.normal(size=Y.shape)
    return Y, P, games


def test_vectorised_bootstrap_equals_a_loop_over_resampled_games():
    Y, P, games = clustered_predictions(0, 12, per_game=4)
    fast = bootstrap_r2_by_game(Y, P, games, n_boot=30, seed=5)
    draws = np.random.default_rng(5).multinomial(12, np.full(12, 1 / 12), size=30)
    slow = []
    for counts in draws:
        rows = np.concatenate([np.flatnonzero(games == g).repeat(1) for g in range(12) for _ in range(counts[g])])
        slow.append(r2_score(Y[rows], P[rows]))
    assert np.allclose(fast, slow, atol=1e-10)


def test_point_estimate_is_the_uniform_r2():
    Y, P, games = clustered_predictions(1, 40)
    assert r2_standard_error(Y, P, games, n_boot=50).r2 == pytest.approx(r2_score(Y, P), abs=1e-10)


def test_standard_error_halves_with_four_times_the_games():
    small = r2_standard_error(*clustered_predictions(2, 100), n_boot=400).standard_error
    large = r2_standard_error(*clustered_predictions(2, 400), n_boot=400).standard_error
    assert 0.35 < large / small < 0.65


def test_sizing_reports_whether_the_target_error_is_met():
    sizing = r2_standard_error(*clustered_predictions(3, 600), n_boot=200)
    assert sizing.is_sufficient(target=1.0) and not sizing.is_sufficient(target=1e-6)
    assert "600 games" in sizing.describe()


def test_one_test_game_cannot_be_bootstrapped():
    with pytest.raises(ValueError, match="at least 2 test games"):
        bootstrap_r2_by_game(np.zeros((5, 1)), np.zeros((5, 1)), np.zeros(5))
