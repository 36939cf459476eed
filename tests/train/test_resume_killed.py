"""`modinterp train` killed with SIGKILL mid-run (after logging step 30, checkpoint at step 20), then resumed:
no process survives, the run folder's lock is taken over, and metrics.jsonl and the final weights equal an
uninterrupted run's (the records after step 20 are cut and written once more, not twice)."""

from __future__ import annotations

import json
import signal

from fault_injection import run_cli, survivors_after

SECTOR = ["--set", "positions.concept_kwargs={sector=[3,3]}", "--set", "val_positions.concept_kwargs={sector=[3,3]}",
          "--set", "progress=false"]


def _train(games_path, out, *extra, kill_at=None):
    return run_cli(["train", "--preset", "smoke", *SECTOR, "--games", str(games_path), "--out", str(out), *extra],
                   kill_at=kill_at)


def test_a_killed_train_run_resumes_to_the_same_metrics_and_weights(tmp_path, games_path):
    reference, _ = _train(games_path, tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr
    killed, tag = _train(games_path, tmp_path / "run", kill_at="step:30")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert survivors_after(tag, seconds=5.0) == []
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 30  # killed after logging step 30, past the step-20 checkpoint
    resumed, _ = _train(games_path, tmp_path / "run", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "taking over a stale lock" in resumed.stdout
    for name in ("metrics.jsonl", "final/model.safetensors"):
        assert (tmp_path / "run" / name).read_bytes() == (tmp_path / "reference" / name).read_bytes(), name
    assert not (tmp_path / "run" / ".modinterp.lock").exists()
