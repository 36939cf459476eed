"""`modinterp analyze` end to end on small inputs: JSON fields, plots, clear errors."""

from __future__ import annotations

import json

import pytest
import typer
from analysis_fixtures import make_results
from typer.testing import CliRunner

from modinterp.cli import app
from modinterp.cli.analyze import register

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:  # a callback keeps "analyze" as a sub-command
        pass

    return app


def test_synth_then_gap_writes_offsets_and_plots(tmp_path):
    app = _app()
    csv = tmp_path / "gap.csv"
    assert runner.invoke(app, ["analyze", "synth", "--out", str(csv), "--seed", "2"]).exit_code == 0
    result = runner.invoke(app, ["analyze", "gap", "--csv", str(csv), "--out", str(tmp_path / "out.json"),
                                 "--plots", str(tmp_path / "plots"), "--n-boot", "60", "--horizon-boot", "30"])
    assert result.exit_code == 0, result.output
    assert "| Series | Model | Offset (mean curve) | Per-seed mean | 95% interval" in result.output
    out = json.loads((tmp_path / "out.json").read_text())
    for m in out["series"][0]["models"].values():
        assert {"offset", "offset_ci_low", "offset_ci_high"} <= set(m)
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pngs == ["gap_fits.png", "gap_horizon.png", "gap_prefix.png"]
    assert all((tmp_path / "plots" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_study_analyses_every_pair_at_the_last_embedded_layer(tmp_path, results_path):
    result = runner.invoke(_app(), ["analyze", "study", str(results_path), "--out", str(tmp_path / "s.json"),
                                    "--n-boot", "40", "--horizon-boot", "20", "--models", "exponential,power_law"])
    assert result.exit_code == 0, result.output
    out = json.loads((tmp_path / "s.json").read_text())
    assert [s["label"] for s in out["series"]][0] == "large-embed-aux - large-baseline @ layer 2"
    aux = out["series"][0]["models"]["exponential"]
    assert aux["offset_ci_low"] <= 0.04 <= aux["offset_ci_high"]  # the fixture's true offset
    assert len(out["skipped"]) == 7


def test_gap_with_a_bad_csv_fails_with_the_row_in_the_message(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("seed,step,value\n0,1,0.1\n0,2,oops\n")
    result = runner.invoke(app, ["analyze", "gap", "--csv", str(csv), "--out", str(tmp_path / "o.json")])
    assert result.exit_code == 2  # printed by the CLI root as one line, like every user error
    assert "row 3" in result.output and "oops" in result.output and "Traceback" not in result.output


def test_gap_on_cumulative_lr_uses_the_schedule(tmp_path):
    app = _app()
    csv = tmp_path / "gap.csv"
    runner.invoke(app, ["analyze", "synth", "--out", str(csv)])
    schedule = tmp_path / "lr.txt"
    schedule.write_text("\n".join(["0.001"] * 61000) + "\n")
    result = runner.invoke(app, ["analyze", "gap", "--csv", str(csv), "--out", str(tmp_path / "o.json"), "--schedule", str(schedule),
                                 "--n-boot", "30", "--horizon-boot", "20", "--models", "exponential"])
    assert result.exit_code == 0, result.output
    series = json.loads((tmp_path / "o.json").read_text())["series"][0]
    assert series["time_label"] == "cumulative_lr" and series["time"][0] == pytest.approx(1.0)


def test_study_layer_all_analyses_every_pair_at_every_layer(tmp_path, results_path):
    result = runner.invoke(_app(), ["analyze", "study", str(results_path), "--out", str(tmp_path / "s.json"), "--layer", "all",
                                    "--n-boot", "10", "--horizon-boot", "10", "--models", "exponential"])
    assert result.exit_code == 0, result.output
    labels = [s["label"] for s in json.loads((tmp_path / "s.json").read_text())["series"]]
    assert len(labels) == 3 * 4 and "large-embed-aux - large-baseline @ layer final_ln" in labels


def test_study_json_flag_prints_the_analysis_that_out_holds(tmp_path, results_path):
    result = runner.invoke(_app(), ["analyze", "study", str(results_path), "--out", str(tmp_path / "s.json"), "--json",
                                    "--n-boot", "10", "--horizon-boot", "10", "--models", "exponential"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == json.loads((tmp_path / "s.json").read_text())
    assert printed["series"][0]["label"] == "large-embed-aux - large-baseline @ layer 2"


def test_study_refuses_a_non_numeric_r2_in_one_line_naming_the_field(tmp_path):
    """Through the real `modinterp` app: the schema reader's ResultsError reaches the CLI root (exit 2, no traceback)."""
    results = make_results()
    results["probes"][3]["r2"] = "high"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    result = runner.invoke(app, ["analyze", "study", str(path), "--out", str(tmp_path / "s.json")])
    assert result.exit_code == 2
    assert str(path) in result.output and "r2" in result.output and "'high'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "s.json").exists()


def test_analyze_refuses_an_existing_out_unless_overwrite(tmp_path, results_path):
    existing = tmp_path / "s.json"
    existing.write_text("keep me")
    args = ["analyze", "study", str(results_path), "--out", str(existing), "--n-boot", "10", "--horizon-boot", "10",
            "--models", "exponential"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and f"--out {existing}: the file exists; pass --overwrite" in refused.output
    assert existing.read_text() == "keep me"
    replaced = runner.invoke(app, [*args, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert json.loads(existing.read_text())["series"][0]["label"] == "large-embed-aux - large-baseline @ layer 2"
    csv = tmp_path / "gap.csv"
    assert runner.invoke(app, ["analyze", "synth", "--out", str(csv)]).exit_code == 0
    assert runner.invoke(app, ["analyze", "synth", "--out", str(csv)]).exit_code == 2
