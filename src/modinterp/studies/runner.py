"""Run a study's runs through an `Executor`, each run starting as soon as the runs it needs are complete.

Study-agnostic: a study lists its runs as `RunSpec`s (a picklable module-level function, its arguments, the
names of the runs it needs) and says which are complete; `run_all` does the rest. Complete runs are skipped,
so calling it again resumes a study. A failed run does not stop the others; runs that need it are not started;
the error lists both. Any interruption (Ctrl-C, SIGTERM, an error here) stops every run of the executor.

    from modinterp.studies.executors import LocalExecutor
    summaries = run_all(specs, LocalExecutor(jobs=2), is_complete=lambda name: ..., console=Console())
"""

from __future__ import annotations

import json
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from modinterp.faults import kill_point
from modinterp.studies.executors import Executor


@dataclass(frozen=True)
class RunSpec:
    """One run: `function(*args, progress=..., in_worker=...)` returns the run's summary dict (with `wall_time_s`).

    `function` must be defined at module level (workers and cluster jobs import it by name); `needs` names runs
    that must be complete first; `log` is a JSONL file whose last line's `step` shows the run's progress.
    """

    name: str
    function: Callable[..., dict[str, Any]]
    args: tuple = ()
    needs: tuple[str, ...] = ()
    log: Path | None = field(default=None, compare=False)


class RunFailure(RuntimeError):
    """Some runs failed (or could not start); the message counts them and names each with its error."""

    def __init__(self, message: str, failed: int = 0):
        super().__init__(message)
        self.failed = failed


_TERMINATING = threading.Event()  # set by the first SIGTERM a study receives in this process


class StudyTerminated(KeyboardInterrupt):
    """SIGTERM reached the study: treated like Ctrl-C (runs stopped, resumable)."""


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While runs execute, SIGTERM raises StudyTerminated in this process, so the executor's runs are stopped too
    (by default SIGTERM would kill only this process and leave the workers training)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        # the study is stopping now: later SIGTERMs (e.g. one per dying worker) must not kill it mid-cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _TERMINATING.set()
        raise StudyTerminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        if not _TERMINATING.is_set():  # once terminating, SIGTERM stays ignored until the process exits
            signal.signal(signal.SIGTERM, previous)


def last_logged_step(path: Path | None) -> int:
    """The `step` of a JSONL log's last line (0 if none or unreadable): the progress of a running run."""
    try:
        lines = Path(path).read_text(encoding="utf-8").strip().splitlines() if path else []
        return int(json.loads(lines[-1])["step"]) if lines else 0
    except (OSError, ValueError, KeyError):
        return 0


def describe_summary(name: str, summary: dict[str, Any]) -> str:
    """'small-aux-s0: 12 steps in 3 s' (steps when the run reports them)."""
    steps = f"{summary['steps']} steps " if "steps" in summary else ""
    return f"{name}: {steps}in {summary['wall_time_s']:.0f} s"


def run_all(specs: list[RunSpec], executor: Executor, is_complete: Callable[[str], bool],
            console: Console) -> dict[str, dict[str, Any]]:
    """Bring every run to completion; returns {run name: summary} of the runs executed now."""
    todo = [s for s in specs if not is_complete(s.name)]
    if len(todo) < len(specs):
        console.print(f"{len(specs) - len(todo)} of {len(specs)} runs already complete; skipping them")
    if not todo:
        return {}
    with terminate_as_interrupt(), executor:
        try:
            return _schedule(todo, executor, is_complete, console)
        except BaseException:
            executor.stop()
            raise


def _schedule(todo: list[RunSpec], executor: Executor, is_complete: Callable[[str], bool],
              console: Console) -> dict[str, dict[str, Any]]:
    pending, running, failed, summaries = list(todo), {}, {}, {}
    with _board(executor, len(todo), console) as board:
        while pending or running:
            for spec in [s for s in pending if all(is_complete(n) for n in s.needs)]:
                if len(running) >= executor.slots:
                    break
                pending.remove(spec)
                board.starting(spec)
                running[executor.submit(spec)] = spec
            for spec in [s for s in pending if any(n in failed for n in s.needs)]:
                pending.remove(spec)
                failed[spec.name] = f"not started: needs {', '.join(n for n in spec.needs if n in failed)}"
            if not running:
                if pending:
                    raise RunFailure(f"cannot start {[s.name for s in pending]}: the runs they need are not complete")
                continue
            done = executor.wait(list(running), timeout=2.0)
            board.show_steps(list(running.values()))
            for handle in done:
                spec = running.pop(handle)
                _collect(executor, handle, spec, summaries, failed, console)
                board.finished()
                kill_point("run-done")
    if failed:
        raise RunFailure(f"{len(failed)} of {len(todo)} runs failed: " + "; ".join(f"{k}: {v}" for k, v in failed.items()),
                         failed=len(failed))
    return summaries


def _collect(executor: Executor, handle: Any, spec: RunSpec, summaries: dict, failed: dict, console: Console) -> None:
    try:
        summary = executor.result(handle)
    except Exception as error:  # the run's own error, re-raised by the executor: record it, keep the others going
        failed[spec.name] = f"{type(error).__name__}: {error}"
        console.print(f"[red]{spec.name} failed:[/red] {error}")
        return
    summaries[spec.name] = summary
    console.print(("  done: " if executor.in_process else "done ") + describe_summary(spec.name, summary))


class _Lines:
    """In-process runs draw their own progress bars: name each run as it starts, nothing else."""

    def __init__(self, console: Console):
        self.console = console

    def starting(self, spec: RunSpec) -> None:
        self.console.print(f"[bold]{spec.name}[/bold]")

    def show_steps(self, running: list[RunSpec]) -> None:
        pass

    def finished(self) -> None:
        pass


class _Bar:
    """Runs elsewhere (workers, cluster jobs): one bar of finished runs, with each running run's last step."""

    def __init__(self, bar: Progress, total: int, slots: int):
        self.bar, self.title = bar, f"{total} runs, {slots} at once"
        self.task = bar.add_task(self.title, total=total)

    def starting(self, spec: RunSpec) -> None:
        pass

    def show_steps(self, running: list[RunSpec]) -> None:
        steps = ", ".join(f"{s.name}@{last_logged_step(s.log)}" for s in running)
        self.bar.update(self.task, description=f"{self.title}; {steps}")

    def finished(self) -> None:
        self.bar.advance(self.task)


@contextmanager
def _board(executor: Executor, total: int, console: Console) -> Iterator[_Lines | _Bar]:
    if executor.in_process:
        yield _Lines(console)
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        yield _Bar(bar, total, executor.slots)
