"""The decisive statistic for "does the gap persist": the paired per-seed gap averaged over a late window.

For conditions A and B trained from the same seeds, the gap of seed s at step t is A[s, t] - B[s, t] (paired: the
seeds share random weights and batches). Its mean over the late window (by default the steps in the last 30% of
the step range) is one number per seed; their mean with a Student-t interval over seeds is the primary answer.

Curve fits with an offset (exponential or power law + offset) extrapolate only when the data show the decay they
model. They are reported only when the gap is *seen decaying from above*, defined as both:
1. the seed-mean gap peaks before the window: its maximum over all steps is at a step before the window starts and
   exceeds every value inside the window; and
2. the gap still falls inside the window: the per-seed least-squares slopes of gap against step within the window
   have a t-interval over seeds that lies entirely below 0.
A gap that is still rising, flat, or noisy gives no such evidence, and the verdict says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

DEFAULT_FRACTION = 0.3
MIN_SEEDS = 4  # below this the t quantile is large (12.7 at 2 seeds, 4.30 at 3) and the verdict says so


@dataclass(frozen=True)
class SeedInterval:
    """Mean of per-seed values with its standard error and a Student-t interval (df = n - 1)."""

    mean: float
    se: float  # sample standard deviation / sqrt(n)
    low: float
    high: float
    n: int
    level: float

    @property
    def t_quantile(self) -> float:
        return float(stats.t.ppf(0.5 + self.level / 2, self.n - 1)) if self.n > 1 else math.nan

    def excludes_zero(self) -> bool:
        return bool(self.low > 0 or self.high < 0)

    def to_dict(self) -> dict:
        return {"mean": self.mean, "se": self.se, "low": self.low, "high": self.high, "n": self.n, "level": self.level}


def seed_interval(values, level: float = 0.95) -> SeedInterval:
    """Mean, standard error and `level` t-interval of per-seed values; with one seed the SE and interval are NaN."""
    values = np.asarray(values, dtype=float).ravel()
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"per-seed values: expected one finite number per seed, got {values.tolist()}")
    if not 0 < level < 1:
        raise ValueError(f"level={level!r}: expected a confidence level strictly between 0 and 1, e.g. 0.95")
    mean = float(values.mean())
    if values.size < 2:
        return SeedInterval(mean, math.nan, math.nan, math.nan, 1, level)
    se = float(values.std(ddof=1) / math.sqrt(values.size))
    half = float(stats.t.ppf(0.5 + level / 2, values.size - 1)) * se
    return SeedInterval(mean, se, mean - half, mean + half, int(values.size), level)


def paired_gap(a, b) -> np.ndarray:
    """A - B per seed and step, (n_seeds, n_steps); rows must be the same seeds in the same order."""
    a, b = np.atleast_2d(np.asarray(a, dtype=float)), np.atleast_2d(np.asarray(b, dtype=float))
    if a.shape != b.shape:
        raise ValueError(f"paired gap: condition A has shape {a.shape} and B {b.shape}; give both (n_seeds, n_steps) "
                         "with the same seeds (rows) and probe steps (columns)")
    return a - b


def window_start(steps: np.ndarray, fraction: float) -> float:
    """First step of the late window: the last `fraction` of the step range [steps[0], steps[-1]]."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction!r}: expected the late window's share of training in (0, 1], e.g. 0.3")
    return float(steps[0] + (1 - fraction) * (steps[-1] - steps[0]))


def window_slopes(steps: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """Least-squares slope of each seed's gap against step (per step), (n_seeds,)."""
    centred = steps - steps.mean()
    return (gap - gap.mean(axis=1, keepdims=True)) @ centred / float(centred @ centred)


@dataclass(frozen=True)
class LateWindowGap:
    """The late-window gap, the decay evidence and the verdict the report prints."""

    window_start: float
    window_steps: tuple[float, ...]
    per_seed: tuple[float, ...]  # each seed's mean gap over the window
    gap: SeedInterval
    slope: SeedInterval | None  # per-seed slopes within the window (None with fewer than 2 window steps)
    peak_step: float  # step of the seed-mean gap's maximum
    peak_before_window: bool
    decaying_from_above: bool  # both conditions of the module docstring: offset fits may be reported

    @property
    def verdict(self) -> str:
        return late_window_verdict(self)

    def to_dict(self) -> dict:
        return {"window_start": self.window_start, "window_steps": list(self.window_steps), "per_seed": list(self.per_seed),
                "gap": self.gap.to_dict(), "slope": None if self.slope is None else self.slope.to_dict(),
                "peak_step": self.peak_step, "peak_before_window": self.peak_before_window,
                "decaying_from_above": self.decaying_from_above, "verdict": self.verdict}


def late_window_gap(steps, gap, fraction: float = DEFAULT_FRACTION, level: float = 0.95) -> LateWindowGap:
    """Mean paired gap over the late window with a t-interval over seeds, and whether it is seen decaying from above.

    `gap` is (n_seeds, n_steps) (see `paired_gap`), `steps` the probe steps (increasing).
    """
    steps = np.asarray(steps, dtype=float)
    gap = np.atleast_2d(np.asarray(gap, dtype=float))
    if steps.ndim != 1 or gap.shape[1] != steps.size or steps.size < 2 or np.any(np.diff(steps) <= 0):
        raise ValueError(f"steps {steps.shape} and gap {gap.shape}: expected increasing steps (T >= 2) and a gap of "
                         "shape (n_seeds, T)")
    start = window_start(steps, fraction)
    inside = steps >= start
    per_seed = gap[:, inside].mean(axis=1)
    slope = seed_interval(window_slopes(steps[inside], gap[:, inside]), level) if inside.sum() >= 2 else None
    mean_curve = gap.mean(axis=0)
    peak = int(np.argmax(mean_curve))
    peak_before = bool(steps[peak] < start and mean_curve[peak] > mean_curve[inside].max())
    falling = slope is not None and slope.n >= 2 and bool(slope.high < 0)
    return LateWindowGap(start, tuple(steps[inside].tolist()), tuple(per_seed.tolist()), seed_interval(per_seed, level),
                         slope, float(steps[peak]), peak_before, peak_before and falling)


def late_window_verdict(result: LateWindowGap) -> str:
    """Two or three sentences: the late-window gap with its interval, what it says, and whether offset fits count."""
    g = result.gap
    where = f"over steps {result.window_steps[0]:g}-{result.window_steps[-1]:g} ({len(result.window_steps)} probe steps)"
    if g.n < 2:
        return (f"Late-window gap {where}: {g.mean:+.4f} from a single seed; no interval is possible, so the run cannot "
                "say whether the gap persists. Curve fits with offsets: not reported.")
    level = f"{100 * g.level:.0f}%"
    sentence = f"Late-window gap {where}: {g.mean:+.4f} [{g.low:+.4f}, {g.high:+.4f}] ({level} t-interval, {g.n} seeds)"
    if g.low > 0:
        sentence += "; the gap persists (the interval lies above 0)."
    elif g.high < 0:
        sentence += "; the gap is reversed (the interval lies below 0)."
    else:
        sentence += "; the interval contains 0, so no persisting gap is shown at this precision."
    if g.n < MIN_SEEDS:
        sentence += f" Only {g.n} seeds: the t quantile is {g.t_quantile:.2f}."
    return f"{sentence} {decay_sentence(result)}"


def decay_sentence(result: LateWindowGap) -> str:
    """Whether curve fits with offsets are reported, and the evidence for or against."""
    s = result.slope
    slope_text = "no slope (one probe step in the window)" if s is None else (
        f"window slope {s.mean:+.3g}/step [{s.low:+.3g}, {s.high:+.3g}]")
    if result.decaying_from_above:
        return (f"Curve fits with offsets: reported, since the gap peaks at step {result.peak_step:g}, before the window, "
                f"and still falls within it ({slope_text}).")
    if not result.peak_before_window:
        reason = f"the gap's peak (step {result.peak_step:g}) is not before the window"
    elif s is None:
        reason = "the window holds one probe step, so no slope within it can be measured"
    else:
        reason = f"the {slope_text} does not lie below 0"
    return f"Curve fits with offsets: not reported, the gap is not seen decaying from above ({reason})."
