"""Plots: each plot_* writes a PNG, including when a model's fit failed."""

from __future__ import annotations

import pytest

from modinterp.analysis.compare import AnalysisConfig, analyse_series
from modinterp.analysis.plots import plot_gap_fits, plot_horizon_stability, plot_prefix_predictions
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
