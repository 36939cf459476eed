import json
import re

import pytest

from typer.testing import CliRunner

from modinterp.cli import app

# The shared test store is 6x6: 3x3 sectors give 4 concept targets.
SECTOR = ["--set", "positions.concept_kwargs={sector=[3,3]}", "--set", "val_positions.concept_kwargs={sector=[3,3]}",
          "--set", "progress=false"]


def _train(*args):
    return CliRunner().invoke(app, ["train", "--preset", "smoke", *SECTOR, *args])


def test_smoke_preset_trains_sixty_steps_into_a_complete_run_dir(tmp_path, games_path):
    result = _train("--games", str(games_path), "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert "trained to step 60" in result.output
    ms_per_step = float(re.search(r"; (\d+\.\d) ms per step", result.output).group(1))
    assert 0 < ms_per_step < 60_000
    run = tmp_path / "run"
    assert (run / "final" / "model.safetensors").is_file() and (run / "manifest.json").is_file()
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines() if '"train"' in x] == [10, 20, 30, 40, 50, 60]


def test_steps_and_checkpoint_interval_flags_override_the_preset(tmp_path, games_path):
    result = _train("--games", str(games_path), "--out", str(tmp_path / "run"), "--steps", "12", "--checkpoint-every", "4")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-00000008", "step-00000012"]


def test_rerunning_into_an_existing_run_without_resume_fails_with_advice(tmp_path, games_path):
    args = ("--games", str(games_path), "--out", str(tmp_path / "run"), "--steps", "6")
    assert _train(*args).exit_code == 0
    result = _train(*args)
    assert result.exit_code == 2 and "--resume" in result.output


def test_resume_extends_a_finished_run(tmp_path, games_path):
    out = ("--games", str(games_path), "--out", str(tmp_path / "run"))
    assert _train(*out, "--steps", "6").exit_code == 0
    result = _train(*out, "--steps", "9", "--resume")
    assert result.exit_code == 0, result.output
    assert "trained to step 9" in result.output


def test_bad_override_names_the_field_and_the_value(tmp_path, games_path):
    result = _train("--games", str(games_path), "--out", str(tmp_path / "run"), "--set", "lr=-1")
    assert result.exit_code == 2 and "field 'lr' = -1" in result.output


def test_warmup_longer_than_the_run_is_rejected(tmp_path, games_path):
    result = _train("--games", str(games_path), "--out", str(tmp_path / "run"), "--steps", "3")
    assert result.exit_code == 2 and "warmup_steps=5 exceeds steps=3" in result.output


def test_modularity_settings_add_the_gh_loss_and_log_it(tmp_path, games_path):
    run = tmp_path / "run"
    result = _train("--games", str(games_path), "--out", str(run), "--steps", "20", "--set", "modularity.lam=0.3",
                    "--set", "modularity.k=2", "--set", "modularity.refresh_every=8")
    assert result.exit_code == 0, result.output
    train = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"train"' in x]
    assert [r["modularity/refreshes"] for r in train] == [2.0, 3.0]  # refreshed at steps 0, 8, 16
    assert all(r["modularity/loss"] == r["modularity/penalty"] * 0.3 for r in train)
    assert json.loads((run / "manifest.json").read_text())["config"]["train"]["modularity"]["lam"] == 0.3


@pytest.mark.parametrize("setting, field", [("modularity.lam=-1", "modularity.lam"),
                                            ("modularity.graph=dense", "modularity.graph")])
def test_a_bad_modularity_setting_names_the_field(tmp_path, games_path, setting, field):
    result = _train("--games", str(games_path), "--out", str(tmp_path / "run"), "--set", "modularity.lam=1",
                    "--set", setting)
    assert result.exit_code == 2 and field in result.output
