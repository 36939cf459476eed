"""Synthetic gap curves with known truth, for tests, coverage simulations, the benchmark and the docs example.

Each seed's curve = family curve with the population parameters + a per-seed offset shift ~ N(0, seed_sd)
+ stationary AR(1) noise with marginal sd `noise_sd` and lag-1 correlation `rho`. The truth reported for the
offset is the population offset (what an interval over seeds should cover).
"""

from __future__ import annotations

import numpy as np

from modinterp.analysis.models import get_model
from modinterp.analysis.series import GapSeries
from modinterp.atomic import atomic_write_text

# Two truths shaped like the original's embed+aux minus baseline gap (~0.19 at step 1k, ~0.04 at step 61k on
# 61 points every 1000 steps): one that persists (exponential to +0.04) and one that vanishes (power law to 0:
# 0.19 * ((t + 2000) / 3000)^-0.51 is 0.040 at t = 61k and keeps falling).
PRESETS = {
    "persistent": {"model": "exponential", "params": {"offset": 0.04, "amplitude": 0.15, "tau": 10000.0}},
    "vanishing": {"model": "power_law", "params": {"offset": 0.0, "amplitude": 0.19, "alpha": 0.51, "t0": 2000.0}},
}
ORIGINAL_LIKE = PRESETS["persistent"]


def ar1_noise(rng: np.random.Generator, shape: tuple[int, int], sd: float, rho: float) -> np.ndarray:
    """Stationary AR(1) series along the last axis with marginal standard deviation `sd`."""
    if not 0 <= rho < 1:
        raise ValueError(f"rho={rho} must be in [0, 1)")
    shocks = rng.standard_normal(shape) * sd * np.sqrt(1 - rho**2)
    out = np.empty(shape)
    out[..., 0] = rng.standard_normal(shape[:-1]) * sd
    for i in range(1, shape[-1]):
        out[..., i] = rho * out[..., i - 1] + shocks[..., i]
    return out


def synthetic_gap(
    model: str = ORIGINAL_LIKE["model"],
    params: dict[str, float] | None = None,
    steps: np.ndarray | None = None,
    n_seeds: int = 3,
    noise_sd: float = 0.02,
    rho: float = 0.7,
    seed_sd: float = 0.01,
    seed: int = 0,
) -> GapSeries:
    """A seeded synthetic GapSeries; defaults give 61 points every 1000 steps shaped like the original's gap."""
    family = get_model(model)
    params = dict(params or ORIGINAL_LIKE["params"])
    missing = [n for n in family.param_names if n not in params]
    if missing:
        raise ValueError(f"params for {model} lack {missing}; expected {list(family.param_names)}")
    steps = np.arange(1, 62) * 1000.0 if steps is None else np.asarray(steps, dtype=float)
    rng = np.random.default_rng(seed)
    truth = family.predict(steps, np.array([params[n] for n in family.param_names]), float(steps[0]))
    shifts = rng.standard_normal((n_seeds, 1)) * seed_sd
    values = truth + shifts + ar1_noise(rng, (n_seeds, steps.size), noise_sd, rho)
    return GapSeries(f"synthetic {model}", [str(s) for s in range(n_seeds)], steps, values)


def write_series_csv(series: GapSeries, path) -> None:
    """Write a GapSeries as `seed,step,value` rows (the CSV format `modinterp analyze gap` reads)."""
    lines = ["seed,step,value"]
    for seed, row in zip(series.seeds, series.values):
        lines += [f"{seed},{int(step)},{value:.6f}" for step, value in zip(series.steps, row)]
    atomic_write_text(path, "\n".join(lines) + "\n")
