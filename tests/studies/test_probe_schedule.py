"""The growth study's probe schedule: known values, the invariants every schedule keeps, and the study wiring."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modinterp.analysis.late_window import DEFAULT_FRACTION, window_start
from modinterp.config import ConfigError
from modinterp.studies.growth.config import load_study_config
from modinterp.studies.growth.schedule import probe_schedule


def test_log_schedule_known_values():
    # geomspace(10, 600, 8) = 10, 17.98, 32.3, 58.1, 104.5, 187.9, 337.8 -> rounded (the last, 600, is the end);
    # late window [420, 600] probed at 420, 480, 540, 600.
    expected = [0, 10, 18, 32, 58, 104, 186, 334, 420, 480, 540, 600]
    got = probe_schedule(600, "log", n_log=8, first=10, late_points=4, late_fraction=0.3)
    assert got == expected
    assert np.allclose(np.geomspace(10, 600, 8)[:-1].round(), [s for s in expected if 0 < s < 420])


def test_linear_schedule_is_every_step_and_the_end():
    assert probe_schedule(12, "linear", every=6) == [0, 6, 12]
    assert probe_schedule(14, "linear", every=6) == [0, 6, 12, 14]


def test_a_run_shorter_than_first_is_probed_over_its_late_window():
    assert probe_schedule(12, "log", first=20, late_points=4, late_fraction=0.3) == [0, 9, 10, 11, 12]


@settings(max_examples=200, deadline=None)
@given(total=st.integers(1, 100_000), n_log=st.integers(1, 30), first=st.integers(1, 500),
       late_points=st.integers(1, 10), late_fraction=st.floats(0.05, 1.0))
def test_log_schedule_invariants(total, n_log, first, late_points, late_fraction):
    steps = probe_schedule(total, "log", n_log=n_log, first=first, late_points=late_points, late_fraction=late_fraction)
    assert steps[0] == 0 and steps[-1] == total
    assert all(b > a for a, b in zip(steps, steps[1:]))
    start = window_start(np.array([0.0, float(total)]), late_fraction)
    inside = [s for s in steps if s >= start]
    # the window holds only evenly spaced steps (rounded), at most late_points of them besides step 0 (inside only
    # when the window is all of training), and always the final step
    assert total in inside and len([s for s in inside if s > 0]) <= late_points
    if len(inside) > 2:
        assert np.ptp(np.diff(inside)) <= 1
    # the early part is geometric: each early step is one of the n_log geometric points from `first` to the end,
    # rounded, and every such point before the window is probed
    early = [s for s in steps if 0 < s < start]
    grid = np.geomspace(first, total, n_log) if first < total else np.array([])
    assert all(np.abs(grid - s).min() <= 0.5 + 1e-9 * s for s in early)
    assert {int(g) for g in np.rint(grid) if g < start} <= set(early)


def test_study_config_gives_each_run_its_schedule():
    config = load_study_config("smoke", ["probes.schedule='log'", "probes.first=2", "probes.n_log=3"])
    assert config.probes.late_fraction == DEFAULT_FRACTION
    assert config.probes.steps_for(12) == [0, 2, 5, 9, 10, 11, 12]
    assert load_study_config("smoke").probes.steps_for(12) == [0, 6, 12]


def test_quick_and_paper_presets_probe_on_the_log_schedule():
    for preset in ("quick", "regime", "paper"):
        assert load_study_config(preset).probes.schedule == "log"
    assert load_study_config("smoke").probes.schedule == "linear"


def test_unknown_schedule_is_refused():
    with pytest.raises(ConfigError, match="probes.schedule"):
        load_study_config("smoke", ["probes.schedule='cubic'"])
