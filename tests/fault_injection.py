"""Helpers of the fault-injection tests: run the CLI in a tagged subprocess, kill it at a named point
(`modinterp.faults`), find what survives, and compare two output folders with timing fields aside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
TAG = "MODINTERP_FAULT_TEST_TAG"
TIMING_KEYS = {"wall_time_s", "steps_per_s"}


def run_cli(args: list[str], kill_at: str | None = None, timeout: float = 300,
            kill_signal: str = "KILL") -> tuple[subprocess.CompletedProcess, str]:
    """Run `python -m modinterp ARGS` (sent SIG`kill_signal` at `kill_at`, if given); returns the result and the
    tag its processes (and every process they start) carry in their environment."""
    tag = uuid.uuid4().hex
    env = {**os.environ, TAG: tag, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("MODINTERP_KILL_AT", None)
    env.pop("MODINTERP_STUDY_PID", None)
    if kill_at is not None:
        env.update(MODINTERP_KILL_AT=kill_at, MODINTERP_KILL_SIGNAL=kill_signal)
    result = subprocess.run([sys.executable, "-m", "modinterp", *args], env=env, capture_output=True, text=True,
                            timeout=timeout)
    return result, tag


def tagged_processes(tag: str) -> list[int]:
    """PIDs of live (not zombie) processes whose environment carries `tag` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if f"{TAG}={tag}".encode() in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def survivors_after(tag: str, seconds: float = 5.0) -> list[int]:
    """The tagged processes still alive `seconds` after now (polling: empty as soon as all are gone)."""
    deadline = time.monotonic() + seconds
    while (alive := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def without_timing(value):
    """A JSON value with its wall-clock fields removed (at any depth)."""
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def compared_files(folder: Path) -> dict[str, Path]:
    """The records a run leaves (its logs, JSON outputs and final weights), by path relative to `folder`;
    manifests (wall-clock times, hosts) and intermediate checkpoints are left out."""
    files = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or path.name in ("manifest.json", ".modinterp.lock") or "checkpoints" in relative.parts:
            continue
        if path.suffix in (".json", ".jsonl") or relative.parts[-2:-1] == ("final",):
            files[str(relative)] = path
    return files


def differences(expected: Path, actual: Path) -> list[str]:
    """The files that differ between two output folders (timing fields aside), or are in only one."""
    a, b = compared_files(expected), compared_files(actual)
    diffs = [f"only in one: {name}" for name in sorted(set(a) ^ set(b))]
    for name in sorted(set(a) & set(b)):
        if name.endswith(".json"):
            same = without_timing(json.loads(a[name].read_text())) == without_timing(json.loads(b[name].read_text()))
        else:
            same = a[name].read_bytes() == b[name].read_bytes()
        if not same:
            diffs.append(name)
    return diffs
