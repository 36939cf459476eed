"""Coverage of the default (seed_t) 95% offset interval over simulated data sets with a known offset."""

from __future__ import annotations

import pytest

from modinterp.analysis.coverage import simulate_coverage
from modinterp.analysis.synth import PRESETS


def test_seed_t_coverage_is_near_nominal_on_a_few_data_sets():
    result = simulate_coverage(n_datasets=20, n_seeds=5, methods=("seed_t",), n_boot=0)
    assert result.n_failed_point_fits == 0
    assert result.coverage["seed_t"] >= 0.8  # 20 data sets: a loose check; the slow test below is the real one


@pytest.mark.slow
def test_seed_t_interval_covers_the_true_offset_at_least_90_percent_with_5_seeds():
    result = simulate_coverage(n_datasets=200, n_seeds=5, methods=("seed_t",), n_boot=0)
    assert result.coverage["seed_t"] >= 0.90, result


@pytest.mark.slow
def test_seed_t_interval_covers_a_vanishing_power_law_offset_at_least_90_percent_with_5_seeds():
    truth = PRESETS["vanishing"]
    result = simulate_coverage(n_datasets=200, n_seeds=5, methods=("seed_t",), n_boot=0, model=truth["model"], params=truth["params"])
    assert result.coverage["seed_t"] >= 0.90, result
