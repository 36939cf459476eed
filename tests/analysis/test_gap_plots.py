"""Plots: each plot_* writes a PNG, including when a model's fit failed."""

from __future__ import annotations

import pytest

from modinterp.analysis.compare import AnalysisConfig, analyse_series
from modinterp.analysis.plots import (
    horizon_stability_figure, plot_gap_fits, plot_horizon_stability, plot_prefix_predictions,
)
from modinterp.analysis.synth import synthetic_gap

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result():
    return analyse_series(synthetic_gap(n_seeds=2, seed=5), AnalysisConfig(models=("exponential", "power_law"), n_boot=40, horizon_boot=20))


@pytest.mark.parametrize("plot", [plot_gap_fits, plot_prefix_predictions, plot_horizon_stability])
def test_plot_writes_a_png(plot, result, tmp_path):
    path = plot(result, tmp_path / "sub" / "p.png")
    assert path.read_bytes()[:8] == PNG


def test_gap_plot_survives_a_failed_fit(result, tmp_path):
    broken = dict(result, models=dict(result["models"]))
    broken["models"]["power_law"] = dict(broken["models"]["power_law"], fit=dict(broken["models"]["power_law"]["fit"], params={}), band=None)
    assert plot_gap_fits(broken, tmp_path / "p.png").read_bytes()[:8] == PNG


def test_horizon_plot_draws_an_interval_that_excludes_its_point_estimate(result, tmp_path):
    """The demo's power-law row at 80% (offset 0.24147, seed-t interval [0.24133, 0.24145]) crashed errorbar."""
    shifted = dict(result, models=dict(result["models"]))
    rows = [dict(r) for r in shifted["models"]["exponential"]["horizon"]]
    rows[-1].update(offset=0.24147497495341633, offset_ci_low=0.24132677446215245, offset_ci_high=0.2414483075894187)
    shifted["models"]["exponential"] = dict(shifted["models"]["exponential"], horizon=rows)
    fig = horizon_stability_figure(shifted)
    drawn = [seg for coll in fig.axes[0].collections for seg in coll.get_segments()]
    assert any(abs(seg[0][1] - 0.24132677446215245) < 1e-12 and abs(seg[1][1] - 0.2414483075894187) < 1e-12 for seg in drawn)
    assert plot_horizon_stability(shifted, tmp_path / "h.png").read_bytes()[:8] == PNG


def test_a_plot_is_written_atomically_leaving_no_temporary_file(result, tmp_path):
    (tmp_path / "p.png").write_bytes(b"old")
    plot_gap_fits(result, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG and [p.name for p in tmp_path.iterdir()] == ["p.png"]
