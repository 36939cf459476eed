"""`modinterp report DIR`: (re)build DIR/report.html from DIR/results.json. Only parses and calls the report stage."""

from __future__ import annotations

from pathlib import Path

import typer


def report_command(
    run_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="study output folder holding results.json"),
) -> None:
    """Write RUN_DIR/report.html (self-contained: figures embedded) and RUN_DIR/plots/*.png."""
    from modinterp.studies.growth.gap_report import build_study_report  # matplotlib and scipy: see cli/study.py

    typer.echo(str(build_study_report(run_dir)))  # a damaged results.json (ResultsError) ends in one line at the CLI root


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
