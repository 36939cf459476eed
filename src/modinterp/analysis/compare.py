"""Analyse one gap series under every curve family: point fits, intervals, AIC/BIC, prefix CV, horizon stability,
and a verdict (offset per model, do the intervals agree, which model forecasts best). Output is JSON-ready."""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from modinterp.analysis.bootstrap import METHODS, bootstrap_interval, seed_t_interval
from modinterp.analysis.fit import LOSSES, FitResult, fit_curve, robust_batch
from modinterp.analysis.models import MODELS, get_model
from modinterp.analysis.series import GapSeries
from modinterp.analysis.varpro import SIGNS, FitBounds


@dataclass
class AnalysisConfig:
    """Settings of one analysis; `primary` is the interval reported as offset_ci_* (None: seed_t if >= 2 seeds, else block)."""

    models: tuple[str, ...] = tuple(MODELS)
    methods: tuple[str, ...] = METHODS
    primary: str | None = None
    n_boot: int = 2000
    horizon_boot: int = 300
    loss: str = "linear"
    sign: str = "free"  # amplitude sign: free, positive (decay from above, as the original) or negative
    offset_margin: float = 1.0  # offset bounds: value range widened by this many ranges on each side
    amplitude_margin: float = 10.0  # |amplitude| bound in value ranges
    level: float = 0.95
    prefix_fractions: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)
    horizons: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0)
    final_window: float = 0.1
    extrapolate: float = 2.0  # plot bands up to this multiple of the last time
    seed: int = 0

    def __post_init__(self) -> None:
        for name in self.models:
            get_model(name)
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown interval methods {unknown}; expected a subset of {METHODS}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss={self.loss!r}; expected one of {LOSSES}")
        if self.sign not in SIGNS:
            raise ValueError(f"sign={self.sign!r}; expected one of {SIGNS}")
        if not 0 < self.level < 1:
            raise ValueError(f"level={self.level}; expected a probability such as 0.95")
        if self.primary is not None and self.primary not in self.methods:
            raise ValueError(f"primary={self.primary!r} must be one of the chosen methods {self.methods}")

    def primary_for(self, n_seeds: int) -> str:
        if self.primary is not None:
            return self.primary
        if n_seeds >= 2 and "seed_t" in self.methods:
            return "seed_t"
        return "block" if "block" in self.methods else self.methods[0]


def analyse_series(series: GapSeries, config: AnalysisConfig | None = None, progress=None) -> dict:
    """Everything the verdict table and the plots need for one series, as a JSON-ready dict."""
    config = config or AnalysisConfig()
    t, mean = series.time, series.mean
    bounds = FitBounds.from_values(series.values, config.offset_margin, config.amplitude_margin, config.sign)
    primary = config.primary_for(len(series.seeds))
    out = {
        "label": series.label,
        "seeds": list(series.seeds),
        "n_points": int(t.size),
        "time_label": series.time_label,
        "steps": series.steps.tolist(),
        "time": t.tolist(),
        "values": series.values.tolist(),
        "mean": mean.tolist(),
        "notes": list(series.notes),
        "config": asdict(config),
        "primary_method": primary,
        "bounds": asdict(bounds),
        "final_window": final_window_gap(series, config.final_window, config.level),
        "models": {},
    }
    for k, name in enumerate(config.models):
        rng = np.random.default_rng([config.seed, k])
        out["models"][name] = analyse_model(series, get_model(name), bounds, config, primary, rng)
        if progress is not None:
            progress()
    out["verdict"] = verdict(out)
    return out


def analyse_model(series: GapSeries, model, bounds: FitBounds, config: AnalysisConfig, primary: str, rng) -> dict:
    """Point fit of the seed-mean curve plus intervals, information criteria, prefix CV and horizon stability."""
    t, mean = series.time, series.mean
    fit = fit_curve(model, t, mean, loss=config.loss, bounds=bounds)
    entry = {"formula": model.formula, "fit": fit.to_dict(), "offset": fit.offset, "time_scale": fit.time_scale, "aic": fit.aic, "bic": fit.bic}
    entry["bic_n_eff"] = bic_effective(fit, t, mean)
    intervals, band = {}, None
    if fit.success or fit.params:
        refit = None if config.loss == "linear" else (lambda c: robust_batch(model, t, c, bounds, config.loss))
        for method in config.methods:
            interval, fits = _interval(method, model, series, fit, bounds, config.n_boot, rng, config.level, refit)
            intervals[method] = interval.to_dict()
            if fits is not None and (band is None or method == "hierarchical"):
                band = _prediction_band(model, fits, t, config, method)
    entry["intervals"] = intervals
    chosen = intervals.get(primary, {})
    entry.update(
        ci_method=primary,
        offset_ci_low=chosen.get("offset_low", math.nan),
        offset_ci_high=chosen.get("offset_high", math.nan),
        time_scale_ci_low=chosen.get("time_scale_low", math.nan),
        time_scale_ci_high=chosen.get("time_scale_high", math.nan),
        offset_seed_mean=intervals.get("seed_t", {}).get("centre", math.nan),
        band=band,
    )
    entry["prefix_cv"] = prefix_cv(model, series, bounds, config)
    rmses = [p["rmse"] for p in entry["prefix_cv"] if p["success"]]
    entry["prefix_rmse_mean"] = float(np.mean(rmses)) if len(rmses) == len(entry["prefix_cv"]) and rmses else math.nan
    entry["horizon"] = horizon_stability(model, series, bounds, config, primary, rng)
    return entry


def _interval(method, model, series, fit: FitResult, bounds, n_boot, rng, level, refit):
    """One interval method; returns (Interval, replicate BatchFit or None)."""
    if method == "seed_t":
        return seed_t_interval(model, series.time, series.values, bounds, level, refit), None
    return bootstrap_interval(model, series.time, series.values, fit.predict(series.time), method, n_boot, rng, bounds, level, refit)


def _prediction_band(model, fits, t, config: AnalysisConfig, method: str) -> dict:
    """Pointwise percentile band of replicate curves on the observed axis extended to `extrapolate` x the end."""
    grid = np.linspace(t[0], t[0] + config.extrapolate * (t[-1] - t[0]), 120)
    ok = fits.success
    if ok.sum() < 2:
        return {"method": method, "time": grid.tolist(), "low": [], "high": []}
    curves = model.predict(grid, fits.params[ok], float(t[0]))
    q = [50 * (1 - config.level), 50 * (1 + config.level)]
    low, high = np.percentile(curves, q, axis=0)
    return {"method": method, "time": grid.tolist(), "low": low.tolist(), "high": high.tolist()}


def bic_effective(fit: FitResult, t: np.ndarray, y: np.ndarray) -> float:
    """BIC with n replaced by n_eff = n(1-rho)/(1+rho), rho the lag-1 autocorrelation of the residuals."""
    if not fit.params:
        return math.inf
    return _bic_from_resid(y - fit.predict(t), fit.n_params)


def _bic_from_resid(resid: np.ndarray, k: int) -> float:
    n = resid.size
    r = resid - resid.mean()
    rho = float(np.sum(r[1:] * r[:-1]) / np.sum(r * r)) if np.sum(r * r) > 0 else 0.0
    n_eff = max(n * (1 - max(rho, 0.0)) / (1 + max(rho, 0.0)), k + 1.0)
    rss_per_point = float(np.mean(resid**2))
    return n_eff * math.log(max(rss_per_point, 1e-300)) + k * math.log(n_eff)


def prefix_cv(model, series: GapSeries, bounds: FitBounds, config: AnalysisConfig) -> list[dict]:
    """Fit the mean curve over the first fraction of training (of the step range), score the forecast RMSE on the
    rest (rolling origin)."""
    t, y = series.time, series.mean
    rows = []
    for fraction in config.prefix_fractions:
        n = series.points_within(fraction)
        res = fit_curve(model, t[:n], y[:n], loss=config.loss, bounds=bounds)
        ok = res.success and n < t.size
        rmse = float(np.sqrt(np.mean((res.predict(t[n:]) - y[n:]) ** 2))) if ok else math.nan
        rows.append({"fraction": fraction, "n_train": n, "rmse": rmse, "success": bool(ok), "message": res.message, "offset": res.offset})
    return rows


def horizon_stability(model, series: GapSeries, bounds: FitBounds, config: AnalysisConfig, primary: str, rng) -> list[dict]:
    """The offset estimate and its primary interval when only the first 20..100% of training (of the step range)
    is used."""
    rows = []
    for fraction in config.horizons:
        n = series.points_within(fraction)
        part = series.prefix(n)
        fit = fit_curve(model, part.time, part.mean, loss=config.loss, bounds=bounds)
        row = {"fraction": fraction, "n_points": n, "step_end": float(part.steps[-1]), "offset": fit.offset, "success": fit.success, "message": fit.message}
        if fit.success:
            refit = None if config.loss == "linear" else (lambda c, tt=part.time: robust_batch(model, tt, c, bounds, config.loss))
            interval, _ = _interval(primary, model, part, fit, bounds, config.horizon_boot, rng, config.level, refit)
            row.update(offset_ci_low=interval.offset_low, offset_ci_high=interval.offset_high, n_failed=interval.n_failed)
        else:
            row.update(offset_ci_low=math.nan, offset_ci_high=math.nan, n_failed=None)
        rows.append(row)
    return rows


def _best_forecaster(models: dict) -> tuple[str | None, list[float]]:
    """Lowest mean prefix-CV RMSE over the fractions at which every successfully fitted model produced a forecast."""
    fitted = {name: m for name, m in models.items() if m["fit"]["success"]}
    if not fitted:
        return None, []
    fractions = [row["fraction"] for row in next(iter(fitted.values()))["prefix_cv"]]
    common = [f for f in fractions if all(any(r["fraction"] == f and r["success"] for r in m["prefix_cv"]) for m in fitted.values())]
    if not common:
        return None, []
    score = {name: np.mean([r["rmse"] for r in m["prefix_cv"] if r["fraction"] in common]) for name, m in fitted.items()}
    return min(score, key=score.get), common


def final_window_gap(series: GapSeries, fraction: float, level: float) -> dict:
    """Model-free check: mean gap over the last `fraction` of training (of the step range), per seed, with a
    t-interval across seeds."""
    n = series.points_after(fraction)
    per_seed = series.values[:, -n:].mean(axis=1)
    centre = float(per_seed.mean())
    if per_seed.size < 2:
        return {"n_points": n, "mean": centre, "ci_low": math.nan, "ci_high": math.nan, "per_seed": per_seed.tolist()}
    half = stats.t.ppf(0.5 + level / 2, per_seed.size - 1) * per_seed.std(ddof=1) / math.sqrt(per_seed.size)
    return {"n_points": n, "step_from": float(series.steps[-n]), "mean": centre, "ci_low": centre - half, "ci_high": centre + half, "per_seed": per_seed.tolist()}


def verdict(analysis: dict) -> dict:
    """Offsets and primary intervals per model, whether all intervals overlap, and the best forecaster by prefix CV."""
    models = analysis["models"]
    rows = []
    for name, m in models.items():
        lo, hi = m["offset_ci_low"], m["offset_ci_high"]
        rows.append(
            {
                "model": name,
                "offset": m["offset"],
                "ci_low": lo,
                "ci_high": hi,
                "ci_method": m["ci_method"],
                "contains_zero": bool(lo <= 0 <= hi) if np.isfinite([lo, hi]).all() else None,
                "offset_inside_ci": bool(lo <= m["offset"] <= hi) if np.isfinite([lo, hi, m["offset"]]).all() else None,
                "fit_success": m["fit"]["success"],
                "at_bound": list(m["fit"].get("at_bound", [])),
                "bic": m["bic"],
                "prefix_rmse_mean": m["prefix_rmse_mean"],
                "time_scale": m["time_scale"],
                "time_scale_ci_low": m.get("time_scale_ci_low", math.nan),
                "time_scale_ci_high": m.get("time_scale_ci_high", math.nan),
            }
        )
    usable = [r for r in rows if r["fit_success"] and np.isfinite([r["ci_low"], r["ci_high"]]).all()]
    agree = all(a["ci_low"] <= b["ci_high"] and b["ci_low"] <= a["ci_high"] for a, b in itertools.combinations(usable, 2))
    best_cv, common = _best_forecaster(models)
    by_bic = [r for r in rows if r["fit_success"] and np.isfinite(r["bic"])]
    best_bic = min(by_bic, key=lambda r: r["bic"])["model"] if by_bic else None
    zero_calls = {r["contains_zero"] for r in usable}
    return {
        "rows": rows,
        "intervals_agree": bool(agree) if len(usable) >= 2 else None,
        "agree_on_zero": (len(zero_calls) == 1) if len(usable) >= 2 else None,
        "n_models_compared": len(usable),
        "best_prefix_cv": best_cv,
        "prefix_fractions_compared": common,
        "best_bic": best_bic,
        "n_failed_fits": sum(not r["fit_success"] for r in rows),
    }


def jsonable(obj):
    """Plain JSON types only: numpy scalars to Python, non-finite floats to null."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj
