"""Bad inputs end in one message naming the file or option, exit code 2 and no traceback (docs/reliability.md).

Each case is driven through the command line; `--debug` (or MODINTERP_DEBUG=1) brings the traceback back.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import modinterp.cli.games
from modinterp.cli import app
from modinterp.data.store import GameStore, GameStoreError
from modinterp.models import build_model
from modinterp.train.checkpoint import save_tensors

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_debug_from_the_environment(monkeypatch):
    monkeypatch.delenv("MODINTERP_DEBUG", raising=False)


def invoke(*args: str, **env: str):
    return runner.invoke(app, list(args), env=env or None)


def assert_user_error(result, *expected: str) -> str:
    """Exit code 2, every expected fragment in the output, no traceback, at most a short block of lines."""
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output and isinstance(result.exception, (SystemExit, type(None))), output
    for fragment in expected:
        assert fragment in output, output
    assert len(output.strip().splitlines()) <= 4, output
    return output


@pytest.fixture(scope="module")
def games_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("games") / "games.npz"
    assert invoke("games", "generate", "--board", "4x4", "--random", "12", "--out", str(path)).exit_code == 0
    return path


@pytest.fixture
def damaged_games(games_file, tmp_path) -> Path:
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(games_file.read_bytes()[:300])
    return damaged


def test_train_on_a_damaged_game_file_prints_one_error_line(damaged_games, tmp_path):
    result = invoke("train", "--games", str(damaged_games), "--out", str(tmp_path / "run"))
    assert_user_error(result, "error: ", "damaged.npz: unreadable game file (truncated or not an .npz)")
    assert not (tmp_path / "run").exists()


def test_study_on_a_damaged_game_file_prints_one_error_line(damaged_games, tmp_path):
    result = invoke("study", "embedding", "--preset", "smoke", "--out", str(tmp_path / "study"),
                    "--set", f"data.games='{damaged_games}'")
    assert_user_error(result, "damaged.npz: unreadable game file")


def test_debug_flag_and_environment_variable_bring_the_traceback_back(damaged_games, tmp_path):
    args = ("train", "--games", str(damaged_games), "--out", str(tmp_path / "run"))
    assert isinstance(invoke("--debug", *args).exception, GameStoreError)
    assert isinstance(invoke(*args, MODINTERP_DEBUG="1").exception, GameStoreError)


def test_games_generate_refuses_an_existing_file_unless_overwrite(games_file, tmp_path):
    out = tmp_path / "games.npz"
    out.write_bytes(b"keep me")
    result = invoke("games", "generate", "--board", "4x4", "--random", "3", "--out", str(out))
    assert_user_error(result, f"--out {out}: the file exists", "--overwrite")
    assert out.read_bytes() == b"keep me"
    result = invoke("games", "generate", "--board", "4x4", "--random", "3", "--out", str(out), "--overwrite")
    assert result.exit_code == 0, result.output
    assert GameStore.load(out).n_games == 3


def _unwritable_folders(tmp_path: Path) -> list[Path]:
    """Folders no command may write in here: below a file; read-only sysfs (Linux); mode 555 (not as root)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    folders = [a_file / "sub"]
    if sys.platform.startswith("linux") and Path("/sys").is_dir():
        folders.append(Path("/sys"))
    if hasattr(os, "geteuid") and os.geteuid() != 0:  # root writes in mode-555 folders anyway
        read_only = tmp_path / "read-only"
        read_only.mkdir()
        read_only.chmod(stat.S_IRUSR | stat.S_IXUSR)
        folders.append(read_only)
    return folders


def test_games_generate_into_an_unwritable_folder_fails_before_generating(tmp_path, monkeypatch):
    def generate_nothing(*args, **kwargs):
        raise AssertionError("games were generated before the output folder was checked")

    monkeypatch.setattr(modinterp.cli.games, "generate_store", generate_nothing)
    for folder in _unwritable_folders(tmp_path):
        out = folder / "games.npz"
        result = invoke("games", "generate", "--board", "4x4", "--random", "3", "--out", str(out))
        assert_user_error(result, f"--out {out}", "choose")
        assert not out.exists()


def _run_with_weights(tmp_path: Path, damage) -> Path:
    model = build_model("smoke", 4, 4)
    final = tmp_path / "run" / "final"
    final.mkdir(parents=True)
    weights = final / "model.safetensors"
    save_tensors(weights, model.state_dict())
    (final / "config.json").write_text(json.dumps({"model": model.config.to_dict()}))
    weights.write_bytes(damage(weights.read_bytes()))
    return tmp_path / "run"


@pytest.mark.parametrize("damage, says", [
    (lambda data: data[: len(data) // 2], "not a readable safetensors file"),
    (lambda data: data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:], "does not match its checksum"),
    (lambda data: data[:8] + b"[" + data[9:], "damaged header"),
], ids=["truncated", "flipped-tensor-byte", "broken-header"])
def test_modules_on_a_corrupted_safetensors_names_the_file_and_the_fix(tmp_path, damage, says):
    run = _run_with_weights(tmp_path, damage)
    result = invoke("modules", str(run), "--k", "2")
    assert_user_error(result, "model.safetensors", says, "replace it with an intact copy")
    assert not (run / "final" / "modules").exists()


def test_analyze_synth_rejects_a_negative_seed_count_at_the_option(tmp_path):
    result = invoke("analyze", "synth", "--out", str(tmp_path / "gap.csv"), "--n-seeds", "-3")
    assert result.exit_code == 2 and "--n-seeds" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "gap.csv").exists()


def test_a_bad_set_value_is_blamed_on_the_set_option_not_the_preset(games_file, tmp_path):
    result = invoke("train", "--games", str(games_file), "--out", str(tmp_path / "run"), "--set", "lr=abc")
    output = assert_user_error(result, "error: --set lr=abc: field 'lr' = 'abc'", "(preset ")
    assert output.index("--set lr=abc") < output.index("train-smoke.toml")


def test_a_misspelt_set_key_lists_the_known_fields_without_dumping_the_config(games_file, tmp_path):
    result = invoke("study", "embedding", "--preset", "smoke", "--out", str(tmp_path / "s"), "--set", "train.lr=3")
    output = assert_user_error(result, "--set train.lr=3: field 'train'", "known fields there: ", "seeds")
    assert "verification" not in output.split("known fields there:")[0]  # the preset's tables are not printed


def test_a_cross_field_check_names_the_overrides_not_the_whole_config(games_file, tmp_path):
    result = invoke("train", "--games", str(games_file), "--out", str(tmp_path / "run"), "--steps", "3")
    output = assert_user_error(result, "with --set steps=3: ", "warmup_steps=5 exceeds steps=3")
    assert "{" not in output  # no dictionary of the config


def test_train_refuses_an_existing_run_folder_without_resume(games_file, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 10}\n')
    result = invoke("train", "--games", str(games_file), "--out", str(run), "--set", "progress=false")
    assert_user_error(result, f"--out {run}: the folder is not empty (metrics.jsonl)", "--resume")
    assert (run / "metrics.jsonl").read_text() == '{"step": 10}\n' and sorted(os.listdir(run)) == ["metrics.jsonl"]
