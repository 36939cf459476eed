"""`modinterp study embedding --preset quick --out DIR [--jobs N] [--resume] [--set key=value]`: the growth study.

Only parses arguments and calls `modinterp.studies.embedding.run_embedding_study`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

study_app = typer.Typer(help="Whole experiments: data, training, probes, results.json and report.html.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(study_app, name="study")


def run_growth_study(preset: str, out: Path, jobs: Optional[int], resume: bool, overrides: list[str]) -> Path:
    """Load the preset, run (or resume) the study; config and study errors exit with code 2 and a message."""
    from modinterp.config import ConfigError
    from modinterp.studies.config import load_study_config
    from modinterp.studies.embedding import StudyError, run_embedding_study
    from modinterp.studies.scheduler import RunFailure

    try:
        config = load_study_config(preset, overrides)
    except ConfigError as err:
        typer.secho(f"error: {err}", err=True, fg="red")
        raise typer.Exit(code=2) from None
    try:
        return run_embedding_study(config, out, jobs=jobs, resume=resume)
    except (StudyError, RunFailure) as err:
        typer.secho(f"error: {err}", err=True, fg="red")
        raise typer.Exit(code=1) from None
    except KeyboardInterrupt:
        typer.secho(f"interrupted; continue with: modinterp study embedding --preset {preset} --out {out} --resume",
                    err=True, fg="yellow")
        raise typer.Exit(code=130) from None


@study_app.command("embedding")
def embedding_command(
    preset: str = typer.Option("quick", help="configs/study-NAME.toml (quick, paper, smoke) or a path to a .toml file"),
    out: Path = typer.Option(..., help="study folder: games.npz, runs/, results.json, report.html"),
    jobs: Optional[int] = typer.Option(None, min=1, help="parallel worker processes (default: the preset's jobs)"),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted study in --out (finished runs are skipped)"),
    set_: list[str] = typer.Option([], "--set", help="config override key.sub=value, e.g. --set seeds=[0,1,2] (repeatable)"),
) -> None:
    """Five conditions x seeds: small-aux, small-noaux, large-baseline, large-embed-aux, large-embed-noaux."""
    typer.echo(str(run_growth_study(preset, out, jobs, resume, list(set_))))
