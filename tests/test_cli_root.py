"""What holds for every `modinterp` command: --version, `python -m modinterp`, flags shown as flags in --help,
the CPU allocator setting for commands that run a model, unwritable outputs reported at the edge."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

import modinterp
import modinterp.device
from modinterp.cli import MODEL_COMMANDS, app

runner = CliRunner()


def all_command_paths(with_flags_only: bool = False) -> list[list[str]]:
    """Every command and group as the words that reach it, e.g. [], ["games"], ["games", "generate"]; with
    `with_flags_only`, those that declare an option taking no value (every one has --help besides)."""
    def walk(command, words):
        if not with_flags_only or any(getattr(p, "is_flag", False) for p in command.params):
            yield words
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*words, name])

    return list(walk(typer.main.get_command(app), []))


def test_version_prints_the_package_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"modinterp {modinterp.__version__}"


def test_python_dash_m_modinterp_runs_the_command_line():
    source_root = str(Path(modinterp.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source_root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "modinterp", "--version"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"modinterp {modinterp.__version__}"


@pytest.mark.parametrize("words", all_command_paths(with_flags_only=True), ids=lambda w: " ".join(w) or "modinterp")
def test_help_shows_flags_without_a_value_type(words):
    result = runner.invoke(app, [*words, "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "--help " in result.output


def test_options_that_take_a_value_still_show_its_type():
    output = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output
    assert "--resume " in output and "<int>" in output and "KEY=VALUE" in output


def test_commands_that_run_a_model_get_the_allocator_setting(monkeypatch):
    calls = []
    monkeypatch.setattr(modinterp.device, "reuse_freed_memory", lambda: calls.append(True) or True)
    top_level = {words[0] for words in all_command_paths() if words}
    assert MODEL_COMMANDS <= top_level  # no stale name in the list
    for name in sorted(top_level):
        calls.clear()
        assert runner.invoke(app, [name, "--help"]).exit_code == 0
        assert calls == ([True] if name in MODEL_COMMANDS else []), name


def test_an_unwritable_output_is_reported_by_path_without_a_traceback(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = blocker / "gap.csv"
    result = runner.invoke(app, ["analyze", "synth", "--out", str(out)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{out}: {blocker} is a file, not a folder; choose a folder you can write to" in result.output
