"""The per-series analysis: JSON fields, verdict logic, prefix CV, horizons, model-free final window."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modinterp.analysis.compare import AnalysisConfig, analyse_series, final_window_gap, verdict
from modinterp.analysis.series import GapSeries
from modinterp.analysis.synth import synthetic_gap

FAST = AnalysisConfig(n_boot=100, horizon_boot=50)


@pytest.fixture(scope="module")
def analysis():
    return analyse_series(synthetic_gap(seed=0), FAST)


def test_every_model_reports_offset_and_primary_interval(analysis):
    for name in ("exponential", "power_law", "double_exponential"):
        m = analysis["models"][name]
        assert m["offset_ci_low"] < m["offset_seed_mean"] < m["offset_ci_high"]
        assert m["offset_seed_mean"] == pytest.approx((m["offset_ci_low"] + m["offset_ci_high"]) / 2)
        assert m["ci_method"] == "seed_t" and set(m["intervals"]) == {"seed_t", "seed", "block", "hierarchical", "point"}


def test_exponential_interval_covers_the_truth_of_the_original_like_curve(analysis):
    m = analysis["models"]["exponential"]
    assert m["offset_ci_low"] <= 0.04 <= m["offset_ci_high"]
    assert 5000 < m["time_scale"] < 20000


def test_prefix_cv_scores_each_fraction_on_the_held_out_rest(analysis):
    rows = analysis["models"]["exponential"]["prefix_cv"]
    # steps 1000..61000: the first 20% of training ends at step 13000, the 13th point (and so on)
    assert [r["n_train"] for r in rows] == [13, 25, 37, 49]
    assert all(r["success"] and 0 < r["rmse"] < 0.1 for r in rows)


def test_horizon_stability_ends_with_the_full_series_estimate(analysis):
    m = analysis["models"]["exponential"]
    last = m["horizon"][-1]
    assert last["fraction"] == 1.0 and last["n_points"] == 61 and last["step_end"] == 61000.0
    assert last["offset"] == pytest.approx(m["offset"])
    assert last["offset_ci_low"] == pytest.approx(m["offset_ci_low"])  # seed_t is deterministic


def test_analysis_is_reproducible_for_a_fixed_seed(analysis):
    again = analyse_series(synthetic_gap(seed=0), FAST)
    assert again["models"]["power_law"]["intervals"]["block"] == analysis["models"]["power_law"]["intervals"]["block"]


def _row(model, lo, hi, rmse, ok=True):
    prefix = [{"fraction": 0.5, "rmse": rmse, "success": ok and math.isfinite(rmse)}]
    return {"offset": (lo + hi) / 2, "offset_ci_low": lo, "offset_ci_high": hi, "ci_method": "seed_t", "time_scale": 1.0,
            "fit": {"success": ok}, "bic": 0.0, "prefix_rmse_mean": rmse, "prefix_cv": prefix}


def test_verdict_says_disagree_when_two_intervals_do_not_overlap():
    v = verdict({"models": {"a": _row("a", 0.03, 0.05, 0.02), "b": _row("b", -0.2, 0.02, 0.01), "c": _row("c", 0.0, 0.1, 0.03)}})
    assert v["intervals_agree"] is False and v["best_prefix_cv"] == "b" and v["agree_on_zero"] is False
    assert [r["contains_zero"] for r in v["rows"]] == [False, True, True]


def test_verdict_ignores_failed_fits_when_checking_agreement():
    v = verdict({"models": {"a": _row("a", 0.03, 0.05, 0.02), "b": _row("b", 0.04, 0.06, 0.01), "c": _row("c", 0.5, 0.6, math.nan, ok=False)}})
    assert v["intervals_agree"] is True and v["n_failed_fits"] == 1 and v["n_models_compared"] == 2


def test_best_forecaster_is_judged_on_fractions_every_model_could_forecast():
    a, b = _row("a", 0, 1, 0.0), _row("b", 0, 1, 0.0)
    a["prefix_cv"] = [{"fraction": 0.2, "rmse": math.nan, "success": False}, {"fraction": 0.8, "rmse": 0.05, "success": True}]
    b["prefix_cv"] = [{"fraction": 0.2, "rmse": 0.01, "success": True}, {"fraction": 0.8, "rmse": 0.04, "success": True}]
    v = verdict({"models": {"a": a, "b": b}})
    assert v["best_prefix_cv"] == "b" and v["prefix_fractions_compared"] == [0.8]


def test_final_window_gap_is_a_t_interval_over_seed_means():
    values = np.array([[0.0] * 8 + [0.1, 0.1], [0.0] * 8 + [0.2, 0.2], [0.0] * 8 + [0.3, 0.3]])
    out = final_window_gap(GapSeries("x", ["a", "b", "c"], np.arange(1, 11), values), 0.2, 0.95)
    assert out["mean"] == pytest.approx(0.2) and out["n_points"] == 2
    assert out["ci_high"] - 0.2 == pytest.approx(4.302653 * 0.1 / np.sqrt(3), rel=1e-5)


def test_single_seed_series_falls_back_to_the_block_interval():
    out = analyse_series(synthetic_gap(n_seeds=1, seed=1), AnalysisConfig(models=("exponential",), n_boot=100, horizon_boot=50))
    m = out["models"]["exponential"]
    assert out["primary_method"] == "block" and m["offset_ci_low"] < m["offset"] < m["offset_ci_high"]


def test_config_rejects_unknown_loss_and_method():
    with pytest.raises(ValueError, match="loss='l1'"):
        AnalysisConfig(loss="l1")
    with pytest.raises(ValueError, match="unknown interval methods"):
        AnalysisConfig(methods=("bca",))


def test_huber_analysis_resists_an_outlier_in_one_seed():
    series = synthetic_gap(n_seeds=3, seed=4, noise_sd=0.005, seed_sd=0.002)
    series.values[1, 50] += 1.5  # one corrupted probe evaluation
    config = dict(models=("exponential",), methods=("seed_t", "seed"), n_boot=20, horizon_boot=10, prefix_fractions=(0.8,), horizons=(1.0,))
    plain = analyse_series(series, AnalysisConfig(**config))["models"]["exponential"]
    robust = analyse_series(series, AnalysisConfig(loss="huber", **config))["models"]["exponential"]
    assert abs(robust["offset"] - 0.04) < 0.01 < abs(plain["offset"] - 0.04)
    assert robust["fit"]["loss"] == "huber" and robust["intervals"]["seed"]["n_failed"] == 0


def test_prefixes_horizons_and_final_window_are_shares_of_training_on_uneven_steps():
    """On the growth study's log schedule (steps crowd the start) the prefix forecasts, the horizon rows and the final
    window are shares of the step range, as their labels say, not shares of the probe points: counted in points,
    "the first 20%" was steps 0-10 of 600 (two points, no family could fit them, so no forecaster was ever validated)
    and the final 10% was the last step alone."""
    steps = np.array([0, 10, 18, 32, 58, 104, 186, 334, 420, 480, 540, 600])
    rng = np.random.default_rng(0)
    values = 0.05 + 0.1 * np.exp(-steps / 150) + rng.normal(0, 0.003, (4, steps.size))
    config = AnalysisConfig(models=("exponential",), methods=("seed_t",), n_boot=10, horizon_boot=10)
    out = analyse_series(GapSeries("log", list("abcd"), steps, values), config)
    model = out["models"]["exponential"]
    # the last point within each share of [0, 600]: 0.2 -> 104, 0.4 -> 186, 0.6 -> 334, 0.8 -> 480
    assert [row["n_train"] for row in model["prefix_cv"]] == [6, 7, 8, 10]
    assert [row["step_end"] for row in model["horizon"]] == [104.0, 186.0, 334.0, 480.0, 600.0]
    assert out["final_window"]["n_points"] == 2 and out["final_window"]["step_from"] == 540.0
