"""Run the study's runs: in this process (jobs=1) or in `jobs` worker processes, each run starting as soon as
the small runs it needs are complete. Finished runs are skipped, so calling this again resumes a study.

Workers are spawned (not forked: torch and forked threads do not mix); each uses `threads_per_job` torch threads.
A failed run does not stop the others; runs that need it are not started; the error lists both.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from modinterp.studies.config import EmbeddingStudyConfig
from modinterp.studies.jobs import RunSpec, execute_run, is_complete, run_dir, run_specs


class RunFailure(RuntimeError):
    """Some runs failed (or could not start); the message names each with its error."""


class StudyTerminated(KeyboardInterrupt):
    """SIGTERM reached the study: treated like Ctrl-C (workers stopped, runs resumable)."""


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While the pool runs, SIGTERM raises StudyTerminated in this process, so the workers are stopped too
    (by default SIGTERM would kill only this process and leave the workers training)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise StudyTerminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def threads_per_job(config: EmbeddingStudyConfig) -> int:
    """Torch threads per run: the config's `threads`, else 1 (these models are too small to gain from intra-op
    threads, and on a busy machine extra threads wait on each other: a smoke study took 5x longer with 2)."""
    return config.threads if config.threads is not None else 1


def _describe(summary: dict) -> str:
    return f"{summary['condition']}-s{summary['seed']}: {summary['steps']} steps in {summary['wall_time_s']:.0f} s"


def execute_runs(config: EmbeddingStudyConfig, out: Path, jobs: int, console: Console) -> dict[str, float]:
    """Bring every run to completion; returns {run name: wall seconds} of the runs executed now."""
    specs = run_specs(config)
    todo = [s for s in specs if not is_complete(out, s)]
    if len(todo) < len(specs):
        console.print(f"{len(specs) - len(todo)} of {len(specs)} runs already complete; skipping them")
    if not todo:
        return {}
    data = config.model_dump(mode="json")
    if jobs == 1:
        return _run_in_process(todo, out, data, threads_per_job(config), console)
    return _run_in_pool(todo, out, data, jobs, threads_per_job(config), console)


def _run_in_process(todo: list[RunSpec], out: Path, data: dict, threads: int, console: Console) -> dict[str, float]:
    timings = {}
    for spec in todo:
        console.print(f"[bold]{spec.name}[/bold]")
        summary = execute_run(str(out), data, spec.condition, spec.seed, threads=threads, progress=True)
        timings[spec.name] = summary["wall_time_s"]
        console.print("  done: " + _describe(summary))
    return timings


def _last_step(spec: RunSpec, out: Path) -> int:
    """The last step a run has logged (0 if none): read from its metrics.jsonl for the progress bar."""
    path = run_dir(out, spec) / "metrics.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").strip().splitlines()
        return int(json.loads(lines[-1])["step"]) if lines else 0
    except (OSError, ValueError, KeyError):
        return 0


def _run_in_pool(todo: list[RunSpec], out: Path, data: dict, jobs: int, threads: int, console: Console) -> dict[str, float]:
    pending, running, failed = list(todo), {}, {}
    timings: dict[str, float] = {}
    context = multiprocessing.get_context("spawn")
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with terminate_as_interrupt(), ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool, \
            Progress(*columns, console=console) as bar:
        task = bar.add_task(f"{len(todo)} runs, {jobs} workers", total=len(todo))
        try:
            while pending or running:
                for spec in [s for s in pending if all(is_complete(out, n) for n in s.needs)]:
                    if len(running) >= jobs:
                        break
                    pending.remove(spec)
                    future = pool.submit(execute_run, str(out), data, spec.condition, spec.seed, threads, False, True)
                    running[future] = spec
                for spec in [s for s in pending if any(n.name in failed for n in s.needs)]:
                    pending.remove(spec)
                    failed[spec.name] = f"not started: needs {', '.join(n.name for n in spec.needs if n.name in failed)}"
                if not running:
                    if pending:
                        raise RunFailure(f"cannot start {[s.name for s in pending]}: the runs they need are not complete")
                    continue
                done, _ = wait(list(running), timeout=2.0, return_when=FIRST_COMPLETED)
                steps = {s.name: _last_step(s, out) for s in running.values()}
                bar.update(task, description=f"{len(todo)} runs, {jobs} workers; "
                                             + ", ".join(f"{k}@{v}" for k, v in steps.items()))
                for future in done:
                    spec = running.pop(future)
                    _collect(future, spec, timings, failed, console)
                    bar.advance(task)
        except BaseException:
            _stop_workers(pool)
            raise
    if failed:
        raise RunFailure("runs failed: " + "; ".join(f"{k}: {v}" for k, v in failed.items()))
    return timings


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the workers now (an interrupt reaches only this process when sent by pid); their runs resume
    from the last atomic checkpoint."""
    processes = list(getattr(pool, "_processes", {}).values())  # the executor has no public handle on them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()


def _collect(future: Future, spec: RunSpec, timings: dict, failed: dict, console: Console) -> None:
    error = future.exception()
    if error is not None:
        failed[spec.name] = f"{type(error).__name__}: {error}"
        console.print(f"[red]{spec.name} failed:[/red] {error}")
        return
    summary = future.result()
    timings[spec.name] = summary["wall_time_s"]
    console.print("done " + _describe(summary))
