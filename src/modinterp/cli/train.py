"""`modinterp train`: train a model on a games file from a TOML preset (configs/train-NAME.toml)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import typer

from modinterp.errors import OutputExistsError
from modinterp.lock import FolderLock


def train_command(
    preset: str = typer.Option("smoke", help="configs/train-NAME.toml, or a path to a .toml file"),
    games: Path = typer.Option(..., exists=True, dir_okay=False, help="games file (.npz) written by `modinterp games`"),
    out: Path = typer.Option(..., help="run directory (checkpoints/, final/, metrics.jsonl, manifest.json)"),
    steps: Optional[int] = typer.Option(None, help="override the preset's number of steps"),
    checkpoint_every: Optional[int] = typer.Option(None, help="override the checkpoint interval (steps)"),
    resume: bool = typer.Option(False, "--resume", help="continue from the latest checkpoint in --out"),
    set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                   help="config override, e.g. --set lr=1e-3 (repeatable)"),
) -> None:
    """Train a BoardTransformer; under torchrun it runs DDP (gloo on CPU, NCCL on CUDA)."""
    from modinterp.data.store import GameStore
    from modinterp.train.config import load_train_config
    from modinterp.train.distributed import init_distributed, shutdown_distributed
    from modinterp.train.run import train_from_games

    overrides = list(set_)
    if steps is not None:
        overrides.append(f"steps={steps}")
    if checkpoint_every is not None:
        overrides.append(f"checkpoint_every={checkpoint_every}")
    config = load_train_config(preset, overrides)
    from modinterp.train.trainer import NonFiniteLossError

    dist = init_distributed(config.device)
    try:
        if dist.is_writer and not resume:  # the writer only: under torchrun another rank may already be training
            refuse_existing_run(out)
        store = GameStore.load(games)  # a damaged games file is reported before the run folder (and its lock) exists
        with FolderLock(out, what="modinterp train", report=typer.echo) if dist.is_writer else nullcontext():
            result = train_from_games(config, store, out, resume=resume, dist=dist)
    except NonFiniteLossError as err:
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


def refuse_existing_run(out: Path) -> None:
    """A new run never writes into a folder that holds anything: --resume continues a run, nothing replaces one."""
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out {out}: is a file; expected a run folder (new or empty)")
    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if held:
        listed = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
        raise OutputExistsError(f"--out {out}: the folder is not empty ({listed}); continue the run in it with "
                                "--resume, or choose a new --out (delete the folder to start it again)")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
