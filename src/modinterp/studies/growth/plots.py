"""The growth study's figures, drawn with matplotlib's Agg canvas (no pyplot state, no display needed).

Each function takes the validated results and returns a `Figure` (`modinterp.report.html.figure_png` renders one).
Colours are fixed per condition (in the order of `results.conditions`) so every figure reads the same way.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from modinterp.studies.growth.aggregate import SeedSummary, control_seed_profile, curves, final_seed_profile, seed_mean
from modinterp.studies.growth.config import study_conditions
from modinterp.studies.growth.schema import GrowthResults

R2_FLOOR = -0.5  # R² panels show at most this far below 0; a collapsed control (R² -57,404) would flatten the rest
METRIC_LABELS = {"r2_nonlinear": "passthrough-free (nonlinear part)", "r2": "raw R²"}
PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
THIN, THICK = 0.8, 2.4


def condition_colors(conditions: list[str]) -> dict[str, str]:
    """A fixed colour per condition name (its place among every condition a study can have), so a study that leaves
    one out (`baseline = false`) draws the others in the same colours."""
    every = study_conditions((False, True))
    return {name: PALETTE[(every.index(name) if name in every else i) % len(PALETTE)] for i, name in enumerate(conditions)}


def _new_figure(n_panels: int, width_per_panel: float = 5.2, height: float = 3.8) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(width_per_panel * n_panels, height), layout="constrained")
    axes = figure.subplots(1, n_panels, squeeze=False)[0]
    return figure, list(axes)


def _seed_lines(ax: Axes, seed_curves, color: str, label: str | None) -> None:
    """Thin line per seed, thick line for the mean over seeds."""
    for curve in seed_curves:
        ax.plot(curve.steps, curve.values, color=color, lw=THIN, alpha=0.45)
    steps, mean = seed_mean(seed_curves)
    if len(steps):
        ax.plot(steps, mean, color=color, lw=THICK, label=label)


def _step_axis(ax: Axes, results: GrowthResults) -> str:
    """A log-like step axis (symlog, linear below the first probe step so step 0 shows) when the study probed on the
    log schedule; returns the axis label."""
    probes = results.config.get("probes", {})
    if probes.get("schedule") != "log":
        return "step"
    ax.set_xscale("symlog", linthresh=float(probes.get("first", 10)), linscale=0.5)
    return "step (log scale above the first probe step)"


def _finish(ax: Axes, title: str, xlabel: str, ylabel: str, legend: bool = True) -> None:
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, frameon=False)


def plot_losses(results: GrowthResults) -> Figure:
    """Training loss and seed-matched validation loss per condition (thin: seeds, thick: mean, dots: full validation)."""
    colors = condition_colors(results.conditions)
    figure, (train_ax, val_ax) = _new_figure(2)
    for condition in results.conditions:
        color = colors[condition]
        _seed_lines(train_ax, curves(results.losses, "loss", condition=condition, split="train"), color, condition)
        _seed_lines(val_ax, curves(results.losses, "loss", condition=condition, split="val_quick"), color, condition)
        full = curves(results.losses, "loss", condition=condition, split="val_full")
        for curve in full:
            val_ax.plot(curve.steps, curve.values, ls="none", marker="o", ms=5, mfc="white", mec=color)
    if any(r.split == "val_full" for r in results.losses):
        val_ax.plot([], [], ls="none", marker="o", ms=5, mfc="white", mec="black", label="full validation")
    _finish(train_ax, "Training loss", "step", "loss")
    _finish(val_ax, "Validation loss (quick: lines, full: circles)", "step", "loss")
    return figure


def plot_probe_over_training(results: GrowthResults, layer: str | None = None, value: str = "r2") -> Figure:
    """Probe R^2 at one layer (default: the last embedded layer) over training, per condition."""
    layer = results.last_embedded_layer if layer is None else layer
    colors = condition_colors(results.conditions)
    figure, (ax,) = _new_figure(1, width_per_panel=7.5, height=4.2)
    for condition in results.conditions:
        _seed_lines(ax, curves(results.probes, value, condition=condition, layer=layer), colors[condition], condition)
    _finish(ax, f"Probe R² at layer {layer} over training (thin: seeds, thick: mean)", _step_axis(ax, results),
            "probe-test R²")
    return figure


def _layer_axis(ax: Axes, layers: list[str]) -> np.ndarray:
    positions = np.arange(len(layers))
    ax.set_xticks(positions, layers)
    return positions


def _runs(x: list[float]) -> list[tuple[int, int]]:
    """(start, stop) slices of x where consecutive points are one layer apart."""
    runs, start = [], 0
    for i in range(1, len(x) + 1):
        if i == len(x) or round(x[i] - x[i - 1]) != 1:
            runs.append((start, i))
            start = i
    return runs


def _profile(ax: Axes, x: list[float], cells: list[SeedSummary], color: str, label: str | None,
             marker: str = "o", **line) -> None:
    """Seed means with their 95% t-interval over seeds (no bar for one seed); lines join only neighbouring layers,
    so a 3-layer model's final LN point is not joined across the layers it does not have."""
    means = [c.mean for c in cells]
    below = [c.mean - c.low if np.isfinite(c.low) else 0.0 for c in cells]
    above = [c.high - c.mean if np.isfinite(c.high) else 0.0 for c in cells]
    ax.errorbar(x, means, yerr=[below, above], color=color, marker=marker, ms=4, capsize=3, ls="none", label=label)
    for start, stop in _runs(x):
        ax.plot(x[start:stop], means[start:stop], color=color, lw=line.get("lw", 1.5), ls=line.get("ls", "-"),
                alpha=line.get("alpha", 1.0))


def plot_final_profile(results: GrowthResults, value: str = "r2") -> Figure:
    """Final probe R^2 over layers per condition; error bars are the 95% t-interval over seeds (as the tables)."""
    colors = condition_colors(results.conditions)
    figure, (ax,) = _new_figure(1, width_per_panel=7.5, height=4.2)
    positions = _layer_axis(ax, results.layers)
    offsets = np.linspace(-0.15, 0.15, max(len(results.conditions), 1))
    for offset, condition in zip(offsets, results.conditions):
        profile = final_seed_profile(results, condition, value)
        x = [positions[results.layers.index(layer)] + offset for layer in profile]
        _profile(ax, x, list(profile.values()), colors[condition], condition)
    ax.axvline(results.layers.index(results.last_embedded_layer), color="grey", ls=":", lw=1)
    _finish(ax, "Final probe R² by layer (mean, 95% t-interval over seeds; dotted: last embedded layer)", "layer", "probe-test R²")
    return figure


def clip_r2_axis(ax: Axes, values: list[float], floor: float = R2_FLOOR) -> int:
    """Limit the y axis to [floor, top of the data] when some values lie below `floor`; returns how many were cut
    (the caller says so in the caption), and marks the cut with a note in the panel."""
    finite = [v for v in values if np.isfinite(v)]
    below = [v for v in finite if v < floor]
    if below:
        top = max(max(finite), 0.0)
        ax.set_ylim(floor, top + 0.05 * (top - floor))
        ax.text(0.02, 0.02, f"{len(below)} value(s) below {floor:g} not shown (min {min(below):,.0f})", fontsize=7,
                transform=ax.transAxes, va="bottom")
    return len(below)


def _answer_label(entry: dict, with_setting: bool) -> str:
    """A row of the answer figure: concept and control, and the preserve_outputs setting when the study ran several."""
    return f"{entry['concept']}\n− {entry['control']}" + (f"\n{entry['setting']}" if with_setting else "")


def plot_late_window_answer(answer: dict) -> Figure:
    """The answer: per concept and control pair, the late-window gap with its t-interval over seeds, the
    passthrough-free measure (filled) beside the raw R² (open)."""
    entries = answer["entries"]
    several = len({e.get("setting") for e in entries}) > 1
    labels = list(dict.fromkeys(_answer_label(e, several) for e in entries))
    figure, (ax,) = _new_figure(1, width_per_panel=7.5, height=1.2 + (0.8 if several else 0.6) * max(len(labels), 1))
    for k, metric in enumerate(("r2_nonlinear", "r2")):
        for e in (e for e in entries if e["metric"] == metric):
            y = labels.index(_answer_label(e, several)) + (0.15 if k == 0 else -0.15)
            g = e["gap"]
            half = [[g["mean"] - g["low"]], [g["high"] - g["mean"]]] if np.isfinite(g["low"]) else None
            ax.errorbar([g["mean"]], [y], xerr=half, color=PALETTE[k], marker="o", ms=6, capsize=3,
                        mfc=PALETTE[k] if k == 0 else "white", ls="none")
        ax.errorbar([], [], color=PALETTE[k], marker="o", mfc=PALETTE[k] if k == 0 else "white", ls="none",
                    label=METRIC_LABELS[metric])
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    _finish(ax, f"Late-window gap of large-embed-aux (last {100 * answer['fraction']:.0f}% of training, layer "
                f"{answer['layer']})", "gap in probe-test R² (mean over seeds, 95% t-interval)", "")
    return figure


def plot_frozen_over_training(results: GrowthResults) -> Figure:
    """The frozen control of embedded runs over training: raw R² (clipped, see `clip_r2_axis`) and recalibrated R²."""
    colors = condition_colors(results.conditions)
    figure, (raw_ax, calibrated_ax) = _new_figure(2)
    for condition in dict.fromkeys(r.condition for r in results.frozen):
        layer = next(r.layer for r in results.frozen if r.condition == condition)
        for ax, value in ((raw_ax, "r2"), (calibrated_ax, "r2_recalibrated")):
            _seed_lines(ax, curves(results.frozen, value, condition=condition, layer=layer), colors[condition], condition)
    clip_r2_axis(raw_ax, [r.r2 for r in results.frozen])
    _finish(raw_ax, "Frozen probe, raw", _step_axis(raw_ax, results), "probe-test R²")
    _finish(calibrated_ax, "Frozen probe, per-target affine recalibration", _step_axis(calibrated_ax, results),
            "probe-test R²")
    return figure


def plot_controls(results: GrowthResults) -> Figure:
    """One panel per control (init, shuffled, frozen): control R^2 by layer, with the trained probe dashed."""
    controls = [name for name in ("init", "shuffled", "frozen") if any(r.control == name for r in results.controls)]
    colors = condition_colors(results.conditions)
    figure, axes = _new_figure(max(len(controls), 1))
    if not controls:
        axes[0].text(0.5, 0.5, "no control records in results.json", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
        return figure
    for ax, control in zip(axes, controls):
        positions = _layer_axis(ax, results.layers)
        for condition in results.conditions:
            profile = control_seed_profile(results, condition, control)
            if not profile:
                continue
            x = [float(positions[results.layers.index(layer)]) for layer in profile]
            _profile(ax, x, list(profile.values()), colors[condition], condition, marker="s")
            trained = final_seed_profile(results, condition)
            x_trained = [float(positions[results.layers.index(layer)]) for layer in trained]
            means = [cell.mean for cell in trained.values()]
            for start, stop in _runs(x_trained):
                ax.plot(x_trained[start:stop], means[start:stop], color=colors[condition], ls="--", lw=1, alpha=0.7)
        trained_means = [cell.mean for condition in results.conditions
                         for cell in final_seed_profile(results, condition).values()]
        clip_r2_axis(ax, [r.r2 for r in results.controls if r.control == control] + trained_means)
        _finish(ax, f"Control: {control} (dashed: trained probe)", "layer", "probe-test R²")
    return figure
