"""The study/train folder lock: one live holder, a stale lock (dead PID on this host) taken over and reported,
a live one or one from another host refused with a message naming the holder; through the CLI, exit code 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from modinterp.cli import app
from modinterp.data.store import GameStore
from modinterp.games.domineering import BoardSpec
from modinterp.games.players import random_games
from modinterp.lock import LOCK_FILE, FolderLock, FolderLockedError, process_alive


def dead_pid() -> int:
    """The PID of a process that has ended (and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_lock(folder, pid, host=None):
    folder.mkdir(parents=True, exist_ok=True)
    record = {"pid": pid, "host": host or socket.gethostname(), "started": 1_700_000_000.0, "command": "modinterp study"}
    (folder / LOCK_FILE).write_text(json.dumps(record))


def test_a_held_lock_refuses_a_second_holder_naming_the_first(tmp_path):
    with FolderLock(tmp_path, what="modinterp study"):
        with pytest.raises(FolderLockedError, match=rf"in use by PID {os.getpid()} on host .* \(modinterp study\)"):
            FolderLock(tmp_path).acquire()
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_stale_lock_is_reported_and_taken_over(tmp_path):
    pid, reports = dead_pid(), []
    assert not process_alive(pid)
    write_lock(tmp_path, pid)
    with FolderLock(tmp_path, report=reports.append):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert len(reports) == 1 and f"PID {pid}" in reports[0] and "no longer running" in reports[0]


def test_a_lock_cut_short_by_a_kill_is_stale(tmp_path):
    (tmp_path / LOCK_FILE).write_text('{"pid": 12')
    reports = []
    with FolderLock(tmp_path, report=reports.append):
        pass
    assert "unreadable lock" in reports[0]


def test_a_lock_from_another_host_is_not_taken_over(tmp_path):
    write_lock(tmp_path, dead_pid(), host="elsewhere-" + socket.gethostname())
    with pytest.raises(FolderLockedError, match="on host elsewhere-"):
        FolderLock(tmp_path).acquire()


def test_a_zombie_counts_as_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # ended, not reaped: a zombie
        assert not process_alive(child.pid)
    finally:
        child.wait()


def test_the_study_command_refuses_a_folder_held_by_a_live_process(tmp_path):
    write_lock(tmp_path / "study", os.getpid())
    result = CliRunner().invoke(app, ["study", "growth", "--preset", "smoke", "--out", str(tmp_path / "study")])
    assert result.exit_code == 2
    assert f"in use by PID {os.getpid()}" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in (tmp_path / "study").iterdir()) == [LOCK_FILE]  # nothing else was written


def test_the_train_command_refuses_a_run_folder_held_by_a_live_process(tmp_path):
    games_path, spec = tmp_path / "games.npz", BoardSpec(6, 6)
    GameStore.from_records(spec, random_games(spec, 20, seed=1), seed=1).save(games_path)
    write_lock(tmp_path / "run", os.getpid())
    result = CliRunner().invoke(app, ["train", "--preset", "smoke", "--games", str(games_path),
                                      "--out", str(tmp_path / "run"), "--resume"])
    assert result.exit_code == 2
    assert f"in use by PID {os.getpid()}" in result.output
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [LOCK_FILE]
