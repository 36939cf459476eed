"""`modinterp compare RUN... --baseline DIR...`: the capability cost of runs against baselines of the same seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("compare")
    def compare_command(
        runs: list[Path] = typer.Argument(..., help="run directories of finished trainings (grouped by their config "
                                                    "without the seed)"),
        baseline: list[Path] = typer.Option(..., "--baseline", help="a baseline run directory, one per seed "
                                                                    "(repeat the option)"),
        ceiling: float = typer.Option(0.05, "--ceiling", help="the largest relative cost accepted (0.05 = 5%)"),
        ln_std: bool = typer.Option(False, "--ln-std", help="tree edges from `modinterp modules --ln-std` outputs (the "
                                                            "graph weighed by the LayerNorm stds) instead of raw gains"),
        extra_play: list[str] = typer.Option([], "--extra-play", help="a `modinterp play --out` file under every run "
                                             "and baseline (path relative to the run directory), on openings of another "
                                             "--seed: its games join the training's last play evaluation (repeatable)"),
        out: Optional[Path] = typer.Option(None, "--out", help="also write the comparison to this JSON file"),
        overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --out file"),
    ) -> None:
        """Capability cost of runs against baseline runs of the same seeds: value and policy loss (relative, with
        t-intervals over seeds), win rates (pooled, Newcombe), tree edges and counting modules where `modinterp
        modules` ran, and whether every cost is within the ceiling."""
        from rich.console import Console

        from modinterp.atomic import atomic_write_json, check_output_path
        from modinterp.studies.carve.costs import compare_runs, print_costs

        if out is not None:
            check_output_path(out, overwrite)
        rows = compare_runs(runs, baseline, ceiling, ln_std, extra_play)
        print_costs(Console(), rows)
        if out is not None:
            atomic_write_json(out, rows)
            typer.echo(f"wrote {out}")
