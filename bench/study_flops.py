"""Training FLOPs of a growth-study preset, counted, and the GPU time they project to at stated throughputs.

    python bench/study_flops.py [--preset paper] [--tflops 100 200 300] [--json OUT]

Counted, not assumed: the forward FLOPs of one position of each model (torch's FlopCounterMode on the preset's
models, batch of 8), times 3 for forward + backward, times the positions a run trains on (train-split games x
positions per game x epochs, or steps x batch). This is an upper bound where games are shorter than
min_ply + positions_per_game. What it cannot count: achieved GPU throughput (the projection states it as an
assumption, a range) and the self-play stage's CPU-side game logic (its value-head forwards are counted).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from modinterp.data.store import DEFAULT_FRACTIONS
from modinterp.models import build_model
from modinterp.studies.growth.config import SMALL_CONDITIONS, load_study_config


def forward_flops_per_position(preset: str, rows: int, cols: int, overrides: dict) -> float:
    """FLOPs of one forward pass of one position (all tokens), counted by torch."""
    model = build_model(preset, rows, cols, **overrides).eval()
    tokens = torch.zeros((8, rows * cols + 1), dtype=torch.long)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(tokens)
    return counter.get_total_flops() / 8


def positions_per_run(config, size) -> int:
    """Positions one run of `size` trains on: epochs over the train split's positions, or steps x batch."""
    train = size.train
    if train.epochs is None:
        return train.steps * train.batch_size
    data = config.data
    n_games = data.n_random + data.n_guided + (data.selfplay.games if data.selfplay else 0)
    per_epoch = int(n_games * DEFAULT_FRACTIONS[0]) * config.positions.positions_per_game
    return math.ceil(train.epochs * (per_epoch // train.batch_size)) * train.batch_size


def study_flops(preset: str) -> dict:
    config = load_study_config(preset)
    rows, cols = config.board.rows, config.board.cols
    out = {"preset": preset, "board": f"{rows}x{cols}", "seeds": len(config.seeds), "conditions": list(config.conditions)}
    for name, size in (("small", config.small), ("large", config.large)):
        forward = forward_flops_per_position(size.preset, rows, cols, size.overrides)
        positions = positions_per_run(config, size)
        out[name] = {"forward_gflop_per_position": forward / 1e9, "positions_per_run": positions,
                     "train_pflop_per_run": 3 * forward * positions / 1e15}
    n_small = sum(c in SMALL_CONDITIONS for c in config.conditions)
    n_large = len(config.conditions) - n_small
    out["train_pflop_study"] = len(config.seeds) * (n_small * out["small"]["train_pflop_per_run"]
                                                    + n_large * out["large"]["train_pflop_per_run"])
    sp = config.data.selfplay
    if sp is not None:
        model = dict(sp.bootstrap_train["model"]) if isinstance(sp.bootstrap_train, dict) else {}
        forward = forward_flops_per_position(model.get("preset", "small"), rows, cols, model.get("overrides", {}))
        out["selfplay_forward_gflop_per_position"] = forward / 1e9
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--tflops", type=float, nargs="+", default=[100.0, 200.0, 300.0],
                        help="achieved training throughputs to project at (TFLOP/s; an H100's dense bf16 peak is ~989)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = study_flops(args.preset)
    result["projection_hours"] = {f"{t:g} TFLOP/s": result["train_pflop_study"] * 1e15 / (t * 1e12) / 3600
                                  for t in args.tflops}
    for name in ("small", "large"):
        r = result[name]
        print(f"{name}: {r['forward_gflop_per_position']:.3f} GFLOP forward per position, {r['positions_per_run']:,} "
              f"positions per run, {r['train_pflop_per_run']:.3g} PFLOP per run (forward + backward = 3 x forward)")
    print(f"study ({result['seeds']} seeds x {len(result['conditions'])} conditions): {result['train_pflop_study']:.3g} PFLOP")
    for label, hours in result["projection_hours"].items():
        print(f"  at {label} achieved: {hours:.2g} h")
    if "selfplay_forward_gflop_per_position" in result:
        print(f"self-play value network: {result['selfplay_forward_gflop_per_position']:.3f} GFLOP per evaluated position")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
