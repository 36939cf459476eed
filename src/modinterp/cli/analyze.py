"""`modinterp analyze ...`: gap-curve fits with intervals and a verdict table (see docs/analysis.md)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Optional

import numpy as np
import typer

analyze_app = typer.Typer(help="Does a gap persist? Curve fits, intervals, model comparison.", no_args_is_help=True)

_MODELS_HELP = "comma-separated families: exponential,power_law,double_exponential"


def register(app: typer.Typer) -> None:
    app.add_typer(analyze_app, name="analyze")


def _config(models: str, n_boot: int, horizon_boot: int, loss: str, seed: int, primary: Optional[str], sign: str):
    from modinterp.analysis.compare import AnalysisConfig

    names = tuple(m.strip() for m in models.split(",") if m.strip())
    return AnalysisConfig(models=names, n_boot=n_boot, horizon_boot=horizon_boot, loss=loss, seed=seed, primary=primary, sign=sign)


def _run(series_list, config, json_out: Path, plots: Optional[Path], skipped: list[str], inputs: dict) -> None:
    from rich.progress import Progress

    from modinterp.analysis.compare import analyse_series, jsonable
    from modinterp.analysis.table import final_window_markdown, verdict_markdown
    from modinterp.atomic import atomic_write_json
    from modinterp.manifest import build_manifest

    started = time.time()
    analyses = []
    with Progress(transient=True) as progress:
        task = progress.add_task("fitting", total=len(series_list) * len(config.models))
        for series in series_list:
            analyses.append(analyse_series(series, config, progress=lambda: progress.advance(task)))
    table = verdict_markdown(analyses)
    final = final_window_markdown(analyses)
    plot_files = []
    if plots is not None:
        from modinterp.analysis.plots import write_plots

        for a in analyses:
            plot_files += [str(p) for p in write_plots(a, plots, _slug(a["label"]))]
    payload = {
        "series": analyses,
        "skipped": skipped,
        "verdict_markdown": table,
        "final_window_markdown": final,
        "plots": plot_files,
        "manifest": build_manifest({"inputs": inputs, "analysis": jsonable(vars(config))}, seeds=[config.seed], started_at=started),
    }
    atomic_write_json(json_out, jsonable(payload))
    typer.echo(table + "\n\n" + final)  # plain text: markdown tables must not be wrapped
    for a in analyses:
        for note in a["notes"]:
            typer.echo(f"note ({a['label']}): {note}")
    for note in skipped:
        typer.echo(f"skipped: {note}")
    typer.echo(f"wrote {json_out}" + (f" and {len(plot_files)} plots in {plots}" if plot_files else ""))


def _fail(message: str) -> None:
    """Print the full message (rich boxes would wrap file paths) and exit with status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_").lower() or "series"


def _load_schedule(path: Path) -> np.ndarray:
    """LR per step from .npy or a text/CSV file with one number per line."""
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    try:
        return np.loadtxt(path, delimiter=",", ndmin=1)
    except ValueError as err:
        raise ValueError(f"{path}: expected one learning rate per line ({err})") from None


@analyze_app.command("gap")
def gap_command(
    csv: Path = typer.Option(..., "--csv", exists=True, dir_okay=False, help="CSV with columns seed,step,value"),
    json_out: Path = typer.Option(..., "--json", help="where to write the analysis JSON"),
    plots: Optional[Path] = typer.Option(None, "--plots", help="folder for PNG plots"),
    models: str = typer.Option("exponential,power_law,double_exponential", help=_MODELS_HELP),
    n_boot: int = typer.Option(2000, help="bootstrap replicates per scheme and model"),
    horizon_boot: int = typer.Option(300, help="replicates per horizon when the primary interval is a bootstrap"),
    loss: str = typer.Option("linear", help="least_squares loss: linear, huber or soft_l1"),
    primary: Optional[str] = typer.Option(None, help="interval reported as offset_ci_*: seed_t, seed, block, hierarchical, point"),
    schedule: Optional[Path] = typer.Option(None, exists=True, help="per-step LR (.npy or one value per line): fit on cumulative LR"),
    sign: str = typer.Option("free", help="amplitude sign: free, positive (decays from above) or negative"),
    seed: int = typer.Option(0, help="seed of the bootstrap generator"),
) -> None:
    """Fit one series given as a CSV (e.g. a gap per seed) and print the verdict table."""
    from modinterp.analysis.series import read_csv_series

    try:
        series = read_csv_series(csv)
        if schedule is not None:
            series = series.with_cumulative_lr(_load_schedule(schedule))
        config = _config(models, n_boot, horizon_boot, loss, seed, primary, sign)
    except ValueError as err:
        _fail(str(err))
    _run([series], config, json_out, plots, [], {"csv": str(csv), "schedule": str(schedule) if schedule else None})


@analyze_app.command("study")
def study_command(
    results: Path = typer.Argument(..., exists=True, dir_okay=False, help="a growth study's results.json"),
    json_out: Path = typer.Option(..., "--json", help="where to write the analysis JSON"),
    plots: Optional[Path] = typer.Option(None, "--plots", help="folder for PNG plots"),
    layer: Optional[str] = typer.Option(None, help="layer label (default: last_embedded_layer), or 'all'"),
    metric: str = typer.Option("r2", help="probe metric field to take the gap of"),
    models: str = typer.Option("exponential,power_law,double_exponential", help=_MODELS_HELP),
    n_boot: int = typer.Option(2000, help="bootstrap replicates per scheme and model"),
    horizon_boot: int = typer.Option(300, help="replicates per horizon when the primary interval is a bootstrap"),
    loss: str = typer.Option("linear", help="least_squares loss: linear, huber or soft_l1"),
    primary: Optional[str] = typer.Option(None, help="interval reported as offset_ci_*"),
    sign: str = typer.Option("free", help="amplitude sign: free, positive (decays from above) or negative"),
    seed: int = typer.Option(0, help="seed of the bootstrap generator"),
) -> None:
    """Gap for every pair of conditions (later minus earlier in `conditions`) at one layer or all layers."""
    from modinterp.analysis.series import load_study_results, study_pairs

    try:
        data = load_study_results(results)
        layers = [str(x) for x in data["layers"]] if layer == "all" else [layer]
        series_list, skipped = [], []
        for one in layers:
            found, missing = study_pairs(data, one, metric)
            series_list += found
            skipped += missing
        config = _config(models, n_boot, horizon_boot, loss, seed, primary, sign)
    except ValueError as err:
        _fail(str(err))
    if not series_list:
        _fail(f"{results}: no pair of conditions has matched seeds: {skipped}")
    _run(series_list, config, json_out, plots, skipped, {"results": str(results), "layer": layer, "metric": metric})


@analyze_app.command("synth")
def synth_command(
    out: Path = typer.Option(..., "--out", help="CSV to write (seed,step,value)"),
    preset: str = typer.Option("persistent", help="truth: persistent (exponential to +0.04) or vanishing (power law to 0)"),
    n_seeds: int = typer.Option(3, min=1, help="number of seeds"),
    noise_sd: float = typer.Option(0.02, help="marginal sd of the AR(1) noise"),
    rho: float = typer.Option(0.7, help="lag-1 autocorrelation of the noise"),
    seed_sd: float = typer.Option(0.01, help="sd of the per-seed offset shift"),
    seed: int = typer.Option(0, help="generator seed"),
) -> None:
    """Write a synthetic gap shaped like the original's (~0.19 at step 1k, ~0.04 at 61k; 61 points)."""
    from modinterp.analysis.synth import PRESETS, synthetic_gap, write_series_csv

    if preset not in PRESETS:
        _fail(f"--preset {preset!r}; expected one of {sorted(PRESETS)}")
    truth = PRESETS[preset]
    series = synthetic_gap(truth["model"], truth["params"], n_seeds=n_seeds, noise_sd=noise_sd, rho=rho, seed_sd=seed_sd, seed=seed)
    write_series_csv(series, out)
    typer.echo(f"wrote {out}: {len(series.seeds)} seeds x {series.steps.size} steps; truth {truth['model']} {truth['params']}")
