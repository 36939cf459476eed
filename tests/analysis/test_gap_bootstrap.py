"""Resampling schemes and intervals: what each scheme draws, and intervals with known answers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from modinterp.analysis.bootstrap import (
    block_length,
    bootstrap_interval,
    moving_block_indices,
    resample_curves,
    seed_t_interval,
)
from modinterp.analysis.fit import fit_curve
from modinterp.analysis.models import EXPONENTIAL
from modinterp.analysis.synth import synthetic_gap
from modinterp.analysis.varpro import FitBounds, fit_batch

T = np.arange(1, 62) * 1000.0


def test_seed_scheme_gives_means_of_whole_seeds():
    values = np.array([[1.0, 1.0, 1.0], [10.0, 10.0, 10.0], [100.0, 100.0, 100.0]])
    reps = resample_curves("seed", values, values.mean(0), 500, np.random.default_rng(0))
    assert np.all(reps == reps[:, :1])  # a replicate never mixes seeds across time
    allowed = {round(sum(c) / 3, 9) for c in itertools.combinations_with_replacement([1, 10, 100], 3)}
    assert {round(v, 9) for v in reps[:, 0]} == allowed and len(allowed) == 10  # the only 10 distinct resamples


def test_point_scheme_draws_one_seed_per_time_step():
    values = np.array([[0.0] * 50, [1.0] * 50])
    reps = resample_curves("point", values, values.mean(0), 200, np.random.default_rng(0))
    assert set(np.unique(reps)) == {0.0, 1.0}
    assert 0.4 < reps.mean() < 0.6 and np.any(reps.min(1) != reps.max(1))


def test_moving_block_indices_are_runs_of_consecutive_steps():
    idx = moving_block_indices(np.random.default_rng(0), 20, 3, 61, 7)
    assert idx.shape == (20, 3, 61) and idx.min() >= 0 and idx.max() <= 60
    runs = idx[..., :56].reshape(20, 3, 8, 7)
    assert np.all(np.diff(runs, axis=-1) == 1)


def test_block_scheme_keeps_the_fitted_curve_when_residuals_are_zero():
    fitted = np.linspace(1, 0, 61)
    reps = resample_curves("block", np.tile(fitted, (3, 1)), fitted, 10, np.random.default_rng(0))
    np.testing.assert_allclose(reps, np.tile(fitted, (10, 1)))


def test_block_length_grows_with_autocorrelation():
    rng = np.random.default_rng(0)
    white = rng.standard_normal((3, 61))
    smooth = np.cumsum(rng.standard_normal((3, 61)), axis=1) * 0.1
    assert block_length(white) <= 2 < block_length(smooth) <= 15


def test_seed_t_interval_matches_the_textbook_formula():
    series = synthetic_gap(n_seeds=4, seed=2)
    bounds = FitBounds.from_values(series.values)
    per_seed = fit_batch(EXPONENTIAL, T, series.values, bounds).offset
    interval = seed_t_interval(EXPONENTIAL, T, series.values, bounds)
    half = stats.t.ppf(0.975, 3) * per_seed.std(ddof=1) / 2
    assert interval.offset_low == pytest.approx(per_seed.mean() - half) and interval.offset_high == pytest.approx(per_seed.mean() + half)


def test_seed_t_interval_with_one_seed_is_reported_as_unavailable():
    series = synthetic_gap(n_seeds=1, seed=2)
    interval = seed_t_interval(EXPONENTIAL, T, series.values, FitBounds.from_values(series.values))
    assert math.isnan(interval.offset_low) and "fewer than 2" in interval.note


@pytest.mark.parametrize("method", ["seed_t", "seed", "block", "hierarchical"])
def test_curve_decaying_to_zero_gives_an_interval_containing_zero(method):
    series = synthetic_gap(params={"offset": 0.0, "amplitude": 0.19, "tau": 12000.0}, n_seeds=5, seed=11)
    bounds = FitBounds.from_values(series.values)
    fit = fit_curve(EXPONENTIAL, T, series.mean, bounds=bounds)
    if method == "seed_t":
        interval = seed_t_interval(EXPONENTIAL, T, series.values, bounds)
    else:
        interval, _ = bootstrap_interval(EXPONENTIAL, T, series.values, fit.predict(T), method, 400, np.random.default_rng(0), bounds)
    assert interval.contains(0.0), interval


def test_bootstrap_is_reproducible_for_a_seeded_generator():
    series = synthetic_gap(seed=3)
    bounds = FitBounds.from_values(series.values)
    fitted = fit_curve(EXPONENTIAL, T, series.mean).predict(T)
    a, _ = bootstrap_interval(EXPONENTIAL, T, series.values, fitted, "hierarchical", 100, np.random.default_rng(5), bounds)
    b, _ = bootstrap_interval(EXPONENTIAL, T, series.values, fitted, "hierarchical", 100, np.random.default_rng(5), bounds)
    assert a == b


def test_failed_replicate_fits_are_counted_not_replaced():
    series = synthetic_gap(n_seeds=2, seed=3)
    values = series.values + np.array([[0.0], [2.0]])  # seed 1 sits 2 higher: unreachable within the bounds below
    bounds = FitBounds(-0.1, 0.3, -0.5, 0.5)
    fitted = fit_curve(EXPONENTIAL, T, values[0], bounds=bounds).predict(T)
    interval, fits = bootstrap_interval(EXPONENTIAL, T, values, fitted, "seed", 200, np.random.default_rng(0), bounds)
    assert 0 < interval.n_failed == int((~fits.success).sum()) < 200  # only replicates drawing seed 0 twice succeed
    assert np.all(np.isnan(fits.offset[~fits.success]))
    assert interval.offset_high <= 0.3 and interval.n_replicates == 200


def test_unknown_scheme_is_rejected():
    with pytest.raises(ValueError, match="unknown resampling scheme"):
        resample_curves("jackknife", np.zeros((3, 10)), np.zeros(10), 5, np.random.default_rng(0))
