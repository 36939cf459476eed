"""Markdown verdict tables."""

from __future__ import annotations

import math

from modinterp.analysis.table import final_window_markdown, verdict_markdown


def _analysis():
    rows = [
        {"model": "exponential", "offset": 0.0437, "ci_low": 0.0317, "ci_high": 0.0514, "ci_method": "seed_t", "contains_zero": False,
         "fit_success": True, "bic": -550.04, "prefix_rmse_mean": 0.0123, "time_scale": 9800.4, "time_scale_ci_low": 7000.0, "time_scale_ci_high": 14000.0},
        {"model": "power_law", "offset": math.nan, "ci_low": math.nan, "ci_high": math.nan, "ci_method": "seed_t", "contains_zero": None,
         "fit_success": False, "bic": math.inf, "prefix_rmse_mean": math.nan, "time_scale": math.nan},
    ]
    verdict = {"rows": rows, "intervals_agree": None, "agree_on_zero": None, "best_prefix_cv": "exponential"}
    models = {"exponential": {"offset_seed_mean": 0.0415}, "power_law": {}}
    return {"label": "aux - base", "verdict": verdict, "models": models,
            "final_window": {"step_from": 56000.0, "mean": 0.04, "ci_low": 0.01, "ci_high": 0.07}}


def test_verdict_row_shows_offset_interval_time_scale_and_best_model():
    lines = verdict_markdown([_analysis()]).splitlines()
    assert lines[2] == ("| aux - base | exponential | 0.0437 | 0.0415 | [0.0317, 0.0514] (seed_t) | no | 9800 [7000, 14000] | -550.0 "
                        "| 0.0123 | n/a | n/a | exponential |")


def test_failed_fit_is_shown_as_failed_not_as_a_number():
    row = verdict_markdown([_analysis()]).splitlines()[3]
    assert "fit failed" in row and "[n/a, n/a]" in row


def test_final_window_table_row():
    assert final_window_markdown([_analysis()]).splitlines()[2] == "| aux - base | 56000 | 0.0400 | [0.0100, 0.0700] |"


def test_parameter_at_its_range_edge_is_marked_with_a_footnote():
    analysis = _analysis()
    analysis["verdict"]["rows"][0]["at_bound"] = ["alpha"]
    lines = verdict_markdown([analysis]).splitlines()
    assert "| 0.0437† |" in lines[2] and lines[-1].startswith("† the point fit has a parameter")
