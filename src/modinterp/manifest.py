"""Run manifests: what was run, with which config, seeds, code and package versions, and how long it took."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from modinterp.atomic import atomic_write_json

_PACKAGES = ("torch", "numpy", "numba", "scipy", "scikit-learn", "python-igraph", "networkx", "safetensors")


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The current git commit (with '-dirty' if the tree has changes), or None outside a checkout."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def build_manifest(config: dict[str, Any], seeds: list[int] | None = None, started_at: float | None = None, **extra: Any) -> dict[str, Any]:
    """A JSON-ready description of a run; `started_at` is a time.time() stamp used for wall time."""
    from modinterp import __version__

    now = time.time()
    manifest = {
        "modinterp_version": __version__,
        "config": config,
        "seeds": seeds or [],
        "git_commit": git_commit(Path(__file__).parent),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)),
        "wall_time_s": None if started_at is None else round(now - started_at, 3),
    }
    manifest.update(extra)
    return manifest


def write_manifest(run_dir: str | Path, config: dict[str, Any], seeds: list[int] | None = None, started_at: float | None = None, **extra: Any) -> Path:
    """Write `run_dir/manifest.json` atomically and return its path."""
    return atomic_write_json(Path(run_dir) / "manifest.json", build_manifest(config, seeds, started_at, **extra))
