"""On-disk cache of chat completions, keyed by a SHA-256 of (model, messages, parameters).

A rerun with the same evidence and settings finds every answer here and makes no network call. Entries are
one JSON file each (written atomically, so concurrent workers and killed runs never leave half a file).
The key and the stored record never contain the API key or the base URL's credentials.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from modinterp.atomic import atomic_write_json


def request_key(model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    """A stable hex digest of the logical request (canonical JSON: sorted keys, no whitespace)."""
    payload = json.dumps({"model": model, "messages": messages, "params": params}, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ResponseCache:
    """Files `DIR/ab/abcdef....json` holding `{"key", "model", "content", ...}` for each answered request."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        """The file of `key` (checked to be a SHA-256 hex digest)."""
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"cache key {key!r} is not a SHA-256 hex digest")
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record for `key`, or None (also None for an unreadable entry, which is then refetched)."""
        path = self._path(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        return record if isinstance(record, dict) and record.get("key") == key else None

    def put(self, key: str, record: dict[str, Any]) -> Path:
        """Store `record` under `key` (atomically)."""
        return atomic_write_json(self._path(key), {**record, "key": key})

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("??/*.json")) if self.directory.exists() else 0
