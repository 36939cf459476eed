"""The `modinterp` command. Each concern registers its commands from its own module in this package;
the commands only parse arguments and call one stage or study.

What holds for every command lives here: errors the user can fix (`modinterp.errors.ModinterpError`) and
files that cannot be read or written end in one message on stderr, not a traceback (`--debug` or
`MODINTERP_DEBUG=1` shows it); `--version`; and the CPU allocator setting for commands that run a model.
"""

from __future__ import annotations

import importlib
import os

import typer
import typer.core

import modinterp
from modinterp.errors import ModinterpError

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
    "modinterp.cli.compare",
)

# Commands that run forward/backward passes on the CPU: they get `modinterp.device.reuse_freed_memory()`.
MODEL_COMMANDS = frozenset({"train", "study", "demo", "modules", "describe", "play"})  # add new model commands here
# (`games selfplay` sits under `games`, whose other commands run no model: it applies the setting itself)

DEBUG_ENV = "MODINTERP_DEBUG"
OS_ERROR_EXIT_CODE = 1  # a file the system refused (permissions, disk full): not a usage error


def debug_requested(ctx: typer.Context | None) -> bool:
    """Whether tracebacks were asked for, by `--debug` or by MODINTERP_DEBUG=1 in the environment."""
    from_flag = bool(ctx is not None and ctx.find_root().meta.get("modinterp.debug"))
    return from_flag or os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes"}


def error_message(err: BaseException) -> str:
    """One line (or a short block) for the user: the error's own message, or for an OSError the file and why."""
    if isinstance(err, OSError) and not isinstance(err, ModinterpError) and err.filename is not None:
        return f"{err.filename}: {err.strerror or err}"
    return str(err)


def exit_on_user_error(err: ModinterpError | OSError) -> typer.Exit:
    """Print `err` as `error: ...` on stderr and return the Exit carrying its code (2 for input errors)."""
    typer.secho(f"error: {error_message(err)}", err=True, fg="red")
    typer.secho(f"(`modinterp --debug COMMAND ...` or {DEBUG_ENV}=1 shows the traceback)", err=True, dim=True)
    return typer.Exit(code=getattr(err, "exit_code", OS_ERROR_EXIT_CODE))


class ModinterpGroup(typer.core.TyperGroup):
    """The root group: every subcommand runs inside its `invoke`, so user errors are caught here, once."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (ModinterpError, OSError) as err:
            if debug_requested(ctx):
                raise
            raise exit_on_user_error(err) from None


def _hide_flag_types() -> None:
    """Show flags as flags in `--help`: typer 0.29's rich help prints `<bool>` after options that take no
    value (`--resume <bool>`, even `--help <bool>`); its plain help already leaves the type out."""
    option = typer.core.TyperOption
    shown = option.display_type_rich
    if getattr(shown, "_modinterp_flags_hidden", False):
        return

    def display_type_rich(self, ctx):
        return None if self.is_flag and not self.count else shown(self, ctx)

    display_type_rich._modinterp_flags_hidden = True
    option.display_type_rich = display_type_rich


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"modinterp {modinterp.__version__}")
        raise typer.Exit()


app = typer.Typer(cls=ModinterpGroup, no_args_is_help=True, add_completion=False)


@app.callback()
def root(ctx: typer.Context,
         version: bool = typer.Option(False, "--version", is_eager=True, callback=_show_version,
                                      help="print the version and exit"),
         debug: bool = typer.Option(False, "--debug", help=f"show the traceback of an error (or set {DEBUG_ENV}=1)")) -> None:
    """modinterp: grow, carve and describe networks (interpretability by construction)."""
    ctx.meta["modinterp.debug"] = debug
    if ctx.invoked_subcommand in MODEL_COMMANDS:
        from modinterp.device import reuse_freed_memory  # imports torch: only for commands that need it

        reuse_freed_memory()


_hide_flag_types()
for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main(args: list[str] | None = None, prog_name: str = "modinterp") -> None:  # pragma: no cover - entry points
    """Run the command line on `args` (default: sys.argv[1:]); `python -m modinterp.train` passes ["train", ...]."""
    app(args=args, prog_name=prog_name)
