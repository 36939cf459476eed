"""Uncertainty of the offset and time scale: resampling schemes and the few-seed t-interval.

Schemes (each yields replicate seed-mean curves that are refitted in one vectorised batch):
- `seed`: resample whole seeds with replacement (cluster bootstrap; only C(2S-1, S) distinct draws).
- `block`: moving-block bootstrap of each seed's residuals around the fitted mean curve (time dependence kept).
- `hierarchical`: seeds resampled, then blocks of residuals within each drawn seed.
- `point`: the original's scheme, one seed drawn independently at every time step (for comparison only).
Plus `seed_t`: fit every seed separately; mean-curve estimate +- t_{S-1} * sd(per-seed estimates)/sqrt(S).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from modinterp.analysis.models import CurveModel
from modinterp.analysis.varpro import BatchFit, FitBounds, fit_batch

RESAMPLING = ("seed", "block", "hierarchical", "point")
METHODS = RESAMPLING + ("seed_t",)


@dataclass
class Interval:
    """A 95% (or `level`) interval for the offset and the time scale from one method, with its failure count."""

    method: str
    offset_low: float
    offset_high: float
    time_scale_low: float
    time_scale_high: float
    n_replicates: int
    n_failed: int
    level: float
    note: str = ""
    centre: float = math.nan  # seed_t: the per-seed mean the interval is centred on

    def contains(self, value: float) -> bool:
        return bool(self.offset_low <= value <= self.offset_high)

    def to_dict(self) -> dict:
        return asdict(self)


def block_length(residuals: np.ndarray) -> int:
    """Block length from the pooled lag-1 autocorrelation rho of residuals: the AR(1) integrated time (1+rho)/(1-rho).

    Clipped to [1, T // 4] so a 61-point series keeps at least four blocks.
    """
    resid = residuals - residuals.mean(axis=1, keepdims=True)
    denom = float(np.sum(resid[:, :-1] ** 2))
    rho = float(np.sum(resid[:, 1:] * resid[:, :-1]) / denom) if denom > 0 else 0.0
    rho = min(max(rho, 0.0), 0.95)
    return int(np.clip(math.ceil((1 + rho) / (1 - rho)), 1, max(1, residuals.shape[1] // 4)))


def moving_block_indices(rng: np.random.Generator, n_rep: int, n_series: int, n_t: int, block: int) -> np.ndarray:
    """(n_rep, n_series, n_t) time indices made of consecutive blocks of length `block` with uniform starts."""
    n_blocks = -(-n_t // block)
    starts = rng.integers(0, n_t - block + 1, size=(n_rep, n_series, n_blocks))
    idx = (starts[..., None] + np.arange(block)).reshape(n_rep, n_series, n_blocks * block)
    return idx[..., :n_t]


def resample_curves(
    scheme: str, values: np.ndarray, fitted_mean: np.ndarray, n_rep: int, rng: np.random.Generator, block: int | None = None
) -> np.ndarray:
    """Replicate curves (n_rep, T) to refit, for one resampling scheme; `values` is (S, T)."""
    n_seeds, n_t = values.shape
    rows = np.arange(n_t)
    if scheme == "seed":
        draw = rng.integers(0, n_seeds, size=(n_rep, n_seeds))
        return values[draw].mean(axis=1)
    if scheme == "point":
        draw = rng.integers(0, n_seeds, size=(n_rep, n_t))
        return values[draw, rows]
    residuals = values - fitted_mean
    block = block or block_length(residuals)
    if scheme == "block":
        idx = moving_block_indices(rng, n_rep, n_seeds, n_t, block)
        picked = residuals[np.arange(n_seeds)[None, :, None], idx]
        return fitted_mean + picked.mean(axis=1)
    if scheme == "hierarchical":
        draw = rng.integers(0, n_seeds, size=(n_rep, n_seeds))
        idx = moving_block_indices(rng, n_rep, n_seeds, n_t, block)
        picked = residuals[draw[..., None], idx]
        return fitted_mean + picked.mean(axis=1)
    raise ValueError(f"unknown resampling scheme {scheme!r}; expected one of {RESAMPLING}")


def bootstrap_interval(
    model: CurveModel,
    t: np.ndarray,
    values: np.ndarray,
    fitted_mean: np.ndarray,
    scheme: str,
    n_rep: int,
    rng: np.random.Generator,
    bounds: FitBounds,
    level: float = 0.95,
    refit=None,
) -> tuple[Interval, BatchFit]:
    """Percentile interval of the refitted offset and time scale; returns the interval and the replicate fits.

    `refit(curves) -> BatchFit` may replace the plain least-squares batch fit (e.g. with a robust loss).
    """
    curves = resample_curves(scheme, values, fitted_mean, n_rep, rng)
    fits = refit(curves) if refit is not None else fit_batch(model, t, curves, bounds)
    ok = fits.success
    q = [50 * (1 - level), 50 * (1 + level)]
    if ok.sum() >= 2:
        off = np.percentile(fits.offset[ok], q)
        ts = np.percentile(fits.time_scale[ok], q)
    else:
        off = ts = [math.nan, math.nan]
    note = f"{fits.at_bound[ok].mean():.0%} of replicates have the offset or a nonlinear parameter at its range edge" if ok.any() else ""
    interval = Interval(scheme, float(off[0]), float(off[1]), float(ts[0]), float(ts[1]), n_rep, fits.n_failed, level, note)
    return interval, fits


def seed_t_interval(model: CurveModel, t: np.ndarray, values: np.ndarray, bounds: FitBounds, level: float = 0.95, refit=None) -> Interval:
    """Textbook t-interval over per-seed fits: mean of the S per-seed estimates +- t_{S-1} * sd / sqrt(S).

    With few seeds this keeps close to nominal coverage where a percentile seed bootstrap cannot (see
    docs/analysis.md). It is centred on the per-seed mean, not on the fit of the mean curve: in the coverage
    simulation that centring stayed at nominal when the offset is weakly identified (power law), the other did not.
    The time-scale interval is formed on the log scale (time scales are positive and skewed).
    """
    fits = refit(values) if refit is not None else fit_batch(model, t, values, bounds)
    ok = fits.success
    n_ok = int(ok.sum())
    if n_ok < 2:
        return Interval("seed_t", math.nan, math.nan, math.nan, math.nan, values.shape[0], fits.n_failed, level, "fewer than 2 seeds fitted")
    crit = stats.t.ppf(0.5 + level / 2, df=n_ok - 1)
    offsets, log_ts = fits.offset[ok], np.log(fits.time_scale[ok])
    centre, half = float(offsets.mean()), crit * np.std(offsets, ddof=1) / math.sqrt(n_ok)
    centre_ts, half_ts = float(log_ts.mean()), crit * np.std(log_ts, ddof=1) / math.sqrt(n_ok)
    return Interval(
        "seed_t",
        centre - half,
        centre + half,
        math.exp(centre_ts - half_ts),
        math.exp(centre_ts + half_ts),
        values.shape[0],
        fits.n_failed,
        level,
        f"per-seed mean {centre:.4g}; t quantile {crit:.2f} with {n_ok - 1} df",
        centre,
    )
