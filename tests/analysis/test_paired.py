"""Paired comparisons over seeds (analysis/paired.py): Newcombe's interval and the verdict of a paired measure."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from modinterp.analysis.paired import PairedMeasure, newcombe_interval
from modinterp.play.arena import wilson_interval


def test_newcombe_interval_matches_a_hand_computed_case():
    (la, ua), (lb, ub) = wilson_interval(56, 70), wilson_interval(48, 80)
    low, high = newcombe_interval(56, 70, 48, 80)
    assert low == pytest.approx(0.2 - math.sqrt((0.8 - la) ** 2 + (ub - 0.6) ** 2))
    assert (low, high) == pytest.approx((0.0524, 0.3339), abs=1e-4)  # Newcombe (1998), example (b): 0.0524 to 0.3339


def test_a_loss_measure_below_zero_on_every_seed_is_better():
    measure = PairedMeasure("val value loss", {0: -0.2, 1: -0.25, 2: -0.3}, better=-1)
    half = stats.t.ppf(0.975, 2) * 0.05 / math.sqrt(3)  # sd 0.05: the interval [-0.374, -0.126] lies below 0
    assert (measure.interval.low, measure.interval.high) == pytest.approx((-0.25 - half, -0.25 + half))
    assert measure.verdict == "better"
    assert PairedMeasure("cost", {0: 0.2, 1: 0.25, 2: 0.3}, better=-1).verdict == "worse"
    assert PairedMeasure("cost", {0: -0.1, 1: -0.2, 2: -0.3}, better=-1).verdict == "no difference shown"


def test_a_pooled_interval_across_the_reference_overrides_a_zero_width_t_interval():
    tied = PairedMeasure("win rate", {0: 0.005, 1: 0.005}, better=+1, pooled_interval=(-0.01, 0.02))
    assert tied.interval.low == tied.interval.high == pytest.approx(0.005)
    assert tied.verdict == "no difference shown"
    assert PairedMeasure("win rate", {0: 0.1}, better=+1).verdict == "one seed"
