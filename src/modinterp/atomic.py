"""Atomic writes: write to a temporary file in the same folder, fsync, then rename over the target.

A reader (or a resumed run) therefore sees either the old file or the complete new one, never half.
`check_output_path` runs before a command does any work, so an output that is in the way or cannot be
written is reported at once, not after an hour of generating what would have gone into it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from modinterp.errors import OutputExistsError, OutputNotWritableError


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)` then atomically move tmp_path to `path`; returns the final path."""
    path = Path(path)
    tmp_path = _temporary_in(path.parent, path.name, ".tmp", named=str(path))
    os.chmod(tmp_path, 0o666 & ~_current_umask())  # mkstemp makes 0600 files; give the usual permissions
    try:
        write(tmp_path)
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def _temporary_in(folder: Path, name: str, suffix: str, named: str) -> Path:
    """A new empty file `.NAME.*SUFFIX` in `folder` (made if missing); an OutputNotWritableError naming the
    output (`named`) when the folder cannot be made or written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=suffix, dir=folder)
    except OSError as err:
        nearest = _nearest_existing(folder)
        why = (f"cannot write in {nearest} ({err.strerror or err})" if nearest.is_dir()
               else f"{nearest} is a file, not a folder")
        raise OutputNotWritableError(f"{named}: {why}; choose a folder you can write to") from None
    os.close(fd)
    return Path(tmp)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """JSON with sorted keys so equal objects give byte-identical files."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True, allow_nan=True) + "\n")


def check_output_path(path: str | os.PathLike, overwrite: bool = False, option: str = "--out") -> Path:
    """Refuse, before any work, an output file that exists (unless `overwrite`) or whose folder cannot be written.

    The folder is tried by creating and removing a temporary file in its nearest existing ancestor (missing
    folders are made only when the output is written), which also catches read-only mounts and root-owned folders.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputExistsError(f"{option} {path}: is a folder; expected the path of a file to write")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{option} {path}: the file exists; pass --overwrite to replace it, or choose another path")
    _temporary_in(_nearest_existing(path.parent), path.name, ".probe", named=f"{option} {path}").unlink()
    return path


def _nearest_existing(folder: Path) -> Path:
    """`folder` itself, or its closest ancestor that exists."""
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder
