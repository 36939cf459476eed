"""`modinterp study growth` (alias `embedding`) and `modinterp demo`: argument errors exit with a message naming
the problem."""

from __future__ import annotations

from typer.testing import CliRunner

from modinterp.cli import app

runner = CliRunner()


def test_unknown_preset_exits_2_and_lists_the_presets(tmp_path):
    result = runner.invoke(app, ["study", "embedding", "--preset", "nope", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "unknown study preset 'nope'" in result.output and "quick" in result.output


def test_bad_override_exits_2_naming_the_field(tmp_path):
    result = runner.invoke(app, ["study", "growth", "--preset", "smoke", "--out", str(tmp_path / "x"),
                                 "--set", "probes.evry=3"])
    assert result.exit_code == 2 and "probes.evry" in result.output
    assert not (tmp_path / "x").exists()


def test_jobs_must_be_positive(tmp_path):
    result = runner.invoke(app, ["study", "growth", "--preset", "smoke", "--out", str(tmp_path / "x"), "--jobs", "0"])
    assert result.exit_code == 2


def test_an_unknown_executor_exits_2_naming_the_choices(tmp_path):
    result = runner.invoke(app, ["study", "growth", "--preset", "smoke", "--out", str(tmp_path / "x"), "--executor", "dask"])
    assert result.exit_code == 2 and "local" in result.output and "submitit" in result.output
    assert not (tmp_path / "x").exists()


def test_demo_rejects_an_unknown_preset(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--preset", "nope"])
    assert result.exit_code == 2 and "unknown study preset" in result.output


def test_demo_runs_the_study_and_writes_the_report(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--preset", "smoke"])
    assert result.exit_code == 0, result.output
    assert (out / "report.html").exists() and (out / "results.json").exists()
    assert result.output.strip().endswith(str(out / "report.html"))
