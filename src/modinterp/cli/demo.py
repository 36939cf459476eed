"""`modinterp demo --out runs/demo`: the main job on the CPU preset (for now: a small 8x8 game set).

Later issues replace the body with the growth study; keep this a thin call into library code.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from modinterp.cli.games import console, generate_and_save, parse_board, print_statistics
from modinterp.games import domineering as dom
from modinterp.manifest import write_manifest


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(out: Path = typer.Option(Path("runs/demo"), "--out", help="output folder"),
         board: str = typer.Option("8x8", "--board", help="board size ROWSxCOLS"),
         n_random: int = typer.Option(2000, "--random", min=0, help="uniformly random games"),
         n_guided: int = typer.Option(20, "--guided", min=0, help="alpha-beta guided games"),
         seed: int = typer.Option(0, "--seed", min=0, help="master seed")) -> None:
    """Generate a small game set under OUT, print its statistics and one rendered board."""
    started = time.time()
    spec = parse_board(board)
    if n_random + n_guided == 0:
        raise typer.BadParameter("the demo needs at least one game", param_hint="--random/--guided")
    path = Path(out) / "games.npz"
    store = generate_and_save(spec, n_random, n_guided, seed, path)
    stats = store.statistics()
    print_statistics(stats, path)
    game = int(store.lengths.argmax())
    ply = int(store.lengths[game]) // 2
    board_now = dom.replay_boards(spec, store.moves, [game], [ply])[0]
    console.print(f"game {game} after {ply} of its {store.lengths[game]} moves "
                  f"({dom.PLAYER_NAMES[int(dom.player_to_move(ply))]} to move):")
    typer.echo(dom.render(spec, board_now, last_move=int(store.moves[game, ply - 1]), moves=store.moves[game, :ply]))
    config = {"board": str(spec), "n_random": n_random, "n_guided": n_guided, "seed": seed}
    write_manifest(out, config, seeds=[seed], started_at=started, outputs={"games": "games.npz"}, statistics=stats)
