"""Curve families: basis normalisation, formulas, grids derived from the time axis."""

from __future__ import annotations

import numpy as np
import pytest

from modinterp.analysis.models import DOUBLE_EXPONENTIAL, EXPONENTIAL, POWER_LAW, TimeScales, get_model

T = np.arange(1, 62) * 1000.0


def test_exponential_predict_matches_formula():
    y = EXPONENTIAL.predict(T, np.array([0.04, 0.15, 10000.0]), T[0])
    np.testing.assert_allclose(y, 0.04 + 0.15 * np.exp(-(T - 1000) / 10000))


def test_power_law_predict_matches_formula():
    y = POWER_LAW.predict(T, np.array([0.01, 0.2, 0.7, 3000.0]), T[0])
    np.testing.assert_allclose(y, 0.01 + 0.2 * ((T + 3000) / 4000) ** -0.7)


def test_double_exponential_predict_matches_formula():
    y = DOUBLE_EXPONENTIAL.predict(T, np.array([0.04, 0.1, 0.05, 2000.0, 30000.0]), T[0])
    np.testing.assert_allclose(y, 0.04 + 0.1 * np.exp(-(T - 1000) / 2000) + 0.05 * np.exp(-(T - 1000) / 30000))


@pytest.mark.parametrize("model", [EXPONENTIAL, POWER_LAW, DOUBLE_EXPONENTIAL])
def test_every_basis_function_is_one_at_the_first_time(model):
    grid = model.log_grid(TimeScales.of(T))
    phi = model.basis(T, grid)
    np.testing.assert_allclose(phi[:, 0, :], 1.0)


def test_grid_ranges_scale_with_the_time_axis():
    steps = EXPONENTIAL.log_grid(TimeScales.of(T))
    lr_axis = EXPONENTIAL.log_grid(TimeScales.of(T * 1e-4))
    np.testing.assert_allclose(np.exp(lr_axis), np.exp(steps) * 1e-4)


def test_double_exponential_grid_orders_the_time_scales():
    grid = DOUBLE_EXPONENTIAL.log_grid(TimeScales.of(T))
    assert np.all(grid[:, 0] < grid[:, 1])


def test_power_law_time_scale_is_the_e_folding_time_of_the_excess():
    params = np.array([0.0, 1.0, 0.5, 2000.0])
    tau = POWER_LAW.time_scale(params, 1000.0)
    excess = POWER_LAW.predict(np.array([1000.0 + tau]), params, 1000.0)
    np.testing.assert_allclose(excess, np.exp(-1))


def test_time_axis_must_increase():
    with pytest.raises(ValueError, match="strictly increasing"):
        TimeScales.of(np.array([1.0, 3.0, 2.0]))


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="expected one of"):
        get_model("logistic")
