"""`modinterp analyze ...`: gap-curve fits with intervals and a verdict table (see docs/analysis.md).

Each command imports the analysis when it runs (scipy and matplotlib; import cost measured in cli/study.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from modinterp.atomic import check_output_path
from modinterp.errors import ModinterpError

analyze_app = typer.Typer(help="Does a gap persist? Curve fits, intervals, model comparison.", no_args_is_help=True)

_MODELS_HELP = "comma-separated families: exponential,power_law,double_exponential"


def register(app: typer.Typer) -> None:
    app.add_typer(analyze_app, name="analyze")


def _fail(message: str) -> None:
    """End the command with `message` as one error line (exit 2), printed by the CLI root like every user error."""
    raise ModinterpError(message)


def _print_analysis(payload: dict, out: Path, plots: Optional[Path], as_json: bool) -> None:
    """The analysis JSON on stdout with --json (machine-readable), else the verdict tables and the files written."""
    from modinterp.analysis.outputs import summary_text

    if as_json:
        typer.echo(json.dumps(payload, indent=2, sort_keys=True))
    else:
        typer.echo(summary_text(payload, out, plots))


@analyze_app.command("gap")
def gap_command(
    csv: Path = typer.Option(..., "--csv", exists=True, dir_okay=False, help="CSV with columns seed,step,value"),
    out: Path = typer.Option(..., "--out", help="where to write the analysis JSON"),
    as_json: bool = typer.Option(False, "--json", help="print the analysis JSON on stdout instead of the tables"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace --out if it exists"),
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
    check_output_path(out, overwrite)  # before the imports (scipy, matplotlib): refused at once
    from modinterp.analysis.outputs import analyse_and_write, analysis_config, read_schedule
    from modinterp.analysis.series import read_csv_series

    try:
        series = read_csv_series(csv)
        if schedule is not None:
            series = series.with_cumulative_lr(read_schedule(schedule))
        config = analysis_config(models, n_boot, horizon_boot, loss, seed, primary, sign)
    except ValueError as err:
        _fail(str(err))
    inputs = {"csv": str(csv), "schedule": str(schedule) if schedule else None}
    _print_analysis(analyse_and_write([series], config, out, plots, [], inputs), out, plots, as_json)


@analyze_app.command("study")
def study_command(
    results: Path = typer.Argument(..., exists=True, dir_okay=False, help="a growth study's results.json"),
    out: Path = typer.Option(..., "--out", help="where to write the analysis JSON"),
    as_json: bool = typer.Option(False, "--json", help="print the analysis JSON on stdout instead of the tables"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace --out if it exists"),
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
    check_output_path(out, overwrite)  # before the imports (scipy, matplotlib): refused at once
    from modinterp.analysis.outputs import analyse_and_write, analysis_config
    from modinterp.studies.growth.gap import gap_series_of_layers
    from modinterp.studies.growth.schema import load_results

    try:
        series_list, skipped = gap_series_of_layers(load_results(results), layer, metric, results)
        config = analysis_config(models, n_boot, horizon_boot, loss, seed, primary, sign)
    except ValueError as err:
        _fail(str(err))
    if not series_list:
        _fail(f"{results}: no pair of conditions has matched seeds: {skipped}")
    inputs = {"results": str(results), "layer": layer, "metric": metric}
    _print_analysis(analyse_and_write(series_list, config, out, plots, skipped, inputs), out, plots, as_json)


@analyze_app.command("synth")
def synth_command(
    out: Path = typer.Option(..., "--out", help="CSV to write (seed,step,value)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace --out if it exists"),
    preset: str = typer.Option("persistent", help="truth: persistent (exponential to +0.04) or vanishing (power law to 0)"),
    n_seeds: int = typer.Option(3, min=1, help="number of seeds"),
    noise_sd: float = typer.Option(0.02, help="marginal sd of the AR(1) noise"),
    rho: float = typer.Option(0.7, help="lag-1 autocorrelation of the noise"),
    seed_sd: float = typer.Option(0.01, help="sd of the per-seed offset shift"),
    seed: int = typer.Option(0, help="generator seed"),
) -> None:
    """Write a synthetic gap shaped like the original's (~0.19 at step 1k, ~0.04 at 61k; 61 points)."""
    check_output_path(out, overwrite)  # before the imports (scipy, matplotlib): refused at once
    from modinterp.analysis.synth import PRESETS, synthetic_gap, write_series_csv

    if preset not in PRESETS:
        _fail(f"--preset {preset!r}; expected one of {sorted(PRESETS)}")
    truth = PRESETS[preset]
    series = synthetic_gap(truth["model"], truth["params"], n_seeds=n_seeds, noise_sd=noise_sd, rho=rho, seed_sd=seed_sd, seed=seed)
    write_series_csv(series, out)
    typer.echo(f"wrote {out}: {len(series.seeds)} seeds x {series.steps.size} steps; truth {truth['model']} {truth['params']}")
