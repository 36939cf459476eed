"""`modinterp games ...`: generate, inspect and solve Domineering games. Commands only parse and print."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from modinterp.atomic import check_output_path
from modinterp.data.store import GameStore, generate_store
from modinterp.games import domineering as dom

games_app = typer.Typer(help="Generate, inspect and solve Domineering games.", no_args_is_help=True)
console = Console()


def register(app: typer.Typer) -> None:
    app.add_typer(games_app, name="games")


def parse_board(text: str, param_hint: str = "--board") -> dom.BoardSpec:
    """'RxC' -> BoardSpec, or a BadParameter naming the option, the value and the expected form."""
    try:
        return dom.BoardSpec.parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=param_hint) from None


def parse_first(text: str) -> int:
    """'vertical' / 'horizontal' -> player id, or a BadParameter."""
    if text.lower() not in dom.PLAYER_NAMES:
        raise typer.BadParameter(f"{text!r}: expected 'vertical' or 'horizontal'", param_hint="--first")
    return dom.PLAYER_NAMES.index(text.lower())


@contextmanager
def generation_progress(totals: dict[str, int]) -> Iterator:
    """A rich progress bar per game source; yields `progress(name) -> callable(n_finished_games)`."""
    columns = (TextColumn("{task.description:>8}"), BarColumn(), MofNCompleteColumn(), TextColumn("games"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        tasks = {name: bar.add_task(name, total=total) for name, total in totals.items() if total}
        yield lambda name: (lambda n: bar.advance(tasks[name], n))


def generate_and_save(spec: dom.BoardSpec, n_random: int, n_guided: int, seed: int, out: Path, first: int = dom.VERTICAL,
                      opening_plies: int = 16, epsilon: float = 0.25) -> GameStore:
    """Generate with progress bars, save atomically to `out` and say where and how fast."""
    start = time.perf_counter()
    with generation_progress({"random": n_random, "guided": n_guided}) as progress:
        store = generate_store(spec, n_random, n_guided, seed, first=first, opening_plies=opening_plies,
                               epsilon=epsilon, progress=progress)
    elapsed = time.perf_counter() - start
    store.save(out)
    console.print(f"wrote {store.n_games} {spec} games to {out} in {elapsed:.1f} s")
    return store


def print_statistics(stats: dict, path: Path | None = None) -> None:
    title = f"{stats['n_games']} games on {stats['board']}, {stats['first']} first" + (f" ({path})" if path else "")
    table = Table(title=title)
    for column in ("games", "n", "length mean", "sd", "min", "max", "vertical wins"):
        table.add_column(column, justify="right", overflow="fold")  # a narrow terminal wraps, never cuts
    for name, group in stats["groups"].items():
        if group["n_games"] == 0:
            table.add_row(name, "0", *["-"] * 5)
            continue
        table.add_row(name, str(group["n_games"]), f"{group['length_mean']:.1f}", f"{group['length_std']:.1f}",
                      str(group["length_min"]), str(group["length_max"]), f"{group['vertical_win_rate']:.1%}")
    console.print(table)
    splits = ", ".join(f"{name} {count}" for name, count in stats["splits"].items())
    console.print(f"positions: {stats['n_positions']}   split (games): {splits}")
    console.print(f"duplicates: {stats['duplicate_games']} game(s) repeat an earlier one "
                  f"({stats['duplicate_groups']} group(s))")
    for source in stats["generator"].get("sources", []):
        settings = ", ".join(f"{k}={v}" for k, v in source.items() if k != "name")
        console.print(f"source {source.get('name', '?')}: {settings}")


@games_app.command("generate")
def generate(
    board: str = typer.Option("8x8", "--board", help="board size ROWSxCOLS, 2..16 each (16x16 is the paper setting)"),
    n_random: int = typer.Option(0, "--random", min=0, help="number of uniformly random games"),
    n_guided: int = typer.Option(0, "--guided", min=0, help="number of alpha-beta guided games"),
    seed: int = typer.Option(0, "--seed", min=0, help="master seed (each source derives its own)"),
    out: Path = typer.Option(..., "--out", help="output file (.npz)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace --out if it exists (default: refuse)"),
    first: str = typer.Option("vertical", "--first", help="who moves first: vertical or horizontal"),
    opening_plies: int = typer.Option(16, "--opening-plies", min=0, help="random opening plies of guided games"),
    epsilon: float = typer.Option(0.25, "--epsilon", min=0.0, max=1.0, help="chance of a random move in guided games"),
) -> None:
    """Generate random and guided games and save them as a validated game store."""
    spec, first_player = parse_board(board), parse_first(first)
    if n_random + n_guided == 0:
        raise typer.BadParameter("nothing to generate: give --random N and/or --guided M with N + M > 0",
                                 param_hint="--random/--guided")
    check_output_path(out, overwrite)
    generate_and_save(spec, n_random, n_guided, seed, out, first_player, opening_plies, epsilon)


@games_app.command("stats")
def stats(path: Path = typer.Argument(..., help="game store (.npz)"),
          as_json: bool = typer.Option(False, "--json", help="print the statistics as JSON")) -> None:
    """Validate a game store and print its statistics (lengths, win rates, splits, duplicates)."""
    figures = GameStore.load(path).statistics()
    if as_json:
        typer.echo(json.dumps(figures, indent=2, sort_keys=True))
    else:
        print_statistics(figures, path)


@games_app.command("show")
def show(path: Path = typer.Argument(..., help="game store (.npz)"),
         game: int = typer.Option(0, "--game", min=0, help="game index"),
         ply: Optional[int] = typer.Option(None, "--ply", min=0, help="number of moves played (default: the end)")) -> None:
    """Render one position of one game as ASCII ('v'/'h' dominoes, the last move upper-case)."""
    store = GameStore.load(path)
    if game >= store.n_games:
        raise typer.BadParameter(f"game {game}: the store holds games 0..{store.n_games - 1}", param_hint="--game")
    length = int(store.lengths[game])
    ply = length if ply is None else ply
    if ply > length:
        raise typer.BadParameter(f"ply {ply}: game {game} has {length} moves (0..{length})", param_hint="--ply")
    board = dom.replay_boards(store.spec, store.moves, [game], [ply])
    played = store.moves[game, :ply]
    to_move = int(dom.player_to_move(ply, store.first))
    counts = dom.legal_counts(store.spec, board)[0]
    last = dom.describe_move(store.spec, int(played[-1])) if ply else "none"
    typer.echo(f"game {game}, ply {ply}/{length}, last move {last}, {dom.PLAYER_NAMES[to_move]} to move, "
               f"legal moves: vertical {counts[0]}, horizontal {counts[1]}; "
               f"winner: {dom.PLAYER_NAMES[int(store.winners[game])]}")
    typer.echo(dom.render(store.spec, board[0], last_move=int(played[-1]) if ply else None, moves=played))


@games_app.command("solve")
def solve(board: str = typer.Argument(..., help="board size ROWSxCOLS (small boards: the search is exact)"),
          as_json: bool = typer.Option(False, "--json", help='print {"board", "vertical_first", "horizontal_first"}'),
          node_limit: int = typer.Option(2_000_000_000, "--node-limit", min=1,
                                         help="give up after this many searched positions (7x7 needs ~1e8)")) -> None:
    """Who wins with perfect play, when vertical moves first and when horizontal moves first."""
    spec = parse_board(board, param_hint="BOARD")
    from modinterp.games import solver  # after parsing, so a bad BOARD is reported first
    try:
        with console.status(f"solving {spec}...", spinner="dots") if not as_json else _nothing():
            outcome = {"board": str(spec),
                       "vertical_first": dom.PLAYER_NAMES[solver.solve(spec, first=dom.VERTICAL, node_limit=node_limit)],
                       "horizontal_first": dom.PLAYER_NAMES[solver.solve(spec, first=dom.HORIZONTAL, node_limit=node_limit)]}
    except solver.SolverBudgetExceeded as err:
        raise typer.BadParameter(f"gave up: {err}", param_hint="BOARD") from None
    if as_json:
        typer.echo(json.dumps(outcome))
    else:
        typer.echo(f"{spec}: vertical first -> {outcome['vertical_first']} wins; "
                   f"horizontal first -> {outcome['horizontal_first']} wins")


@contextmanager
def _nothing() -> Iterator[None]:
    yield

