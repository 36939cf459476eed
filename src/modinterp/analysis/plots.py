"""PNG plots of one analysed series (the dict from `analyse_series`): fits with bands, prefix forecasts, horizons.

Each `plot_*(result, path)` writes one file and returns its path; `*_figure(result)` returns the matplotlib Figure
instead (for report.html's FigureBlock.from_figure). The caller closes figures it asks for.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from modinterp.analysis.fit import fit_curve  # noqa: E402
from modinterp.analysis.models import get_model  # noqa: E402
from modinterp.analysis.varpro import FitBounds  # noqa: E402
from modinterp.atomic import atomic_write  # noqa: E402

_COLOURS = {"exponential": "tab:blue", "power_law": "tab:orange", "double_exponential": "tab:green"}


def _curve(result: dict, name: str, grid: np.ndarray) -> np.ndarray:
    fit = result["models"][name]["fit"]
    model = get_model(name)
    if not fit["params"]:
        return np.full(grid.shape, np.nan)
    params = np.array([fit["params"][p] for p in model.param_names])
    return model.predict(grid, params, fit["t_first"])


def _finite(x) -> bool:
    """False for None (a failed fit after a JSON round trip) and NaN/inf."""
    return x is not None and bool(np.isfinite(x))


def _fmt(x) -> str:
    return f"{x:.3f}" if _finite(x) else "n/a"


def _save(fig, path) -> Path:
    """Write `fig` as a PNG at `path` atomically (a killed command leaves the old file or the new one) and close it."""
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    finally:
        plt.close(fig)


def gap_fits_figure(result: dict):
    """Per-seed gap curves, their mean, each model's fit (extrapolated) with its bootstrap band and offset interval."""
    t = np.asarray(result["time"])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for seed, row in zip(result["seeds"], result["values"]):
        ax.plot(t, row, color="0.7", lw=0.8, label="per seed" if seed == result["seeds"][0] else None)
    ax.plot(t, result["mean"], "k.", ms=4, label="seed mean")
    for name, m in result["models"].items():
        colour = _COLOURS.get(name, None)
        band = m.get("band") or {}
        grid = np.asarray(band.get("time") or np.linspace(t[0], t[-1], 120))
        if band.get("low"):
            ax.fill_between(grid, band["low"], band["high"], color=colour, alpha=0.15)
        label = f"{name}: offset {_fmt(m['offset'])} [{_fmt(m['offset_ci_low'])}, {_fmt(m['offset_ci_high'])}]"
        ax.plot(grid, _curve(result, name, grid), color=colour, lw=1.5, label=label)
        if _finite(m["offset"]):
            ax.axhline(m["offset"], color=colour, lw=0.8, ls=":")
    values = np.asarray(result["values"])
    spread = float(values.max() - values.min()) or 1.0
    ax.set_ylim(min(values.min(), 0) - 0.3 * spread, values.max() + 0.3 * spread)  # extrapolated bands can explode
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(t[-1], color="k", lw=0.5, ls="--")
    ax.set_xlabel(result["time_label"])
    ax.set_ylabel("gap")
    band_methods = {(m.get("band") or {}).get("method") for m in result["models"].values()} - {None}
    ax.set_title(f"{result['label']} (bands: {', '.join(sorted(band_methods)) or 'none'} bootstrap; CI: {result['primary_method']})", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    return fig


def prefix_predictions_figure(result: dict):
    """For each prefix fraction, each model's forecast from the prefix fit against the held-out mean curve."""
    t, mean = np.asarray(result["time"]), np.asarray(result["mean"])
    names = list(result["models"])
    fractions = [row["fraction"] for row in result["models"][names[0]]["prefix_cv"]]
    fig, axes = plt.subplots(1, len(fractions), figsize=(3.2 * len(fractions), 3.2), sharey=True, squeeze=False)
    bounds = FitBounds(**result["bounds"])
    loss = result["config"]["loss"]
    for ax, fraction in zip(axes[0], fractions):
        n = next(r["n_train"] for r in result["models"][names[0]]["prefix_cv"] if r["fraction"] == fraction)
        ax.plot(t[:n], mean[:n], "k.", ms=3)
        ax.plot(t[n:], mean[n:], ".", color="0.6", ms=3)
        for name in names:
            fit = fit_curve(name, t[:n], mean[:n], loss=loss, bounds=bounds)
            rmse = next(r["rmse"] for r in result["models"][name]["prefix_cv"] if r["fraction"] == fraction)
            score = "fit failed" if rmse is None or not fit.success else f"rmse {rmse:.3f}"  # None: JSON null of a failed fit
            ax.plot(t, fit.predict(t), color=_COLOURS.get(name), lw=1.2, label=f"{name} {score}")
        ax.axvline(t[n - 1], color="k", lw=0.5, ls="--")
        ax.set_title(f"fit on the first {fraction:.0%} of steps", fontsize=9)
        ax.set_xlabel(result["time_label"])
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("gap (seed mean)")
    fig.suptitle(result["label"], fontsize=9)
    return fig


def _interval_bars(ax, x, y, low, high, colour, label) -> None:
    """Estimates joined by a line, each with its interval drawn from `low` to `high` as given.

    Not `errorbar(yerr=[y - low, high - y])`: an interval need not contain its point estimate (the seed-t
    interval is centred on the mean of per-seed fits, a percentile bootstrap on its replicates' quantiles, the
    point on the fit of the seed-mean curve), and a negative error length makes matplotlib raise.
    """
    ax.vlines(x, low, high, color=colour, lw=1.2)
    ax.plot(np.concatenate([x, x]), np.concatenate([low, high]), "_", ms=6, color=colour)
    ax.plot(x, y, "o-", ms=4, color=colour, label=label)


def horizon_stability_figure(result: dict):
    """Offset estimate and primary interval against the fraction of training used, one line per model."""
    fig, ax = plt.subplots(figsize=(6, 4))
    width = 0.012
    for k, (name, m) in enumerate(result["models"].items()):
        rows = m["horizon"]
        x = np.array([r["fraction"] for r in rows]) + (k - 1) * width
        y = np.array([r["offset"] for r in rows], dtype=float)
        lo = np.array([r["offset_ci_low"] for r in rows], dtype=float)
        hi = np.array([r["offset_ci_high"] for r in rows], dtype=float)
        _interval_bars(ax, x, y, lo, hi, _COLOURS.get(name), name)
    values = np.asarray(result["values"])
    spread = float(values.max() - values.min()) or 1.0
    ax.set_ylim(min(values.min(), 0) - 0.5 * spread, values.max() + 0.5 * spread)  # wide intervals run off the axes
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("share of training used (of the step range)")
    ax.set_ylabel(f"offset ({result['primary_method']} {int(100 * result['config']['level'])}% interval)")
    ax.set_title(result["label"], fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_gap_fits(result: dict, path) -> Path:
    """Write `gap_fits_figure` as a PNG."""
    return _save(gap_fits_figure(result), path)


def plot_prefix_predictions(result: dict, path) -> Path:
    """Write `prefix_predictions_figure` as a PNG."""
    return _save(prefix_predictions_figure(result), path)


def plot_horizon_stability(result: dict, path) -> Path:
    """Write `horizon_stability_figure` as a PNG."""
    return _save(horizon_stability_figure(result), path)


def write_plots(result: dict, folder, stem: str) -> list[Path]:
    """All three plots for one series, named `<stem>_fits.png`, `<stem>_prefix.png`, `<stem>_horizon.png`."""
    folder = Path(folder)
    return [
        plot_gap_fits(result, folder / f"{stem}_fits.png"),
        plot_prefix_predictions(result, folder / f"{stem}_prefix.png"),
        plot_horizon_stability(result, folder / f"{stem}_horizon.png"),
    ]
