"""Benchmark of self-play: positions the value head evaluates per second, against plain batched inference.

    python bench/selfplay.py [--quick] [--board 8x8] [--preset cpu-small] [--run RUN_DIR] [--games 200]
                             [--device cpu] [--json OUT]

Rows (same run, same model, same device):
- `selfplay`: `modinterp.play.selfplay.selfplay` (every game advancing together; per ply: legal children, one
  batched value forward, move choice with exploration, legality-checked play);
- `inference`: the model's forward alone (`arena.forward_outputs`) on the same number of positions (the
  self-play children, rebuilt from the games), in batches of the mean size self-play used.
The ratio inference / selfplay is the figure of merit (target: within 2x). Both are timed after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from modinterp.device import pick_device
from modinterp.games import domineering as dom
from modinterp.play.arena import ValueAgent, child_positions, forward_outputs, game_streams, play_games
from modinterp.models import build_model
from modinterp.train.checkpoint import load_trained_model


def selfplay_rate(model, spec: dom.BoardSpec, n_games: int, seed: int) -> tuple[float, int, float, ValueAgent]:
    """(positions evaluated per second, positions, seconds, agent) of n_games self-play games (epsilon 0.05)."""
    agent = ValueAgent(model, "selfplay", temperature=0.0, epsilon=0.05)
    started = time.perf_counter()
    records = play_games(spec, (agent,), np.zeros(n_games, dtype=np.int64), game_streams(seed, n_games), 4)
    seconds = time.perf_counter() - started
    agent.records = records
    return agent.positions_evaluated / seconds, agent.positions_evaluated, seconds, agent


def children_of_games(spec: dom.BoardSpec, records) -> tuple[np.ndarray, np.ndarray]:
    """Every legal child of every position (after the opening) of the games: the positions self-play evaluated."""
    games = np.repeat(np.arange(len(records.lengths)), records.lengths)
    plies = np.concatenate([np.arange(n) for n in records.lengths])
    keep = plies >= 4
    boards = dom.replay_boards(spec, records.moves, games[keep], plies[keep])
    _, _, children, to_move = child_positions(spec, boards, dom.player_to_move(plies[keep]))
    return children, to_move


def inference_rate(model, boards: np.ndarray, to_move: np.ndarray, batch_size: int) -> tuple[float, float]:
    """(positions per second, seconds) of the value forward alone over the boards."""
    forward_outputs(model, boards[:batch_size], to_move[:batch_size], batch_size, "value")  # warm-up
    if model_device(model).type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    forward_outputs(model, boards, to_move, batch_size, "value")
    seconds = time.perf_counter() - started
    return len(boards) / seconds, seconds


def model_device(model) -> torch.device:
    return next(model.parameters()).device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="40 games (seconds)")
    parser.add_argument("--board", default="8x8")
    parser.add_argument("--preset", default="cpu-small", help="model preset (ignored with --run)")
    parser.add_argument("--run", type=Path, default=None, help="a trained run directory instead of a fresh model")
    parser.add_argument("--games", type=int, default=200)
    parser.add_argument("--device", default=None, help="default: CUDA if present")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    spec = dom.BoardSpec.parse(args.board)
    model = (load_trained_model(args.run)[0] if args.run else build_model(args.preset, spec.rows, spec.cols))
    model = model.to(pick_device(args.device)).eval()
    spec = dom.BoardSpec(model.config.rows, model.config.cols)
    n_games = 40 if args.quick else args.games
    selfplay_rate(model, spec, 4, seed=1)  # warm-up
    sp_rate, positions, sp_seconds, agent = selfplay_rate(model, spec, n_games, seed=0)
    batch = max(1, round(positions / agent.calls))
    boards, to_move = children_of_games(spec, agent.records)
    inf_rate, inf_seconds = inference_rate(model, boards, to_move, batch)
    report = {"board": str(spec), "model": str(args.run or args.preset), "device": str(model_device(model)),
              "games": n_games, "positions": positions, "mean_batch": batch,
              "selfplay_positions_per_s": sp_rate, "selfplay_seconds": sp_seconds,
              "selfplay_games_per_s": n_games / sp_seconds, "inference_positions": len(boards),
              "inference_positions_per_s": inf_rate, "inference_seconds": inf_seconds,
              "ratio_inference_over_selfplay": inf_rate / sp_rate, "torch_threads": torch.get_num_threads(),
              "python": platform.python_version(), "torch": torch.__version__}
    print(f"{'row':<12}{'positions':>12}{'seconds':>10}{'positions/s':>14}")
    print(f"{'selfplay':<12}{positions:>12}{sp_seconds:>10.2f}{sp_rate:>14.0f}   ({n_games / sp_seconds:.1f} games/s)")
    print(f"{'inference':<12}{len(boards):>12}{inf_seconds:>10.2f}{inf_rate:>14.0f}   (batches of {batch})")
    print(f"ratio inference / selfplay: {inf_rate / sp_rate:.2f}x (target <= 2x)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
