"""`modinterp play RUN`: how well a trained network plays, against random, alpha-beta and other networks;
`modinterp games selfplay`: games (and rounds of gated improvement) from a value network playing itself."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from modinterp.atomic import atomic_write_json, check_output_path
from modinterp.cli.games import games_app

console = Console()


def load_network_agent(text: str, default_mode: str, device: str | None, name: str | None = None):
    """'PATH' or 'PATH@policy' / 'PATH@value' (a run dir, checkpoint dir or .safetensors) as a network agent."""
    from modinterp.device import pick_device
    from modinterp.play.arena import network_agent
    from modinterp.train.checkpoint import load_trained_model

    path, _, mode = text.partition("@")
    model, _ = load_trained_model(Path(path), device=pick_device(device))
    return network_agent(model, mode or default_mode, name or f"{path}@{mode or default_mode}"), model


def opponent_agent(text: str, mode: str, device: str | None):
    """A built-in opponent ('random', 'alphabeta:D') or another network ('RUN_DIR[@policy|@value]')."""
    from modinterp.play.arena import builtin_opponent

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
    out: Optional[Path] = typer.Option(None, "--out", help="also write the results as JSON to this file"),
    as_json: bool = typer.Option(False, "--json", help="print the results as JSON on stdout instead of the table"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --out"),
) -> None:
    """Play a network against opponents and print win rates (95% Wilson intervals) and Elo differences."""
    from modinterp.games import domineering as dom
    from modinterp.play.arena import DEFAULT_OPPONENTS, play_match

    if out is not None:
        check_output_path(out, overwrite=overwrite)
    if games % 2:
        raise typer.BadParameter(f"{games}: expected an even number of games", param_hint="--games")
    mode = run.partition("@")[2] or mode  # RUN@value picks the mode, over --mode
    if mode not in ("policy", "value"):
        raise typer.BadParameter(f"{mode!r}: expected 'policy' or 'value'", param_hint="--mode or RUN@MODE")
    agent, model = load_network_agent(run, mode, device)
    spec = dom.BoardSpec(model.config.rows, model.config.cols)
    opponents = [opponent_agent(text, mode, device) for text in (against or DEFAULT_OPPONENTS)]
    results = [play_match(spec, agent, opponent, games, seed, opening_plies) for opponent in opponents]
    payload = {"network": run, "mode": mode, "board": str(spec), "results": [r.to_dict() for r in results]}
    if as_json:
        typer.echo(json.dumps(payload, indent=1))
    else:
        print_results(results)
    if out is not None:
        atomic_write_json(out, payload)
        console.print(f"wrote {out}")


class GamesPerSecond(ProgressColumn):
    """Finished games per second of wall time since the bar started."""

    def render(self, task) -> Text:
        elapsed = task.elapsed or 0.0
        return Text(f"{task.completed / elapsed:.1f} games/s" if elapsed > 0 else "- games/s")


@contextmanager
def games_progress() -> Iterator:
    """A rich progress bar with games/s; yields `bar(description, total) -> callable(n_finished_games)`."""
    columns = (TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(), GamesPerSecond(),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        def start(description: str, total: int):
            task = bar.add_task(description, total=total)

            def advance(n: int) -> None:
                bar.advance(task, n)
                if bar.tasks[task].finished:
                    bar.stop_task(task)  # freezes elapsed, so games/s stays that of the games

            return advance
        yield start


def selfplay_command(
    model_path: str = typer.Option(..., "--model", help="value network: run directory, checkpoint dir or .safetensors"),
    out: Path = typer.Option(..., "--out", help="games file (.npz); with --rounds, an output directory"),
    n_games: int = typer.Option(2000, "--games", min=1, help="games to generate (per round with --rounds)"),
    seed: int = typer.Option(0, "--seed", min=0, help="master seed (games, rounds and gates derive their own)"),
    opening_plies: int = typer.Option(4, "--opening-plies", min=0, help="uniformly random plies at the start"),
    epsilon: float = typer.Option(0.05, "--epsilon", min=0.0, max=1.0, help="chance of a random move after the opening"),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="softmax temperature over child win "
                                      "probabilities (0: best child)"),
    rounds: int = typer.Option(0, "--rounds", min=0, help="rounds of generate, retrain, gate (0: generate only)"),
    train_preset: str = typer.Option("cpu", "--train-preset", help="retraining config (configs/train-NAME.toml)"),
    set_: list[str] = typer.Option([], "--set", help="retraining config override key=value (repeatable)"),
    base_games: Optional[Path] = typer.Option(None, "--base-games", exists=True, dir_okay=False,
                                              help="games the retraining also uses (e.g. the bootstrap games)"),
    gate_games: int = typer.Option(200, "--gate-games", min=2, help="gating games per round (even, both colours)"),
    alpha: float = typer.Option(0.05, "--alpha", min=0.0, max=1.0, help="accept a candidate when p < alpha"),
    gate_in_training: bool = typer.Option(False, "--gate-games-in-training", help="append gating games to the data"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, ...; default: CUDA when present"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --out"),
) -> None:
    """Self-play games from a value network (1-ply lookahead, batched), or rounds of gated self-improvement."""
    from modinterp.config import ConfigError
    from modinterp.data.store import GameStore
    from modinterp.device import pick_device, reuse_freed_memory
    from modinterp.games import domineering as dom
    from modinterp.play.selfplay import SelfPlaySettings, selfplay
    from modinterp.studies.selfplay import ImproveSettings, improve
    from modinterp.train.checkpoint import load_trained_model
    from modinterp.train.config import load_train_config

    reuse_freed_memory()  # the allocator setting every model command gets (cli.MODEL_COMMANDS)
    if rounds == 0:  # with --rounds, --out is a folder that `improve` refuses to reuse
        check_output_path(out, overwrite=overwrite)
    model, _ = load_trained_model(Path(model_path), device=pick_device(device))
    settings = SelfPlaySettings(opening_plies=opening_plies, epsilon=epsilon, temperature=temperature)
    spec = dom.BoardSpec(model.config.rows, model.config.cols)
    if rounds == 0:
        with games_progress() as bar:
            run = selfplay(model, spec, n_games, seed, settings, progress=bar("selfplay", n_games))
        run.store.save(out)
        console.print(f"wrote {run.store.n_games} {spec} games to {out}: {run.games_per_s:.1f} games/s, "
                      f"{run.positions_per_s:.0f} positions evaluated/s")
        return
    try:
        train_config = load_train_config(train_preset, [*set_, "progress=false"])
        plan = ImproveSettings(rounds=rounds, games_per_round=n_games, gate_games=gate_games, alpha=alpha,
                               gate_games_in_training=gate_in_training, seed=seed,
                               gate_opening_plies=opening_plies)
    except (ConfigError, ValueError) as err:
        typer.secho(f"error: {err}", err=True, fg="red")
        raise typer.Exit(code=2) from None
    base = GameStore.load(base_games) if base_games else None
    with games_progress() as bar:
        records = improve(model, base, train_config, plan, out, settings, progress=bar)
    for r in records:
        g = r["gate"]
        console.print(f"round {r['round']}: candidate won {g['wins']}/{g['n_games']} ({g['win_rate']:.3f}, "
                      f"95% CI [{g['win_ci95'][0]:.3f}, {g['win_ci95'][1]:.3f}]), p = {g['p_value']:.4f}: "
                      f"{'accepted' if g['accepted'] else 'rejected'}")
    console.print(f"wrote {out}/rounds.jsonl, {out}/selfplay.npz and {out}/summary.json")


def register(app: typer.Typer) -> None:
    app.command("play")(play_command)
    games_app.command("selfplay")(selfplay_command)
