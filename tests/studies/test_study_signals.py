"""Exit codes and signals of `modinterp study growth`: SIGTERM prints the same "continue with" hint as Ctrl-C
(with one process and with workers), the hint alone continues the study (`--resume` restores the recorded
config, --set overrides included), a rerun of a finished study keeps its manifest, failed runs are counted."""

from __future__ import annotations

import json
import shlex

import pytest
from typer.testing import CliRunner

import modinterp.studies.growth.run as growth_run
from fault_injection import run_cli, survivors_after
from modinterp.cli import app

STUDY = ["study", "growth", "--preset", "smoke", "--set", "probes.every=4"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigterm_prints_the_hint_and_the_hint_alone_finishes_the_study(tmp_path, jobs):
    out = tmp_path / "study"
    stopped, tag = run_cli([*STUDY, "--out", str(out), "--jobs", jobs], kill_at="step:8", kill_signal="TERM")
    assert stopped.returncode == 130, stopped.stderr
    assert survivors_after(tag, seconds=5.0) == []
    hint = stopped.stderr.strip().splitlines()[-1]
    assert hint == f"interrupted; continue with: modinterp study growth --out {shlex.quote(str(out))} --resume --jobs {jobs}"
    resumed, _ = run_cli(shlex.split(hint.split("continue with: ", 1)[1])[1:])
    assert resumed.returncode == 0, resumed.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["probes"]["every"] == 4  # the --set override came back with --resume alone


def test_a_rerun_of_a_finished_study_keeps_its_manifest(tmp_path):
    out = tmp_path / "study"
    first, _ = run_cli([*STUDY, "--out", str(out)])
    assert first.returncode == 0, first.stderr
    manifest = (out / "manifest.json").read_bytes()
    again, _ = run_cli(["study", "growth", "--out", str(out), "--resume"])
    assert again.returncode == 0, again.stderr
    assert "10 of 10 runs already complete" in again.stdout
    assert (out / "manifest.json").read_bytes() == manifest


def failing_run(out, config_data, condition, seed, threads=1, progress=False, in_worker=False):
    raise RuntimeError(f"no training in this test ({condition}-s{seed})")


def test_failed_runs_exit_1_with_their_count(tmp_path, monkeypatch):
    monkeypatch.setattr(growth_run, "execute_run", failing_run)
    result = CliRunner().invoke(app, [*STUDY, "--out", str(tmp_path / "study"), "--jobs", "1"])
    assert result.exit_code == 1
    assert "error: 10 of 10 runs failed: small-aux-s0: RuntimeError: no training in this test (small-aux-s0)" in result.output
    assert "large-embed-aux-s0: not started: needs small-aux-s0" in result.output
