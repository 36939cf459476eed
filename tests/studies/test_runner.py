"""The study-agnostic runner: every run once, in dependency order, failures contained, complete runs skipped, and
the same summaries from every executor (in process, a worker pool, submitit's local executor)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from modinterp.studies.executors import ClusterSettings, LocalExecutor, SubmititExecutor, make_executor
from modinterp.studies.runner import RunFailure, RunSpec, run_all


def record_run(folder: str, name: str, value: int, *, progress: bool, in_worker: bool) -> dict:
    """A toy run: appends its name to folder/order.txt, writes folder/<name>.done, returns value squared."""
    with open(Path(folder) / "order.txt", "a", encoding="utf-8") as fh:
        fh.write(name + "\n")
    (Path(folder) / f"{name}.done").write_text(json.dumps({"in_worker": in_worker}))
    return {"value": value * value, "wall_time_s": 0.0, "pid": os.getpid()}


def failing_run(folder: str, name: str, value: int, *, progress: bool, in_worker: bool) -> dict:
    raise ValueError(f"run {name} cannot work with {value}")


def _specs(folder: Path, fail: str | None = None) -> list[RunSpec]:
    """a, b independent; c needs a; d needs c (a chain), e needs b."""
    needs = {"a": (), "b": (), "c": ("a",), "d": ("c",), "e": ("b",)}
    return [RunSpec(name, failing_run if name == fail else record_run, (str(folder), name, i), needs=needs[name])
            for i, name in enumerate(needs)]


def _done(folder: Path):
    return lambda name: (folder / f"{name}.done").exists()


def quiet() -> Console:
    return Console(quiet=True)


@pytest.fixture
def jobs_import_this_module(monkeypatch):
    """submitit's jobs unpickle the run functions by module name: put this test folder on their path."""
    paths = [str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


def test_every_run_executes_once_after_the_runs_it_needs(tmp_path):
    summaries = run_all(_specs(tmp_path), LocalExecutor(jobs=1), _done(tmp_path), quiet())
    order = (tmp_path / "order.txt").read_text().split()
    assert sorted(order) == ["a", "b", "c", "d", "e"]
    assert order.index("a") < order.index("c") < order.index("d") and order.index("b") < order.index("e")
    assert {k: v["value"] for k, v in summaries.items()} == {"a": 0, "b": 1, "c": 4, "d": 9, "e": 16}


def test_complete_runs_are_skipped(tmp_path):
    (tmp_path / "a.done").write_text("{}")
    (tmp_path / "b.done").write_text("{}")
    summaries = run_all(_specs(tmp_path), LocalExecutor(jobs=1), _done(tmp_path), quiet())
    assert sorted(summaries) == ["c", "d", "e"]
    assert sorted((tmp_path / "order.txt").read_text().split()) == ["c", "d", "e"]


def test_a_failed_run_stops_only_the_runs_that_need_it(tmp_path):
    with pytest.raises(RunFailure) as caught:
        run_all(_specs(tmp_path, fail="c"), LocalExecutor(jobs=1), _done(tmp_path), quiet())
    message = str(caught.value)
    assert "c: ValueError: run c cannot work with 2" in message and "d: not started: needs c" in message
    assert sorted((tmp_path / "order.txt").read_text().split()) == ["a", "b", "e"]


def test_a_worker_pool_gives_the_same_summaries_in_other_processes(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "pool").mkdir()
    one = run_all(_specs(tmp_path / "one"), LocalExecutor(jobs=1), _done(tmp_path / "one"), quiet())
    pool = run_all(_specs(tmp_path / "pool"), LocalExecutor(jobs=2), _done(tmp_path / "pool"), quiet())
    assert {k: v["value"] for k, v in pool.items()} == {k: v["value"] for k, v in one.items()}
    assert {v["pid"] for v in one.values()} == {os.getpid()}
    assert os.getpid() not in {v["pid"] for v in pool.values()}
    assert json.loads((tmp_path / "pool" / "a.done").read_text()) == {"in_worker": True}


def test_the_submitit_executor_runs_each_run_as_a_job_and_reports_a_failed_one(tmp_path, jobs_import_this_module):
    pytest.importorskip("submitit")
    executor = make_executor("submitit", 2, tmp_path / "jobs", ClusterSettings(time_limit_min=5))
    assert isinstance(executor, SubmititExecutor) and executor.slots == 2
    with pytest.raises(RunFailure, match=r"c: .*run c cannot work with 2.*d: not started: needs c"):
        run_all(_specs(tmp_path, fail="c"), executor, _done(tmp_path), quiet())
    assert sorted((tmp_path / "order.txt").read_text().split()) == ["a", "b", "e"]
    assert json.loads((tmp_path / "e.done").read_text()) == {"in_worker": True}


def test_an_unknown_executor_is_named():
    with pytest.raises(ValueError, match="executor='dask'; expected one of"):
        make_executor("dask", 1, "x")


def test_a_second_sigterm_during_shutdown_does_not_kill_the_study():
    """Each dying worker may signal the study: after the first SIGTERM the rest are ignored until it exits."""
    script = textwrap.dedent("""
        import os, signal
        from modinterp.studies.runner import StudyTerminated, terminate_as_interrupt
        try:
            with terminate_as_interrupt():
                with terminate_as_interrupt():  # the CLI and the runner nest it
                    os.kill(os.getpid(), signal.SIGTERM)
                    signal.pause()
        except StudyTerminated:
            os.kill(os.getpid(), signal.SIGTERM)  # a worker's late signal, after both contexts exited
            print("stopped cleanly")
            raise SystemExit(130)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130, done.stderr
    assert done.stdout.strip() == "stopped cleanly"
