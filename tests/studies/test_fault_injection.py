"""A study killed with SIGKILL at several points leaves no process behind and, resumed, ends exactly where an
uninterrupted study does: the same results.json and the same records in every run (timing fields aside).

Kill points are deterministic (`modinterp.faults`, `MODINTERP_KILL_AT`): after the games are written, when a
worker logs step 8 of its run (mid-run: the study is killed from inside the worker, which must then end on its
own), after the first run completes (between runs) and just before results.json is written.
"""

from __future__ import annotations

import signal

import pytest

from fault_injection import compared_files, differences, run_cli, survivors_after

pytestmark = pytest.mark.slow

STUDY = ["study", "growth", "--preset", "smoke", "--jobs", "2"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted") / "study"
    result, _ = run_cli([*STUDY, "--out", str(out)])
    assert result.returncode == 0, result.stderr
    assert sum(name.endswith("metrics.jsonl") for name in compared_files(out)) == 10  # every run is compared
    return out


@pytest.mark.parametrize("kill_at", ["games", "step:8", "run-done", "results"])
def test_a_killed_study_leaves_no_process_and_resumes_to_the_same_records(tmp_path, uninterrupted, kill_at):
    out = tmp_path / "study"
    killed, tag = run_cli([*STUDY, "--out", str(out)], kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert survivors_after(tag, seconds=5.0) == []
    assert not (out / "results.json").exists()
    resumed, _ = run_cli(["study", "growth", "--out", str(out), "--resume", "--jobs", "2"])
    assert resumed.returncode == 0, resumed.stderr
    assert "taking over a stale lock" in resumed.stdout
    assert differences(uninterrupted, out) == []


def test_submitit_local_jobs_end_with_a_killed_study(tmp_path, uninterrupted):
    pytest.importorskip("submitit")
    out = tmp_path / "study"
    killed, tag = run_cli([*STUDY, "--out", str(out), "--executor", "submitit"], kill_at="step:8")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert survivors_after(tag, seconds=5.0) == []
    resumed, _ = run_cli(["study", "growth", "--out", str(out), "--resume", "--jobs", "2", "--executor", "submitit"])
    assert resumed.returncode == 0, resumed.stderr
    assert differences(uninterrupted, out) == []
