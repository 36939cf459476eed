"""The `modinterp` command. Each concern registers its commands from its own module in this package;
the commands only parse arguments and call one stage or study."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(help="modinterp: grow, carve and describe networks (interpretability by construction).", no_args_is_help=True, add_completion=False)

# Each module defines `register(app: typer.Typer) -> None`. Add a line when a concern gains commands.
_COMMAND_MODULES = (
    "modinterp.cli.games",
    "modinterp.cli.demo",
    "modinterp.cli.train",
    "modinterp.cli.analyze",
    "modinterp.cli.report",
    "modinterp.cli.study",
    "modinterp.cli.describe",
    "modinterp.cli.llm",
    "modinterp.cli.modules",
    "modinterp.cli.play",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:  # pragma: no cover - console entry point
    app()
