"""Aggregation and plot content: per-seed thin lines, seed means, final profiles with seed t-interval error bars."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from scipy import stats

from modinterp.studies.growth.aggregate import Curve, curves, final_seed_profile, seed_mean
from modinterp.report.html import figure_png
from modinterp.studies.growth.plots import (R2_FLOOR, THICK, THIN, clip_r2_axis, plot_controls, plot_final_profile,
                                            plot_losses, plot_probe_over_training)
from modinterp.studies.growth.schema import parse_results


@pytest.fixture
def results(results_dict):
    return parse_results(results_dict)


def test_seed_mean_uses_only_steps_every_seed_logged():
    steps, mean = seed_mean([Curve(0, np.array([0, 10, 20]), np.array([1.0, 2.0, 3.0])),
                             Curve(1, np.array([0, 20]), np.array([3.0, 5.0]))])
    assert steps.tolist() == [0, 20] and mean.tolist() == [2.0, 4.0]


def test_final_profile_takes_each_seeds_last_step(results, results_dict):
    last = max(r["step"] for r in results_dict["probes"])
    values = [r["r2"] for r in results_dict["probes"]
              if r["condition"] == "large-baseline" and r["layer"] == "3" and r["step"] == last]
    cell = final_seed_profile(results, "large-baseline")["3"]
    se = np.std(values, ddof=1) / np.sqrt(2)
    assert (cell.mean, cell.se, cell.n) == (pytest.approx(np.mean(values)), pytest.approx(se), 2)
    assert cell.high - cell.mean == pytest.approx(stats.t.ppf(0.975, 1) * se)


def test_small_conditions_have_no_profile_at_layers_they_lack(results):
    assert list(final_seed_profile(results, "small-aux")) == ["0", "1", "2", "final_ln"]


def test_probe_plot_draws_a_thin_line_per_seed_and_a_thick_mean(results):
    ax = plot_probe_over_training(results).axes[0]
    widths = [line.get_linewidth() for line in ax.get_lines()]
    assert widths.count(THIN) == len(results.conditions) * len(results.seeds)
    assert widths.count(THICK) == len(results.conditions)
    thick = [line for line in ax.get_lines() if line.get_linewidth() == THICK][0]
    steps, mean = seed_mean(curves(results.probes, condition=results.conditions[0], layer=results.last_embedded_layer))
    assert np.allclose(thick.get_ydata(), mean) and np.array_equal(thick.get_xdata(), steps)


def test_loss_plot_marks_full_validation_points(results):
    val_ax = plot_losses(results).axes[1]
    markers = [line for line in val_ax.get_lines() if line.get_marker() == "o" and len(line.get_xdata())]
    assert len(markers) == len(results.conditions) * len(results.seeds)
    assert all(len(line.get_xdata()) == 2 for line in markers)  # the two full validations of each run


def test_profile_plot_has_error_bars_for_every_condition(results):
    ax = plot_final_profile(results).axes[0]
    assert len(ax.containers) == len(results.conditions)
    cell = final_seed_profile(results, results.conditions[0])[results.layers[0]]
    segment = ax.containers[0].lines[2][0].get_segments()[0]  # the first point's bar: (x, low) -> (x, high)
    assert segment[:, 1] == pytest.approx([cell.low, cell.high])
    assert [t.get_text() for t in ax.get_xticklabels()] == results.layers


def test_figure_png_is_a_png():
    png = figure_png(Figure(figsize=(1, 1)))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_collapsed_control_does_not_flatten_the_other_values():
    ax = Figure().add_subplot()
    ax.plot([0, 1, 2], [0.2, 0.3, -57404.0])
    assert clip_r2_axis(ax, [0.2, 0.3, -57404.0]) == 1
    low, high = ax.get_ylim()
    assert low == R2_FLOOR and 0.3 < high < 0.4
    assert "1 value(s) below -0.5 not shown (min -57,404)" in [t.get_text() for t in ax.texts]


def test_values_within_range_keep_their_own_limits():
    ax = Figure().add_subplot()
    ax.plot([0, 1], [0.1, 0.2])
    before = ax.get_ylim()
    assert clip_r2_axis(ax, [0.1, 0.2]) == 0 and ax.get_ylim() == before and not ax.texts


def test_controls_panel_of_a_collapsed_frozen_probe_is_clipped(make_results):
    data = make_results()
    for control in data["controls"]:
        if control["control"] == "frozen":
            control["r2"] = -57404.0
    figure = plot_controls(parse_results(data))
    frozen_ax = figure.axes[2]
    assert frozen_ax.get_ylim()[0] == R2_FLOOR and frozen_ax.texts
