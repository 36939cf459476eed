"""`modinterp train`: train a model on a games file from a TOML preset (configs/train-NAME.toml)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def train_command(
    preset: str = typer.Option("smoke", help="configs/train-NAME.toml, or a path to a .toml file"),
    games: Path = typer.Option(..., exists=True, dir_okay=False, help="games file (.npz) written by `modinterp games`"),
    out: Path = typer.Option(..., help="run directory (checkpoints/, final/, metrics.jsonl, manifest.json)"),
    steps: Optional[int] = typer.Option(None, help="override the preset's number of steps"),
    checkpoint_every: Optional[int] = typer.Option(None, help="override the checkpoint interval (steps)"),
    resume: bool = typer.Option(False, "--resume", help="continue from the latest checkpoint in --out"),
    set_: list[str] = typer.Option([], "--set", help="config override key=value, e.g. --set lr=1e-3 (repeatable)"),
) -> None:
    """Train a BoardTransformer; under torchrun it runs DDP (gloo on CPU, NCCL on CUDA)."""
    from modinterp.config import ConfigError
    from modinterp.train.config import load_train_config
    from modinterp.train.distributed import init_distributed, shutdown_distributed
    from modinterp.train.run import train_from_games

    overrides = list(set_)
    if steps is not None:
        overrides.append(f"steps={steps}")
    if checkpoint_every is not None:
        overrides.append(f"checkpoint_every={checkpoint_every}")
    try:
        config = load_train_config(preset, overrides)
    except ConfigError as err:
        typer.secho(f"error: {err}", err=True, fg="red")
        raise typer.Exit(code=2) from None
    from modinterp.train.checkpoint import CheckpointError
    from modinterp.train.trainer import NonFiniteLossError

    dist = init_distributed(config.device)
    try:
        result = train_from_games(config, games, out, resume=resume, dist=dist)
    except (FileExistsError, CheckpointError, NonFiniteLossError) as err:
        typer.secho(f"error: {err}", err=True, fg="red")
        raise typer.Exit(code=1) from None
    finally:
        shutdown_distributed()
    if dist.is_writer:
        summary = f"trained to step {result.step} in {out}"
        if result.final_val:
            summary += f"; val loss {result.final_val['loss']:.4f}"
        if result.steps_per_s == result.steps_per_s:  # NaN when this call trained no timed step
            summary += f"; {1e3 / result.steps_per_s:.1f} ms per step"
        typer.echo(summary + f"; data wait {100 * result.data_wait_fraction:.1f}% of step time "
                   f"(after the first batch, {result.first_batch_s:.2f} s)")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
