"""One live process per output folder: a lock file holding the owner's PID, host and start time.

    with FolderLock(out, what="study"):
        ...   # a second `modinterp study/train` on `out` is refused while this runs

The file is created with O_CREAT | O_EXCL (atomic on local file systems), so of two processes starting at
once exactly one wins. A lock whose PID is dead on this host is stale (its process was killed): it is
reported and taken over. A live one, or one held from another host (whose PID cannot be checked here),
refuses with `FolderLockedError` naming the holder; exit code 2 through the command line.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable

from modinterp.errors import ModinterpError

LOCK_FILE = ".modinterp.lock"


class FolderLockedError(ModinterpError, RuntimeError):
    """Another live process works in the folder; the message names it (PID, host, since when)."""


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs on this host (a zombie, killed but not yet reaped, counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # it ended just now (Linux), or there is no /proc (macOS: trust os.kill)
        return not Path("/proc").is_dir()
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def describe_holder(holder: dict[str, Any]) -> str:
    """'PID 123 on host h since 2026-12-02 14:00:01 UTC (modinterp study)'."""
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(holder.get("started", 0))))
    return f"PID {holder.get('pid')} on host {holder.get('host')} since {since} ({holder.get('command', '?')})"


class FolderLock:
    """Context manager: hold `folder`/.modinterp.lock while the block runs; removed on exit (kept by SIGKILL)."""

    def __init__(self, folder: str | Path, what: str = "modinterp", report: Callable[[str], None] = print):
        self.path, self.what, self.report = Path(folder) / LOCK_FILE, what, report
        self.held = False

    def _record(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "command": self.what}

    def _create(self) -> bool:
        """Create the lock file atomically; False if it exists."""
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self._record(), fh)
        return True

    def _holder(self) -> dict[str, Any] | None:
        """The lock file's record (None if it vanished; an unreadable one, cut short by a kill, reads as stale)."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"pid": None, "host": socket.gethostname(), "started": 0, "command": "unreadable lock"}

    def _is_stale(self, holder: dict[str, Any]) -> bool:
        if holder.get("host") != socket.gethostname():
            return False
        pid = holder.get("pid")
        return not isinstance(pid, int) or not process_alive(pid)

    def acquire(self) -> "FolderLock":
        """Take the lock, taking over a stale one; raise FolderLockedError if a live process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # another process may take over the same stale lock in between
            if self._create():
                self.held = True
                return self
            holder = self._holder()
            if holder is None:
                continue
            if not self._is_stale(holder):
                raise FolderLockedError(f"{self.path.parent}: in use by {describe_holder(holder)}; wait for it to "
                                        f"end or stop it (if it is gone, delete {self.path})")
            self.report(f"taking over a stale lock on {self.path.parent}: {describe_holder(holder)} is no longer running")
            self.path.unlink(missing_ok=True)
        raise FolderLockedError(f"{self.path}: could not be taken (another process keeps taking it); try again")

    def release(self) -> None:
        """Remove the lock file if this process holds it."""
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
