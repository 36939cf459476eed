"""RidgeProbe equals scikit-learn's Ridge (and StandardScaler + Ridge) and scores like it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modinterp.probes.ridge import Centering, RidgeProbe, r2_per_target, r2_pooled, ridge_spectrum

TOL = 1e-6


def regression_problem(seed: int, n: int, d: int, k: int):
    """Features with unequal scales and offsets; targets linear in them plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 5.0, size=d) + rng.normal(size=d)
    Y = X @ rng.normal(size=(d, k)) + rng.normal(size=(n, k)) + rng.normal(size=k)
    return X, Y


shapes = st.tuples(st.integers(3, 60), st.integers(1, 24), st.integers(1, 5), st.integers(0, 2**31 - 1))
alphas = st.sampled_from([1e-3, 1e-2, 0.1, 1.0, 10.0, 300.0, 1e4])


@settings(max_examples=60, deadline=None)
@given(shapes, alphas)
def test_coefficients_and_intercept_equal_sklearn_ridge(shape, alpha):
    n, d, k, seed = shape
    X, Y = regression_problem(seed, n, d, k)
    ours = RidgeProbe(alpha=alpha).fit(X, Y)
    ref = Ridge(alpha=alpha).fit(X, Y)
    scale = max(1.0, np.abs(ref.coef_).max(), np.abs(ref.intercept_).max())
    # scikit-learn flattens single-column targets; RidgeProbe keeps the shape of Y, so compare reshaped.
    assert np.abs(ours.coef_.reshape(k, d) - ref.coef_.reshape(k, d)).max() <= TOL * scale
    assert np.abs(ours.intercept_ - ref.intercept_).max() <= TOL * scale
    assert np.abs(ours.predict(X) - ref.predict(X).reshape(n, k)).max() <= TOL * max(1.0, np.abs(Y).max())


@settings(max_examples=40, deadline=None)
@given(shapes, alphas)
def test_standardized_probe_equals_standard_scaler_then_ridge(shape, alpha):
    n, d, k, seed = shape
    X, Y = regression_problem(seed, n, d, k)
    ours = RidgeProbe(alpha=alpha, standardize=True).fit(X, Y)
    ref = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(X, Y)
    assert np.abs(ours.predict(X) - ref.predict(X).reshape(n, k)).max() <= TOL * max(1.0, np.abs(Y).max())


@settings(max_examples=40, deadline=None)
@given(shapes, alphas)
def test_score_equals_sklearn_ridge_score_on_new_data(shape, alpha):
    n, d, k, seed = shape
    X, Y = regression_problem(seed, n, d, k)
    X_new, Y_new = regression_problem(seed + 1, n, d, k)
    ours = RidgeProbe(alpha=alpha).fit(X, Y)
    ref = Ridge(alpha=alpha).fit(X, Y)
    assert ours.score(X_new, Y_new) == pytest.approx(ref.score(X_new, Y_new), abs=TOL)


def test_pooled_score_equals_variance_weighted_r2():
    X, Y = regression_problem(3, 80, 6, 4)
    Y[:, 0] *= 10.0  # unequal target variances make pooled and uniform differ
    probe = RidgeProbe(alpha=0.5).fit(X[:50], Y[:50])
    expected = r2_score(Y[50:], probe.predict(X[50:]), multioutput="variance_weighted")
    assert probe.score_pooled(X[50:], Y[50:]) == pytest.approx(expected, abs=1e-12)
    assert probe.score(X[50:], Y[50:]) != pytest.approx(expected, abs=1e-3)


def test_constant_target_scores_like_sklearn():
    Y = np.column_stack([np.ones(10), np.arange(10.0)])
    P_exact = Y.copy()
    P_off = Y + np.array([0.5, 0.0])
    for P in (P_exact, P_off):
        ours = r2_per_target(torch.from_numpy(Y), torch.from_numpy(P)).numpy()
        assert np.allclose(ours, r2_score(Y, P, multioutput="raw_values"))


def test_one_dimensional_targets_give_one_dimensional_predictions_and_coef():
    X, Y = regression_problem(0, 30, 4, 1)
    probe = RidgeProbe(alpha=1.0).fit(X, Y[:, 0])
    ref = Ridge(alpha=1.0).fit(X, Y[:, 0])
    assert probe.predict(X).shape == (30,)
    assert probe.coef_.shape == (4,)
    assert probe.intercept_ == pytest.approx(ref.intercept_, abs=TOL)


def test_multi_alpha_spectrum_equals_separate_fits():
    X, Y = regression_problem(1, 40, 7, 3)
    alphas = torch.tensor([0.01, 1.0, 100.0], dtype=torch.float64)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    centering = Centering.fit(Xt, standardize=False)
    coefs = ridge_spectrum(centering.apply(Xt), Yt - Yt.mean(0)).coefficients(alphas)
    for coef, alpha in zip(coefs, alphas.tolist()):
        assert np.abs(coef.numpy().T - Ridge(alpha=alpha).fit(X, Y).coef_).max() <= TOL


def test_pooled_r2_of_perfect_prediction_is_one():
    Y = torch.randn(20, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(r2_pooled(Y, Y)) == 1.0


def test_float32_tensor_input_is_solved_in_float64():
    X, Y = regression_problem(2, 50, 5, 2)
    probe = RidgeProbe(alpha=1e-3).fit(torch.from_numpy(X).float(), torch.from_numpy(Y).float())
    ref = Ridge(alpha=1e-3).fit(X.astype(np.float32).astype(np.float64), Y.astype(np.float32).astype(np.float64))
    assert np.abs(probe.coef_ - ref.coef_).max() <= TOL


@pytest.mark.parametrize(
    ("alpha", "message"), [(0.0, "alpha"), (-1.0, "alpha"), (float("nan"), "alpha"), ([1.0, 2.0], "one positive number")]
)
def test_invalid_alpha_is_rejected_with_its_value(alpha, message):
    X, Y = regression_problem(0, 10, 2, 1)
    with pytest.raises(ValueError, match=message):
        RidgeProbe(alpha=alpha).fit(X, Y)


def test_three_dimensional_features_are_rejected_with_a_fix():
    with pytest.raises(ValueError, match="expected a 2D array.*reshape"):
        RidgeProbe().fit(np.zeros((4, 2, 2)), np.zeros(4))


def test_mismatched_rows_are_rejected():
    with pytest.raises(ValueError, match="same number of rows"):
        RidgeProbe().fit(np.zeros((5, 2)), np.zeros(4))


def test_nan_features_are_rejected():
    X = np.ones((5, 2))
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RidgeProbe().fit(X, np.arange(5.0))


def test_predict_before_fit_says_to_fit():
    with pytest.raises(RuntimeError, match="fit"):
        RidgeProbe().predict(np.zeros((2, 2)))


def test_predict_with_wrong_feature_count_names_both_counts():
    X, Y = regression_problem(0, 10, 3, 1)
    probe = RidgeProbe().fit(X, Y)
    with pytest.raises(ValueError, match="expected 3 features.*got 4"):
        probe.predict(np.zeros((2, 4)))


def test_get_and_set_params_follow_estimator_conventions():
    probe = RidgeProbe(alpha=2.0).set_params(standardize=True)
    assert probe.get_params() == {"alpha": 2.0, "standardize": True}
    with pytest.raises(ValueError, match="no parameter 'beta'"):
        probe.set_params(beta=1)
