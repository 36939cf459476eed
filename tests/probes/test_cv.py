"""Grouped K-fold alpha selection equals GridSearchCV(Ridge, GroupKFold) and never splits a game."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modinterp.probes.cv import DEFAULT_ALPHAS, fit_probe_grouped_cv, select_alpha_grouped_cv
from modinterp.probes.splits import group_kfold


def grouped_problem(seed: int, n: int = 240, d: int = 8, k: int = 3, n_games: int = 30, noise: float = 3.0):
    rng = np.random.default_rng(seed)
    games = rng.integers(0, n_games, size=n)
    X = rng.normal(size=(n, d)) * rng.uniform(0.2, 4.0, size=d)
    Y = X @ rng.normal(size=(d, k)) + noise * rng.normal(size=(n, k))
    return X, Y, games


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(5, 40), st.integers(2, 6))
def test_group_kfold_equals_sklearn_group_kfold(seed, n_games, n_splits):
    games = np.random.default_rng(seed).integers(0, n_games, size=150)
    if len(np.unique(games)) < n_splits:
        return
    ours = group_kfold(games, n_splits)
    ref = list(GroupKFold(n_splits=n_splits).split(np.zeros((150, 1)), groups=games))
    for (train, test), (ref_train, ref_test) in zip(ours, ref, strict=True):
        assert np.array_equal(train, ref_train) and np.array_equal(test, ref_test)


def test_group_kfold_never_puts_a_game_on_both_sides():
    games = np.random.default_rng(0).integers(0, 50, size=500)
    for train, test in group_kfold(games, 5):
        assert not set(games[train]) & set(games[test])


@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_selected_alpha_and_cv_scores_equal_grid_search(seed, standardize):
    X, Y, games = grouped_problem(seed)
    selection = select_alpha_grouped_cv(X, Y, games, DEFAULT_ALPHAS, n_splits=5, standardize=standardize)
    estimator = make_pipeline(StandardScaler(), Ridge()) if standardize else make_pipeline(Ridge())
    search = GridSearchCV(estimator, {"ridge__alpha": list(DEFAULT_ALPHAS)}, cv=GroupKFold(5)).fit(X, Y, groups=games)
    assert selection.alpha == search.best_params_["ridge__alpha"]
    assert np.abs(np.array(selection.cv_r2) - search.cv_results_["mean_test_score"]).max() < 1e-9


def test_noisier_targets_choose_larger_alpha():
    X, Y_clean, games = grouped_problem(4, n=120, d=20, noise=0.1)
    _, Y_noisy, _ = grouped_problem(4, n=120, d=20, noise=30.0)
    assert select_alpha_grouped_cv(X, Y_noisy, games).alpha > select_alpha_grouped_cv(X, Y_clean, games).alpha


def test_refit_uses_selected_alpha_on_all_rows():
    X, Y, games = grouped_problem(5)
    probe, selection = fit_probe_grouped_cv(X, Y, games)
    ref = Ridge(alpha=selection.alpha).fit(X, Y)
    assert np.abs(probe.coef_ - ref.coef_).max() < 1e-8


def test_best_alpha_at_grid_edge_is_flagged():
    X, Y, games = grouped_problem(6, noise=0.01)
    assert select_alpha_grouped_cv(X, Y, games, alphas=[10.0, 100.0, 1000.0]).at_grid_edge


def test_more_folds_than_games_is_rejected():
    X, Y, _ = grouped_problem(0, n=20)
    with pytest.raises(ValueError, match="n_splits"):
        select_alpha_grouped_cv(X, Y, np.arange(20) % 3, n_splits=5)
