"""`modinterp play` and `modinterp games selfplay` on a saved run directory."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from modinterp.atomic import atomic_write_json
from modinterp.cli import app
from modinterp.data.store import GameStore
from modinterp.models import build_model
from modinterp.train.checkpoint import save_tensors


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory as the trainer leaves it (final/model.safetensors + final/config.json), 5x5 smoke model."""
    run = tmp_path_factory.mktemp("run")
    model = build_model("smoke", 5, 5, seed=2, n_concepts=1)
    save_tensors(run / "final" / "model.safetensors", model.state_dict())
    atomic_write_json(run / "final" / "config.json", {"model": model.config.to_dict()})
    return run


def test_play_writes_win_rates_and_intervals_as_json(run_dir, tmp_path):
    out = tmp_path / "play.json"
    result = CliRunner().invoke(app, ["play", str(run_dir), "--mode", "value", "--games", "8", "--against", "random",
                                      "--against", "alphabeta:1", "--against", f"{run_dir}@policy",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert [r["b"] for r in report["results"]] == ["random", "alphabeta:1", f"{run_dir}@policy"]
    for r in report["results"]:
        assert r["n_games"] == 8 and r["win_ci95"][0] <= r["win_rate"] <= r["win_ci95"][1]
    assert report["board"] == "5x5" and report["mode"] == "value"


def test_the_mode_a_run_suffix_picks_is_the_mode_recorded(run_dir, tmp_path):
    """RUN@value plays the value player whatever --mode says, and the JSON says so (it used to record --mode)."""
    out = tmp_path / "play.json"
    result = CliRunner().invoke(app, ["play", f"{run_dir}@value", "--games", "4", "--against", "random", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["mode"] == "value" and report["results"][0]["a"].endswith("@value")
    bad = CliRunner().invoke(app, ["play", f"{run_dir}@greedy", "--games", "4", "--against", "random"])
    assert bad.exit_code != 0 and "'greedy': expected 'policy' or 'value'" in bad.output


def test_play_rejects_an_odd_number_of_games(run_dir):
    result = CliRunner().invoke(app, ["play", str(run_dir), "--games", "7"])
    assert result.exit_code != 0 and "even" in result.output


def test_selfplay_command_writes_a_reloadable_store(run_dir, tmp_path):
    out = tmp_path / "sp.npz"
    result = CliRunner().invoke(app, ["games", "selfplay", "--model", str(run_dir), "--games", "6", "--seed", "1",
                                      "--epsilon", "0.1", "--temperature", "0.05", "--out", str(out)])
    assert result.exit_code == 0, result.output
    store = GameStore.load(out)
    assert store.n_games == 6 and store.generator["sources"][0]["name"] == "selfplay"


def test_play_json_flag_prints_the_results_and_an_existing_out_is_refused(run_dir, tmp_path):
    printed = CliRunner().invoke(app, ["play", str(run_dir), "--games", "4", "--against", "random", "--json"])
    assert printed.exit_code == 0, printed.output
    assert [r["b"] for r in json.loads(printed.stdout)["results"]] == ["random"]
    out = tmp_path / "play.json"
    out.write_text("keep")
    refused = CliRunner().invoke(app, ["play", str(run_dir), "--games", "4", "--against", "random", "--out", str(out)])
    assert refused.exit_code == 2 and "--overwrite" in refused.output
    assert out.read_text() == "keep"


def test_selfplay_refuses_an_existing_games_file_before_playing(run_dir, tmp_path):
    out = tmp_path / "sp.npz"
    out.write_bytes(b"keep")
    result = CliRunner().invoke(app, ["games", "selfplay", "--model", str(run_dir), "--games", "4", "--out", str(out)])
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert out.read_bytes() == b"keep"
