"""Turning long-format result records into per-seed curves, seed means and final values (plain numpy data), and
the tables' headline numbers: mean over seeds ± the seed standard error, with the test-game bootstrap SE beside it."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from modinterp.analysis.late_window import seed_interval
from modinterp.studies.growth.schema import GrowthResults


@dataclass(frozen=True)
class Curve:
    """One seed's values over steps, sorted by step."""

    seed: int
    steps: np.ndarray
    values: np.ndarray


def curves(records, value: str = "r2", **match) -> list[Curve]:
    """Per-seed curves of `value` over `step` for the records whose fields equal `match` (e.g. layer="2")."""
    by_seed: dict[int, dict[int, float]] = defaultdict(dict)
    for record in records:
        if all(getattr(record, key) == wanted for key, wanted in match.items()):
            by_seed[record.seed][record.step] = getattr(record, value)
    out = []
    for seed in sorted(by_seed):
        steps = np.array(sorted(by_seed[seed]), dtype=np.int64)
        out.append(Curve(seed, steps, np.array([by_seed[seed][s] for s in steps], dtype=np.float64)))
    return out


def seed_mean(seed_curves: list[Curve]) -> tuple[np.ndarray, np.ndarray]:
    """Mean over seeds at the steps every seed has (the paired design logs the same steps for all seeds)."""
    if not seed_curves:
        return np.array([], dtype=np.int64), np.array([])
    common = seed_curves[0].steps
    for curve in seed_curves[1:]:
        common = np.intersect1d(common, curve.steps)
    stacked = np.stack([curve.values[np.searchsorted(curve.steps, common)] for curve in seed_curves])
    return common, stacked.mean(axis=0)


def final_values(records, value: str = "r2", **match) -> dict[int, float]:
    """Each seed's value at its last logged step, for records matching `match`."""
    return {curve.seed: float(curve.values[-1]) for curve in curves(records, value, **match) if len(curve.steps)}


@dataclass(frozen=True)
class SeedSummary:
    """A table cell: mean over seeds, its standard error over seeds (sd / sqrt(n), the headline: seeds vary more than
    the probe-test sample), the 95% Student-t interval over seeds, and the test-game bootstrap SE beside them (each
    seed's bootstrap SE of its R² over probe-test games, averaged over seeds; NaN where not recorded)."""

    mean: float
    se: float
    low: float
    high: float
    n: int
    boot_se: float = math.nan


def seed_summary(values, boot_ses=(), level: float = 0.95) -> SeedSummary:
    """`SeedSummary` of one value per seed (and the seeds' bootstrap SEs, if any); NaN cells for no finite values."""
    values = [float(v) for v in values]
    if not values or not all(math.isfinite(v) for v in values):
        return SeedSummary(math.nan, math.nan, math.nan, math.nan, len(values))
    interval = seed_interval(values, level)
    boots = [float(b) for b in boot_ses if b is not None and math.isfinite(b)]
    return SeedSummary(interval.mean, interval.se, interval.low, interval.high, interval.n,
                       float(np.mean(boots)) if boots else math.nan)


def final_seed_profile(results: GrowthResults, condition: str, value: str = "r2") -> dict[str, SeedSummary]:
    """{layer: SeedSummary} of one condition's probe `value` at each seed's last probed step; the bootstrap SE is
    that of `r2` (recorded for the CV-alpha probe only)."""
    profile = {}
    for layer in results.layers:
        finals = final_values(results.probes, value, condition=condition, layer=layer)
        if finals:
            boots = final_values(results.probes, "r2_se", condition=condition, layer=layer) if value == "r2" else {}
            profile[layer] = seed_summary(finals.values(), [boots.get(seed) for seed in finals])
    return profile


def control_seed_profile(results: GrowthResults, condition: str, control: str) -> dict[str, SeedSummary]:
    """{layer: SeedSummary} of one control's R^2 for one condition (no bootstrap is recorded for controls)."""
    by_layer: dict[str, list[float]] = defaultdict(list)
    for record in results.controls:
        if record.condition == condition and record.control == control:
            by_layer[record.layer].append(record.r2)
    return {layer: seed_summary(by_layer[layer]) for layer in results.layers if by_layer.get(layer)}


def final_loss_summary(results: GrowthResults, condition: str, split: str) -> SeedSummary:
    """`SeedSummary` of the last logged loss of one split per seed."""
    return seed_summary(final_values(results.losses, "loss", condition=condition, split=split).values())
