"""Benchmark of modinterp.analysis: bootstrap speed against a curve_fit multi-start baseline, and interval coverage.

    python bench/analysis.py [--json OUT] [--quick] [--no-coverage]

Speed: 5,000 hierarchical-bootstrap replicates of all three families on one 61-point, 3-seed synthetic series
(vectorised variable projection), against scipy.optimize.curve_fit with several starts per replicate (the
original's approach) on a subset, extrapolated to 5,000 as a ratio. Quality: how often each side reaches the lower
residual sum of squares on the shared subset.
Coverage: fraction of simulated data sets (known offset) whose 95% offset interval covers the truth, per method,
for 3 and 5 seeds; truths are the `persistent` and `vanishing` presets of modinterp.analysis.synth.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from modinterp.analysis.bootstrap import METHODS, resample_curves
from modinterp.analysis.coverage import simulate_coverage
from modinterp.analysis.fit import fit_curve
from modinterp.analysis.models import MODELS
from modinterp.analysis.synth import PRESETS, synthetic_gap
from modinterp.analysis.varpro import FitBounds, fit_batch

# Multi-start grids for the baseline (the original used a 36-start grid for the double exponential).
_BASELINE_STARTS = {
    "exponential": [(a, tau) for a in (0.05, 0.2) for tau in (3e3, 1e4, 4e4)],
    "power_law": [(a, al, t0) for a in (0.5, 5.0) for al in (0.3, 1.0) for t0 in (1e3, 1e4)],
    "double_exponential": [(a1, a2, t1, t2) for a1 in (0.05, 0.15) for a2 in (0.02, 0.1) for t1 in (1e3, 5e3, 2e4) for t2 in (2e4, 6e4, 1.5e5)],
}


def _baseline_fn(name):
    if name == "exponential":
        return lambda t, c, a, tau: c + a * np.exp(-t / tau)
    if name == "power_law":
        return lambda t, c, a, al, t0: c + a * (t + t0) ** (-al)
    return lambda t, c, a1, a2, t1, t2: c + a1 * np.exp(-t / t1) + a2 * np.exp(-t / t2)


def _baseline_bounds(name: str, t_max: float):
    """The original's hard-coded bounds (original-experiment.md section 8); amplitudes of the double exponential as A."""
    if name == "exponential":
        return ([-0.5, 0.001, 100.0], [0.5, 1.0, 3 * t_max])
    if name == "power_law":
        return ([-0.5, 0.01, 0.1, 100.0], [0.5, 100.0, 2.0, t_max])
    return ([-0.5, 0.001, 0.001, 100.0, 500.0], [0.5, 1.0, 1.0, t_max, 3 * t_max])


def baseline_fit(name: str, t: np.ndarray, y: np.ndarray) -> float:
    """Bounded curve_fit (TRF) from every start in the grid, as the original; returns the best RSS (inf if all failed)."""
    fn = _baseline_fn(name)
    lower, upper = _baseline_bounds(name, float(t[-1]))
    best = np.inf
    for start in _BASELINE_STARTS[name]:
        p0 = np.clip((float(y[-5:].mean()), *start), np.array(lower) + 1e-9, np.array(upper) - 1e-9)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                popt, _ = curve_fit(fn, t, y, p0=p0, bounds=(lower, upper), maxfev=1000)
            rss = float(np.sum((fn(t, *popt) - y) ** 2))
            best = min(best, rss) if np.isfinite(rss) else best
        except (RuntimeError, ValueError):
            continue
    return best


def bench_speed(n_rep: int, n_baseline: int) -> list[dict]:
    series = synthetic_gap(seed=0)
    t, values = series.time, series.values
    bounds = FitBounds.from_values(values)
    rows = []
    for k, (name, model) in enumerate(MODELS.items()):
        fitted = fit_curve(model, t, series.mean, bounds=bounds).predict(t)
        start = time.perf_counter()
        curves = resample_curves("hierarchical", values, fitted, n_rep, np.random.default_rng(k))
        fits = fit_batch(model, t, curves, bounds)
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        base_rss = np.array([baseline_fit(name, t, y) for y in curves[:n_baseline]])
        base_per_rep = (time.perf_counter() - start) / n_baseline
        ours_rss = fits.rss[:n_baseline]
        rows.append(
            {
                "model": name,
                "replicates": n_rep,
                "ours_s": ours_s,
                "ours_failed": fits.n_failed,
                "baseline_subset": n_baseline,
                "baseline_starts": len(_BASELINE_STARTS[name]),
                "baseline_s_extrapolated": base_per_rep * n_rep,
                "speedup": base_per_rep * n_rep / ours_s,
                "ours_lower_or_equal_rss": float(np.mean(ours_rss <= base_rss * (1 + 1e-6))),
                "baseline_failed": int(np.sum(~np.isfinite(base_rss))),
                "median_rss_ratio_baseline_over_ours": float(np.median(base_rss / ours_rss)),
                "max_relative_rss_excess_of_ours": float(np.max(ours_rss / base_rss - 1)),
            }
        )
    return rows


# (label, truth preset, fitted family, methods): correct-family cases for every method, plus a misspecified one.
_COVERAGE_CASES = (
    ("persistent/exponential", "persistent", "exponential", METHODS),
    ("vanishing/power_law", "vanishing", "power_law", ("seed_t", "hierarchical")),
    ("vanishing/exponential", "vanishing", "exponential", ("seed_t", "hierarchical")),
)


def bench_coverage(n_datasets: int, n_boot: int, seeds: tuple[int, ...]) -> list[dict]:
    rows = []
    for label, preset, fit_model, methods in _COVERAGE_CASES:
        truth = PRESETS[preset]
        for n_seeds in seeds:
            start = time.perf_counter()
            res = simulate_coverage(n_datasets=n_datasets, n_seeds=n_seeds, methods=methods, n_boot=n_boot,
                                    model=truth["model"], params=truth["params"], fit_model=fit_model)
            for method in methods:
                rows.append({"case": label, "truth": truth, "fit_model": fit_model, "n_seeds": n_seeds, "method": method,
                             "coverage": res.coverage[method], "median_width": res.median_width[method], "n_datasets": n_datasets,
                             "n_boot": n_boot, "failed_point_fits": res.n_failed_point_fits,
                             "failed_replicates": res.n_failed_replicates[method], "seconds_for_all_methods": time.perf_counter() - start})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write results here")
    parser.add_argument("--quick", action="store_true", help="500 replicates, 20 data sets (a smoke run)")
    parser.add_argument("--no-coverage", action="store_true", help="skip the coverage simulation")
    args = parser.parse_args()
    n_rep, n_base = (500, 10) if args.quick else (5000, 50)
    speed = bench_speed(n_rep, n_base)
    print(f"\nSpeed: {n_rep} hierarchical-bootstrap replicates, 61 points x 3 seeds (baseline: curve_fit multi-start on {n_base})")
    print(f"{'model':<20}{'ours s':>9}{'failed':>8}{'starts':>8}{'baseline s (extrap.)':>22}{'speed-up':>10}{'ours RSS <= base':>18}{'worst excess':>14}")
    for r in speed:
        print(f"{r['model']:<20}{r['ours_s']:>9.2f}{r['ours_failed']:>8}{r['baseline_starts']:>8}{r['baseline_s_extrapolated']:>22.1f}"
              f"{r['speedup']:>9.1f}x{r['ours_lower_or_equal_rss']:>17.0%}{r['max_relative_rss_excess_of_ours']:>14.1e}")
    total = sum(r["ours_s"] for r in speed)
    print(f"{'all three':<20}{total:>9.2f}{'':>38}{sum(r['baseline_s_extrapolated'] for r in speed) / total:>9.1f}x")
    out = {"speed": speed, "speed_total_s": total}
    if not args.no_coverage:
        n_data, n_boot = (20, 100) if args.quick else (200, 300)
        coverage = bench_coverage(n_data, n_boot, (3, 5))
        print(f"\nCoverage of the 95% offset interval over {n_data} simulated data sets (bootstrap: {n_boot} replicates)")
        print(f"{'truth/fitted family':<24}{'seeds':>6}{'method':>14}{'coverage':>10}{'median width':>14}")
        for r in coverage:
            print(f"{r['case']:<24}{r['n_seeds']:>6}{r['method']:>14}{r['coverage']:>10.1%}{r['median_width']:>14.4f}")
        out["coverage"] = coverage
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
