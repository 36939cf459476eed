"""`modinterp report DIR` builds the report, and names the missing results.json otherwise."""

from __future__ import annotations

from typer.testing import CliRunner

from modinterp.cli import app


def test_report_command_writes_report_html(run_dir):
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert (run_dir / "report.html").exists() and (run_dir / "plots" / "losses.png").exists()


def test_report_command_without_results_says_how_to_make_them(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "results.json: not found; run the study first" in result.output  # one line, from the CLI root
