"""The late-window gap: hand-computed means, t-intervals and slopes, and the decaying-from-above rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modinterp.analysis.late_window import decay_sentence, late_window_gap, paired_gap, seed_interval

T_975_DF2 = 4.302652729749464  # Student t, 97.5% quantile, 2 degrees of freedom (tables: 4.303)
T_975_DF3 = 3.182446305284263  # 3 degrees of freedom (tables: 3.182)
STEPS = np.arange(0, 1001, 100.0)  # window (last 30% of 0..1000) = steps 700, 800, 900, 1000, centred on 850
RISE = [0.0, 0.5, 0.9, 1.0, 0.8, 0.6, 0.5]  # steps 0..600: peak 1.0 at step 300


def decaying_gap() -> np.ndarray:
    """3 seeds: the same rise to 1.0, then in the window base_s + slope_s * (step - 850)."""
    bases, slopes = [0.1, 0.2, 0.3], [-3e-4, -4e-4, -5e-4]
    window = STEPS[STEPS >= 700] - 850
    return np.array([RISE + (base + slope * window).tolist() for base, slope in zip(bases, slopes)])


def test_seed_interval_by_hand():
    interval = seed_interval([1.0, 2.0, 3.0])
    assert (interval.mean, interval.n) == (2.0, 3)
    assert interval.se == pytest.approx(1 / math.sqrt(3), abs=1e-15)
    assert (interval.low, interval.high) == pytest.approx((2 - T_975_DF2 / math.sqrt(3), 2 + T_975_DF2 / math.sqrt(3)), abs=1e-12)
    assert math.isnan(seed_interval([0.5]).se)


def test_late_window_gap_and_interval_by_hand():
    result = late_window_gap(STEPS, decaying_gap())
    assert result.window_steps == (700.0, 800.0, 900.0, 1000.0)
    assert result.per_seed == pytest.approx((0.1, 0.2, 0.3), abs=1e-12)
    half = T_975_DF2 * 0.1 / math.sqrt(3)  # sd of (0.1, 0.2, 0.3) is 0.1
    assert (result.gap.mean, result.gap.low, result.gap.high) == pytest.approx((0.2, 0.2 - half, 0.2 + half), abs=1e-12)
    slope_half = T_975_DF2 * 1e-4 / math.sqrt(3)  # slopes -3e-4, -4e-4, -5e-4: sd 1e-4
    assert (result.slope.mean, result.slope.high) == pytest.approx((-4e-4, -4e-4 + slope_half), abs=1e-15)


def test_gap_peaking_before_the_window_and_still_falling_allows_offset_fits():
    result = late_window_gap(STEPS, decaying_gap())
    assert result.peak_step == 300.0 and result.peak_before_window and result.decaying_from_above
    assert "Curve fits with offsets: reported" in result.verdict
    assert "contains 0" in result.verdict and "Only 3 seeds: the t quantile is 4.30" in result.verdict


def test_rising_gap_is_not_seen_decaying_and_the_verdict_says_so():
    rising = np.array([np.linspace(0.0, 0.1, STEPS.size) + offset for offset in (0.10, 0.11, 0.12, 0.13)])
    result = late_window_gap(STEPS, rising)
    assert result.peak_step == 1000.0 and not result.decaying_from_above
    half = T_975_DF3 * np.std([0.10, 0.11, 0.12, 0.13], ddof=1) / 2  # 4 seeds
    # window values 0.07..0.10 (mean 0.085) plus the seed offsets (mean 0.115)
    assert (result.gap.low, result.gap.high) == pytest.approx((0.2 - half, 0.2 + half), abs=1e-12)
    assert "the gap persists" in result.verdict
    assert "not reported, the gap is not seen decaying from above (the gap's peak (step 1000)" in result.verdict


def test_gap_that_peaks_early_but_is_flat_in_the_window_is_not_decaying():
    flat = np.array([RISE + [0.2 + noise] * 4 for noise in (-0.01, 0.0, 0.01)])
    flat[:, -1] += [0.001, -0.001, 0.0]  # slopes of both signs
    result = late_window_gap(STEPS, flat)
    assert result.peak_before_window and not result.decaying_from_above
    assert "does not lie below 0" in result.verdict


def test_paired_gap_subtracts_seed_by_seed_and_rejects_mismatched_shapes():
    assert paired_gap([[1.0, 2.0], [3.0, 5.0]], [[0.5, 0.5], [1.0, 1.0]]).tolist() == [[0.5, 1.5], [2.0, 4.0]]
    with pytest.raises(ValueError, match="same seeds"):
        paired_gap(np.zeros((2, 3)), np.zeros((3, 3)))


def test_single_seed_gets_no_interval_and_says_so():
    result = late_window_gap(STEPS, decaying_gap()[:1])
    assert math.isnan(result.gap.low) and not result.decaying_from_above
    assert "single seed" in result.verdict


def test_a_window_of_one_probe_step_says_no_slope_can_be_measured():
    steps = [0, 100, 200, 300, 1000]  # the last 30% of 0..1000 holds only step 1000
    gap = [[0.0, 0.3, 0.2, 0.1, 0.05], [0.0, 0.25, 0.2, 0.12, 0.04]]
    result = late_window_gap(steps, gap)
    assert result.slope is None
    assert decay_sentence(result) == ("Curve fits with offsets: not reported, the gap is not seen decaying from above "
                                      "(the window holds one probe step, so no slope within it can be measured).")
