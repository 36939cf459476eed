"""The errors a user can fix: a damaged input file, a bad option or config value, an output in the way.

They share one base, `ModinterpError`, so the command line (`modinterp.cli`) prints any of them as its
message alone, with exit code 2, instead of a traceback. Each message names the file or option, says what
was wrong and how to fix it. A package adds its own error by subclassing `ModinterpError` (keeping the
builtin base callers already catch, e.g. `class GameStoreError(ModinterpError, ValueError)`).
"""

from __future__ import annotations


class ModinterpError(Exception):
    """A problem with what the user gave (file, option, config) that the message explains and the user can fix."""

    exit_code = 2  # usage and input errors, as in argparse and click


class OutputExistsError(ModinterpError, FileExistsError):
    """A command would replace an output that already exists; the message names it and the option that allows it."""


class OutputNotWritableError(ModinterpError, PermissionError):
    """An output cannot be written where the user asked; raised before any work is done."""
