"""Where a study's runs execute: the `Executor` interface (submit, wait, result, stop) and its two backends.

- `LocalExecutor` (the default): `jobs=1` runs each run in this process (with its own progress bar);
  `jobs>1` runs them in `jobs` spawned worker processes (not forked: torch and forked threads do not mix).
- `SubmititExecutor`: one cluster job per run through submitit; SLURM when `sbatch` is on PATH, else submitit's
  local executor (separate processes on this machine; what the tests use). Needs the `[cluster]` extra.

A run is a `RunSpec` (see `modinterp.studies.runner`): the executor calls `spec.function(*spec.args, progress=...,
in_worker=...)`. `stop()` ends every run it started. However the study ends (SIGKILL included), its workers end with it: a
worker watches the study's PID and exits within a second of it being gone (`watch_study`), and on Linux pool
workers also ask the kernel for SIGKILL when their parent dies (`prctl(PR_SET_PDEATHSIG)`). submitit's local
jobs run under its controller process, so they rely on the watch; SLURM jobs run on other hosts, where the
study's PID means nothing: `stop()` cancels them (scancel), a SIGKILLed study leaves them to finish their
run (the study folder's lock is then stale, and a resume skips the runs they complete).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from modinterp.lock import process_alive

if TYPE_CHECKING:  # runner imports this module; the annotation only names its RunSpec
    from modinterp.studies.runner import RunSpec

EXECUTORS = ("local", "submitit")


class Executor(Protocol):
    """Runs `RunSpec`s; `slots` runs at once. `in_process`: runs execute here, one at a time."""

    slots: int
    in_process: bool

    def __enter__(self) -> "Executor": ...

    def __exit__(self, *exc: object) -> None: ...

    def submit(self, spec: "RunSpec") -> Any:
        """Start a run; returns a handle for `wait` and `result`."""

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        """The handles whose runs have ended (at most `timeout` seconds of waiting when none has)."""

    def result(self, handle: Any) -> dict[str, Any]:
        """The run's summary, or its error re-raised."""

    def stop(self) -> None:
        """End every run started and not finished (their runs resume from their last checkpoint)."""


class JobFailed(RuntimeError):
    """A cluster job ended without a result; the message is the job's last error line and where its log is."""


class ClusterSettings(BaseModel):
    """What each cluster job asks for (`--executor submitit`); SLURM reads them all, the local fallback the time."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    partition: str | None = Field(None, description="SLURM partition (default: the cluster's)")
    gpus_per_job: int = Field(0, ge=0, description="GPUs per run (0: CPU jobs)")
    cpus_per_job: int = Field(1, ge=1, description="CPU cores per run (the runs' torch threads)")
    time_limit_min: int = Field(24 * 60, ge=1, description="wall-clock limit of each run's job, minutes")
    array_parallelism: int | None = Field(None, ge=1, description="runs at once (default: --jobs)")
    folder: Path | None = Field(None, description="submitit's logs and pickles (default: STUDY_DIR/submitit)")


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_INTERVAL_S = 0.5


def watch_study(study_pid: int, host: str) -> None:
    """In a worker: a daemon thread that ends this process once the study process `study_pid` is gone.

    Only on the study's host (a PID names nothing elsewhere); a killed study's workers would otherwise train on,
    re-parented to init, and write beside a resumed study.
    """
    if host != socket.gethostname() or study_pid == os.getpid():
        return

    def watch() -> None:
        while process_alive(study_pid):
            time.sleep(WATCH_INTERVAL_S)
        os._exit(1)  # the run resumes from its last checkpoint; nothing here is left half-written (atomic files)

    threading.Thread(target=watch, name="modinterp-watch-study", daemon=True).start()


def die_with_parent() -> None:
    """Linux: ask the kernel to SIGKILL this process when its parent ends (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _start_pool_worker(study_pid: int, host: str) -> None:
    """Pool worker initializer: die with the study, by the kernel's signal and by the watch."""
    die_with_parent()
    if os.getppid() != study_pid:  # the study died before prctl took effect
        os._exit(1)
    watch_study(study_pid, host)


def _call(spec: "RunSpec", progress: bool, in_worker: bool) -> dict[str, Any]:
    return spec.function(*spec.args, progress=progress, in_worker=in_worker)


def _call_watched(spec: "RunSpec", study_pid: int, host: str) -> dict[str, Any]:
    """A cluster job's entry point: watch the study (when on its host), then run."""
    watch_study(study_pid, host)
    return _call(spec, progress=False, in_worker=True)


class LocalExecutor:
    """This machine: in this process (`jobs=1`) or a pool of `jobs` spawned worker processes."""

    def __init__(self, jobs: int = 1):
        if jobs < 1:
            raise ValueError(f"jobs={jobs}: expected at least 1 worker process")
        self.slots, self.in_process = int(jobs), jobs == 1
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "LocalExecutor":
        if not self.in_process:
            self._pool = ProcessPoolExecutor(max_workers=self.slots, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_pool_worker, initargs=(os.getpid(), socket.gethostname()))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def submit(self, spec: "RunSpec") -> Future:
        if self._pool is not None:
            return self._pool.submit(spec.function, *spec.args, progress=False, in_worker=True)
        future: Future = Future()
        try:
            future.set_result(_call(spec, progress=True, in_worker=False))
        except Exception as error:  # KeyboardInterrupt and SystemExit propagate: they stop the study
            future.set_exception(error)
        return future

    def wait(self, handles: list[Future], timeout: float) -> list[Future]:
        return list(wait(handles, timeout=timeout, return_when=FIRST_COMPLETED)[0])

    def result(self, handle: Future) -> dict[str, Any]:
        return handle.result()

    def stop(self) -> None:
        """Terminate the workers now (an interrupt reaches only this process when sent by pid)."""
        if self._pool is None:
            return
        processes = list((getattr(self._pool, "_processes", None) or {}).values())  # no public handle on them
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        self._pool = None


class SubmititExecutor:
    """One submitit job per run: SLURM when `sbatch` is on PATH, else submitit's local executor."""

    in_process = False

    def __init__(self, folder: str | Path, jobs: int = 1, settings: ClusterSettings | None = None):
        try:
            import submitit  # optional dependency: the [cluster] extra
        except ImportError:
            raise ImportError("--executor submitit needs submitit; install the extra: pip install 'modinterp[cluster]'") from None
        settings = settings or ClusterSettings()
        self.slots = settings.array_parallelism or int(jobs)
        self.cluster = "slurm" if shutil.which("sbatch") else "local"
        self._executor = submitit.AutoExecutor(folder=str(settings.folder or folder), cluster=self.cluster)
        self._executor.update_parameters(**self._parameters(settings))
        self._jobs: list[Any] = []

    def _parameters(self, settings: ClusterSettings) -> dict[str, Any]:
        parameters: dict[str, Any] = {"timeout_min": settings.time_limit_min, "name": "modinterp"}
        if self.cluster == "slurm":
            parameters.update(gpus_per_node=settings.gpus_per_job, cpus_per_task=settings.cpus_per_job,
                              slurm_array_parallelism=self.slots)
            if settings.partition:
                parameters["slurm_partition"] = settings.partition
        return parameters

    def __enter__(self) -> "SubmititExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self._jobs = []

    def submit(self, spec: "RunSpec") -> Any:
        job = self._executor.submit(_call_watched, spec, os.getpid(), socket.gethostname())
        self._jobs.append(job)
        return job

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            done = [job for job in handles if job.done()]
            if done or time.monotonic() >= deadline:
                return done
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    def result(self, handle: Any) -> dict[str, Any]:
        """The job's summary; a failed job raises JobFailed with its error's last line (not submitit's whole trace)."""
        try:
            return handle.result()
        except Exception as error:  # submitit's FailedJobError / UncompletedJobError carry the remote traceback
            lines = [line for line in str(error).splitlines() if line.strip() and not line.startswith("-")]
            cause = next((line for line in reversed(lines) if "Error" in line.split(":", 1)[0]), lines[0] if lines else "")
            raise JobFailed(f"{cause} (job {handle.job_id}; log {handle.paths.stderr})") from None

    def stop(self) -> None:
        """Cancel every job not yet finished (SLURM scancel; locally, the job's process is killed)."""
        for job in self._jobs:
            if not job.done():
                job.cancel(check=False)
        self._jobs = []


def make_executor(kind: Literal["local", "submitit"], jobs: int, folder: str | Path,
                  cluster: ClusterSettings | None = None) -> Executor:
    """The executor named by `--executor`; `folder` holds the submitit backend's job files."""
    if kind == "local":
        return LocalExecutor(jobs)
    if kind == "submitit":
        return SubmititExecutor(folder, jobs, cluster)
    raise ValueError(f"executor={kind!r}; expected one of {EXECUTORS}")
