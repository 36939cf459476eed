"""`modinterp play RUN`: how well a trained network plays, against random, alpha-beta and other networks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from modinterp.atomic import atomic_write_json
from modinterp.cli.modules import load_model_for_modules

console = Console()


def load_network_agent(text: str, default_mode: str, device: str | None, name: str | None = None):
    """'PATH' or 'PATH@policy' / 'PATH@value' (a run dir, checkpoint dir or .safetensors) as a network agent."""
    from modinterp.device import pick_device
    from modinterp.games.arena import network_agent

    path, _, mode = text.partition("@")
    model, _ = load_model_for_modules(Path(path))
    model = model.to(pick_device(device))
    return network_agent(model, mode or default_mode, name or f"{path}@{mode or default_mode}"), model


def opponent_agent(text: str, mode: str, device: str | None):
    """A built-in opponent ('random', 'alphabeta:D') or another network ('RUN_DIR[@policy|@value]')."""
    from modinterp.games.arena import builtin_opponent

    if text == "random" or text.startswith("alphabeta:"):
        try:
            return builtin_opponent(text)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--against") from None
    return load_network_agent(text, mode, device)[0]


def print_results(results) -> None:
    """One table row per pairing: win rate with its 95% Wilson interval, Elo with its interval."""
    table = Table(title=f"{results[0].a}: {results[0].n_games} games per pairing, both colours")
    for column in ("opponent", "games", "win rate", "95% CI", "as V", "as H", "Elo", "Elo 95% CI", "s"):
        table.add_column(column, justify="right")
    for r in results:
        d = r.to_dict()
        elo_ci = ", ".join("inf" if v is None else f"{v:+.0f}" for v in d["elo_ci95"])
        table.add_row(r.b, str(r.n_games), f"{r.win_rate:.3f}", f"[{d['win_ci95'][0]:.3f}, {d['win_ci95'][1]:.3f}]",
                      f"{d['win_rate_as_vertical']:.2f}", f"{d['win_rate_as_horizontal']:.2f}", f"{d['elo']:+.0f}",
                      f"[{elo_ci}]", f"{r.seconds:.1f}")
    console.print(table)


def play_command(
    run: str = typer.Argument(..., help="run directory (or checkpoint dir / .safetensors); PATH@value picks the mode"),
    mode: str = typer.Option("policy", "--mode", help="policy: greedy policy head; value: 1-ply lookahead on the value head"),
    against: list[str] = typer.Option([], "--against", help="opponent: random, alphabeta:D, or RUN_DIR[@policy|@value] "
                                      "(repeatable; default random and alphabeta:1..3)"),
    games: int = typer.Option(200, "--games", min=2, help="games per pairing (even: each opening with both colours)"),
    opening_plies: int = typer.Option(4, "--opening-plies", min=0, help="random opening plies of every game"),
    seed: int = typer.Option(0, "--seed", min=0, help="master seed of the openings"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, ...; default: CUDA when present"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the results as JSON to this file"),
) -> None:
    """Play a network against opponents and print win rates (95% Wilson intervals) and Elo differences."""
    from modinterp.games import domineering as dom
    from modinterp.games.arena import DEFAULT_OPPONENTS, play_match

    if games % 2:
        raise typer.BadParameter(f"{games}: expected an even number of games", param_hint="--games")
    if mode not in ("policy", "value"):
        raise typer.BadParameter(f"{mode!r}: expected 'policy' or 'value'", param_hint="--mode")
    agent, model = load_network_agent(run, mode, device)
    spec = dom.BoardSpec(model.config.rows, model.config.cols)
    opponents = [opponent_agent(text, mode, device) for text in (against or DEFAULT_OPPONENTS)]
    results = [play_match(spec, agent, opponent, games, seed, opening_plies) for opponent in opponents]
    print_results(results)
    if json_out is not None:
        atomic_write_json(json_out, {"network": run, "mode": mode, "board": str(spec),
                                     "results": [r.to_dict() for r in results]})
        console.print(f"wrote {json_out}")


def register(app: typer.Typer) -> None:
    app.command("play")(play_command)
