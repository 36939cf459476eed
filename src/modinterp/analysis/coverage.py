"""Coverage simulation: how often does each interval method's 95% interval contain the true offset?

Data sets come from `synthetic_gap` (per-seed offset shifts + AR(1) noise), so the truth is known. Used by the
slow test and by `bench/analysis.py --coverage` to justify the default interval method (docs/analysis.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modinterp.analysis.bootstrap import METHODS, bootstrap_interval, seed_t_interval
from modinterp.analysis.fit import fit_curve
from modinterp.analysis.models import get_model
from modinterp.analysis.synth import ORIGINAL_LIKE, synthetic_gap
from modinterp.analysis.varpro import FitBounds


@dataclass
class CoverageResult:
    """Per method: fraction of data sets whose interval covered the truth, median width, failed point fits."""

    n_seeds: int
    n_datasets: int
    truth: float
    coverage: dict[str, float]
    median_width: dict[str, float]
    n_failed_point_fits: int
    n_failed_replicates: dict[str, int]


def simulate_coverage(
    n_datasets: int = 200,
    n_seeds: int = 5,
    methods: tuple[str, ...] = METHODS,
    n_boot: int = 500,
    model: str = "exponential",
    params: dict[str, float] | None = None,
    fit_model: str | None = None,
    noise_sd: float = 0.02,
    rho: float = 0.7,
    seed_sd: float = 0.01,
    seed: int = 0,
    level: float = 0.95,
    progress=None,
) -> CoverageResult:
    """Draw `n_datasets` synthetic data sets from `model` with `params`, fit `fit_model` (default: the same family)
    and count how often each method's interval covers the true offset."""
    family = get_model(fit_model or model)
    params = dict(params or ORIGINAL_LIKE["params"])
    truth = params["offset"]
    hits = {m: 0 for m in methods}
    widths: dict[str, list[float]] = {m: [] for m in methods}
    failed_reps = {m: 0 for m in methods}
    failed_points = 0
    for i in range(n_datasets):
        series = synthetic_gap(model, params, n_seeds=n_seeds, noise_sd=noise_sd, rho=rho, seed_sd=seed_sd, seed=seed * 1_000_003 + i)
        bounds = FitBounds.from_values(series.values)
        fit = fit_curve(family, series.time, series.mean, bounds=bounds)
        if not fit.success:
            failed_points += 1  # counted as a miss for every method: a failed fit gives no interval
            continue
        rng = np.random.default_rng([seed, i])
        for method in methods:
            if method == "seed_t":
                interval = seed_t_interval(family, series.time, series.values, bounds, level)
            else:
                interval, _ = bootstrap_interval(family, series.time, series.values, fit.predict(series.time), method, n_boot, rng, bounds, level)
            hits[method] += interval.contains(truth)
            widths[method].append(interval.offset_high - interval.offset_low)
            failed_reps[method] += interval.n_failed
        if progress is not None:
            progress()
    return CoverageResult(
        n_seeds=n_seeds,
        n_datasets=n_datasets,
        truth=truth,
        coverage={m: hits[m] / n_datasets for m in methods},
        median_width={m: float(np.median(widths[m])) if widths[m] else float("nan") for m in methods},
        n_failed_point_fits=failed_points,
        n_failed_replicates=failed_reps,
    )
