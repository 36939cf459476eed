"""`modinterp study growth --preset quick --out DIR [--jobs N] [--resume] [--set key=value] [--executor ...]`;
`modinterp study sources DIR`: a finished study's grown models against their sources, head to head.

`study embedding` is an alias of `study growth`. Only parses arguments and calls
`modinterp.studies.growth.study.run_growth_study`; every study command takes the same executor options.
The study is imported when the command runs: it pulls in torch, scipy and matplotlib, and `import modinterp.cli`
took 21 s with it at module level against 2.6 s without (`python -X importtime`, busy 2-core machine).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Optional

import typer

from modinterp.config import ConfigError
from modinterp.studies.executors import EXECUTORS, ClusterSettings

# The executor options every study command takes (use them as the defaults of its parameters, then
# `cluster_settings(...)`), so that every study offers the same names and help.
EXECUTOR = typer.Option("local", help=f"where runs execute: {' or '.join(EXECUTORS)} (SLURM when sbatch is on PATH)")
PARTITION = typer.Option(None, help="submitit: SLURM partition")
GPUS_PER_JOB = typer.Option(0, min=0, help="submitit: GPUs per run")
TIME_LIMIT = typer.Option(24 * 60, min=1, help="submitit: time limit of each run's job, minutes")
ARRAY_PARALLELISM = typer.Option(None, min=1, help="submitit: runs at once (default: --jobs)")

study_app = typer.Typer(help="Whole experiments: data, training, probes, results.json and report.html.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(study_app, name="study")


def run_growth_from_cli(preset: Optional[str], out: Path, jobs: Optional[int], resume: bool, overrides: list[str],
                        executor: str = "local", cluster: ClusterSettings | None = None) -> Path:
    """Load the preset (or, `--resume` alone, the study's recorded config) and run the study.

    Config errors exit with code 2, failed runs with 1 (the message counts them); Ctrl-C and SIGTERM print the
    command that continues the study and exit with 130.
    """
    from modinterp.studies.growth.config import load_study_config  # import cost: see the module docstring
    from modinterp.studies.growth.data import StudyError
    from modinterp.studies.growth.study import recorded_config, run_growth_study
    from modinterp.studies.runner import RunFailure, terminate_as_interrupt

    try:
        with terminate_as_interrupt():
            if resume and preset is None and not overrides:
                config = recorded_config(out)
            else:
                config = load_study_config(preset or "quick", overrides)
            return run_growth_study(config, out, jobs=jobs, resume=resume, executor=executor, cluster=cluster)
    except ConfigError as err:
        typer.secho(f"error: {err}", err=True, fg="red")
        raise typer.Exit(code=2) from None
    except (StudyError, RunFailure) as err:
        typer.secho(f"error: {err}", err=True, fg="red")
        raise typer.Exit(code=1) from None
    except KeyboardInterrupt:
        again = resume_command(preset, out, jobs, overrides, executor)
        typer.secho(f"interrupted; continue with: {shlex.join(again)}", err=True, fg="yellow")
        raise typer.Exit(code=130) from None


def resume_command(preset: Optional[str], out: Path, jobs: Optional[int], overrides: list[str],
                   executor: str) -> list[str]:
    """The command that continues the study: `--resume` alone once DIR/study.json records its config."""
    from modinterp.studies.growth.study import STUDY_FILE

    command = ["modinterp", "study", "growth", "--out", str(out), "--resume"]
    if not (out / STUDY_FILE).exists():  # interrupted before the config was recorded: repeat it
        command += ["--preset", preset or "quick", *(part for item in overrides for part in ("--set", item))]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    if executor != "local":
        command += ["--executor", executor]
    return command


def cluster_settings(executor: str, partition: Optional[str], gpus_per_job: int, time_limit: int,
                     array_parallelism: Optional[int]) -> ClusterSettings:
    """The `--executor submitit` job settings from the command line (after checking the executor's name)."""
    if executor not in EXECUTORS:
        raise typer.BadParameter(f"{executor!r}; expected one of {', '.join(EXECUTORS)}", param_hint="--executor")
    return ClusterSettings(partition=partition, gpus_per_job=gpus_per_job, time_limit_min=time_limit,
                           array_parallelism=array_parallelism)


def growth_command(
    preset: Optional[str] = typer.Option(None, help="configs/study-NAME.toml (quick, paper, smoke) or a path to a "
                                         "TOML file; default quick, or with --resume alone the study's own config"),
    out: Path = typer.Option(..., help="study folder: games.npz, runs/, results.json, report.html"),
    jobs: Optional[int] = typer.Option(None, min=1, help="runs at once (default: the preset's jobs)"),
    resume: bool = typer.Option(False, "--resume", help="continue the study in --out with its recorded config "
                                "(finished runs are skipped; --preset/--set, if given, must match it)"),
    set_: list[str] = typer.Option([], "--set", help="config override key.sub=value, e.g. --set seeds=[0,1,2] (repeatable)"),
    executor: str = EXECUTOR,
    partition: Optional[str] = PARTITION,
    gpus_per_job: int = GPUS_PER_JOB,
    time_limit: int = TIME_LIMIT,
    array_parallelism: Optional[int] = ARRAY_PARALLELISM,
) -> None:
    """Five conditions x seeds: small-aux, small-noaux, large-baseline, large-embed-aux, large-embed-noaux (plus
    large-embed-aux-preserve and large-embed-noaux-preserve when embedding.preserve_outputs lists true)."""
    cluster = cluster_settings(executor, partition, gpus_per_job, time_limit, array_parallelism)
    typer.echo(str(run_growth_from_cli(preset, out, jobs, resume, list(set_), executor, cluster)))


study_app.command("growth")(growth_command)
study_app.command("embedding", help="Alias of `study growth`.")(growth_command)


@study_app.command("sources")
def sources_command(
    out: Path = typer.Argument(..., help="a finished growth study's folder (holds study.json and results.json)"),
    games: Optional[int] = typer.Option(None, min=2, help="games per match, even (default: the study's "
                                        "[source_match], else 200)"),
    mode: Optional[str] = typer.Option(None, help="how both networks play: value (1-ply lookahead) or policy (greedy)"),
    opening_plies: Optional[int] = typer.Option(None, min=0, help="random opening plies of every game (default 4)"),
    seed: Optional[int] = typer.Option(None, min=0, help="master seed of the openings (a run's match uses seed + its "
                                       "seed; default 0)"),
    jobs: Optional[int] = typer.Option(None, min=1, help="matches at once, in worker processes (default: the "
                                       "study's jobs)"),
) -> None:
    """Each embedded run against its small source, head to head, into DIR/sources.json; then the report is rebuilt
    with the paired comparison. Unset options keep the study's [source_match] settings (so its finished matches are
    kept); the study plays them itself when its config has that table."""
    from pydantic import ValidationError
    from rich.console import Console

    from modinterp.errors import ModinterpError
    from modinterp.lock import FolderLock
    from modinterp.studies.executors import LocalExecutor
    from modinterp.studies.growth.config import SourceMatchChoice
    from modinterp.studies.growth.gap_report import build_study_report
    from modinterp.studies.growth.schema import load_results
    from modinterp.studies.growth.study import play_source_matches, prepare_directory, recorded_config

    console = Console()
    given = {k: v for k, v in {"games": games, "mode": mode, "opening_plies": opening_plies, "seed": seed}.items()
             if v is not None}
    try:
        config = recorded_config(out)  # before the lock, which would create a missing folder
        base = config.source_match.model_dump() if config.source_match else {}
        try:
            settings = SourceMatchChoice(**{**base, **given})
        except ValidationError as err:
            raise typer.BadParameter("; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())) from None
        with FolderLock(out, what="modinterp study", report=console.print):
            config = config.model_copy(update={"source_match": settings})
            prepare_directory(config, out, resume=True)  # records the settings: a later --resume plays the same
            executor = LocalExecutor(config.jobs if jobs is None else jobs)
            play_source_matches(config, out, load_results(out / "results.json"), console, executor)
            console.print(f"report: {build_study_report(out)}")
    except ModinterpError as err:
        typer.secho(f"error: {err}", err=True, fg="red")
        raise typer.Exit(code=1) from None
