"""Deterministic kill points for the fault-injection tests: `MODINTERP_KILL_AT=POINT` SIGKILLs the study
(or sends it `MODINTERP_KILL_SIGNAL`, e.g. TERM).

    kill_point("games")                 # in the study process: it kills itself
    kill_point("step", step=8)          # in a worker: `MODINTERP_KILL_AT=step:8` kills the study (its parent)

The study process sets `MODINTERP_STUDY_PID` (inherited by its workers) so that a point reached in a worker
kills the study, not the worker: the test then checks that the workers end on their own. Unset, nothing
happens (one environment lookup per call).
"""

from __future__ import annotations

import os
import signal

KILL_AT, KILL_SIGNAL, STUDY_PID = "MODINTERP_KILL_AT", "MODINTERP_KILL_SIGNAL", "MODINTERP_STUDY_PID"


def mark_study_process() -> None:
    """Record this process as the one a kill point kills (its workers inherit the variable)."""
    os.environ[STUDY_PID] = str(os.getpid())


def kill_point(name: str, step: int | None = None) -> None:
    """Signal the study (SIGKILL by default) when `MODINTERP_KILL_AT` names this point (`name`, or `name:step`)."""
    wanted = os.environ.get(KILL_AT)
    if wanted is None or wanted != (name if step is None else f"{name}:{step}"):
        return
    try:
        os.kill(int(os.environ.get(STUDY_PID, os.getpid())), signal.Signals[f"SIG{os.environ.get(KILL_SIGNAL, 'KILL')}"])
    except ProcessLookupError:  # another worker reached the point first
        pass
