"""Grouped K-fold alpha selection equals GridSearchCV(Ridge, GroupKFold) and never splits a game."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modinterp.probes.cv import (DEFAULT_ALPHAS, fit_probe_grouped_cv, fit_probes_grouped_cv, fold_r2_explicit,
                                fold_r2_per_target, select_alpha_grouped_cv)
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


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(2, 30), st.booleans())
def test_gram_form_scores_equal_the_explicit_predictions(seed, d, standardize):
    """The held-out R^2 of every alpha and target, from the Gram form, equals the slow reference that forms each
    alpha's predictions: in the primal form (d < n) and the dual form (d > n, explicit path), with a constant column."""
    rng = np.random.default_rng(seed)
    X = torch.as_tensor(rng.normal(size=(24, d)) * rng.uniform(0.1, 5.0, size=d))
    Y = torch.as_tensor(np.c_[rng.normal(size=(24, 3)), np.ones(24)] if seed % 3 == 0 else rng.normal(size=(24, 3)))
    train, test = np.arange(16), np.arange(16, 24)
    alphas = torch.as_tensor(DEFAULT_ALPHAS)
    fast = fold_r2_per_target(X, Y, train, test, alphas, standardize)
    slow = fold_r2_explicit(X, Y, train, test, alphas, standardize)
    assert torch.allclose(fast, slow, rtol=0, atol=1e-9)


def test_blocks_fitted_together_equal_each_block_fitted_alone():
    """Several target blocks share one eigendecomposition per fold, yet each gets the alpha, CV scores and
    coefficients it gets alone (ridge solves each column independently)."""
    X, Y, games = grouped_problem(3, k=5)
    Y[:, 3:] = X[:, :2] ** 2 + 5 * np.random.default_rng(1).normal(size=(len(X), 2))  # a noisier block
    together = fit_probes_grouped_cv(X, {"a": Y[:, :3], "b": Y[:, 3:], "c": Y[:, 0]}, games)
    for name, block in (("a", Y[:, :3]), ("b", Y[:, 3:]), ("c", Y[:, 0])):
        alone, selection = fit_probe_grouped_cv(X, block, games)
        probe, joint = together[name]
        assert joint.alpha == selection.alpha and np.allclose(joint.cv_r2, selection.cv_r2, rtol=0, atol=1e-12)
        assert np.allclose(probe.coef_, alone.coef_, rtol=1e-10, atol=1e-12) and np.shape(probe.coef_) == np.shape(alone.coef_)
    assert together["a"][1].alpha != together["b"][1].alpha  # the blocks did choose for themselves
