"""`modinterp demo --out runs/demo`: the main job on the CPU preset, i.e. the quick growth study and its report.

A thin call into `modinterp.cli.study.run_growth_from_cli`. A finished or interrupted demo in the same folder is
resumed (finished runs are skipped), so running `make demo` twice only rebuilds results.json and the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from modinterp.cli.study import run_growth_from_cli


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(out: Path = typer.Option(Path("runs/demo"), "--out", help="output folder (report.html lands here)"),
         preset: str = typer.Option("quick", help="study preset (configs/study-NAME.toml)"),
         jobs: Optional[int] = typer.Option(None, min=1, help="parallel worker processes (default: the preset's)")) -> None:
    """Run the quick growth study (7 conditions x 4 seeds on 8x8) and write OUT/report.html."""
    run_growth_from_cli(preset, out, jobs, resume=True, overrides=[])
    typer.echo(str(Path(out) / "report.html"))
