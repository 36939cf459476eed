"""Benchmark of the position pipeline: vectorised batches against a per-sample Dataset, and the trainer's data wait.

    python bench/positions.py [--quick] [--board 16x16] [--batch 200] [--json OUT] [--core N]

Rows (same run, same games, one core: the process is pinned and torch/Numba use one thread):
- `vectorised`: `modinterp.data.positions.TrainPositions.batch(step)` (replay, symmetry, tokens, targets for a
  whole batch as array operations);
- `per-sample (move loop)`: a torch `Dataset` written below the way the original structured it: `__getitem__`
  replays one game move by move in Python, applies one symmetry, builds tokens, the legal mask and the sector
  concept for that one position, and a `DataLoader` (num_workers=0) collates the dicts into batches;
- `per-sample (scatter)`: the same with the replay done as one NumPy scatter per sample (a kinder baseline).
Each figure is the median of several timed rounds. The ratio vectorised / per-sample (move loop) is the figure of
merit (target >= 10x); the ratio to the kinder baseline is printed too.

Then the trainer runs a few steps of a model (default: the `small` preset on the chosen board) and reports the
fraction of its step time spent waiting for the next batch, with prefetching (one worker process) on and off
(target < 5%). Use --device cuda on a GPU machine: that is where data can become the bottleneck.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before numba is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from modinterp.data.positions import PositionConfig, TrainPositions, ValidationPositions, n_concepts  # noqa: E402
from modinterp.data.store import GameStore  # noqa: E402
from modinterp.games.domineering import VERTICAL, BoardSpec  # noqa: E402
from modinterp.games.players import random_games  # noqa: E402


class PerSamplePositions(Dataset):
    """The reference: one position per `__getitem__`, built with Python loops and small NumPy calls."""

    def __init__(self, store: GameStore, per_game: int, min_ply: int, seed: int, sector=(4, 4), move_loop: bool = True):
        self.store, self.sector, self.move_loop = store, sector, move_loop
        rng = np.random.default_rng(seed)
        games = np.flatnonzero(store.lengths > min_ply)
        self.items = [(int(g), int(rng.integers(min_ply, store.lengths[g])), int(rng.integers(0, 4)))
                      for g in games for _ in range(per_game)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        spec, (g, ply, sym) = self.store.spec, self.items[i]
        rows, cols = spec.rows, spec.cols
        board = np.zeros(rows * cols, dtype=np.int64)
        if self.move_loop:
            for code in self.store.moves[g, :ply].tolist():  # replay move by move, as the original did
                a, b = spec.move_cells[code]
                board[a] = board[b] = 1
        else:
            board[spec.move_cells[self.store.moves[g, :ply]].ravel()] = 1  # one scatter of the first `ply` moves
        board = board.reshape(rows, cols)
        next_cells = [divmod(int(c), cols) for c in spec.move_cells[self.store.moves[g, ply]]]
        if sym in (1, 3):
            board = board[::-1]
            next_cells = [(rows - 1 - r, c) for r, c in next_cells]
        if sym in (2, 3):
            board = board[:, ::-1]
            next_cells = [(r, cols - 1 - c) for r, c in next_cells]
        (r0, c0), (r1, c1) = sorted(next_cells)
        policy = r0 * cols + c0 if c0 == c1 else spec.n_vertical + r0 * (cols - 1) + c0
        mover = self.store.first if ply % 2 == 0 else 1 - self.store.first
        free_v = (board[:-1] == 0) & (board[1:] == 0)  # vertical moves by top cell
        free_h = (board[:, :-1] == 0) & (board[:, 1:] == 0)  # horizontal moves by left cell
        legal = np.concatenate([free_v.ravel() & (mover == VERTICAL), free_h.ravel() & (mover != VERTICAL)])
        sh, sw = self.sector
        sectors = []
        for r in range(0, rows, sh):
            for c in range(0, cols, sw):
                sectors.append(free_v[r:r + sh, c:c + sw].sum() - free_h[r:r + sh, c:c + sw].sum())
        tokens = np.concatenate([board.ravel(), [2]])
        return {"tokens": torch.from_numpy(tokens), "value": torch.tensor(float(self.store.winners[g] == VERTICAL)),
                "policy": torch.tensor(policy), "legal": torch.from_numpy(legal),
                "concepts": torch.tensor(sectors, dtype=torch.float32) / 10}


def time_vectorised(stream: TrainPositions, n_batches: int, rounds: int) -> float:
    """Median positions/s over `rounds` rounds of `n_batches` consecutive batches."""
    stream.batch(0)  # warm-up (first epoch plan)
    rates, step = [], 1
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n_batches):
            stream.batch(step)
            step += 1
        rates.append(n_batches * stream.batch_size / (time.perf_counter() - start))
    return float(np.median(rates))


def time_per_sample(dataset: PerSamplePositions, batch_size: int, n_batches: int, rounds: int) -> float:
    """Median positions/s over `rounds` rounds of `n_batches` DataLoader batches."""
    loader = iter(DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0,
                             generator=torch.Generator().manual_seed(0)))
    next(loader)
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n_batches):
            next(loader)
        rates.append(n_batches * batch_size / (time.perf_counter() - start))
    return float(np.median(rates))


def time_trainer(store: GameStore, preset: str, batch: int, steps: int, device: str | None, prefetch: bool) -> dict:
    from modinterp.models import build_model
    from modinterp.train.config import ModelChoice, TrainConfig
    from modinterp.train.trainer import Trainer

    config = TrainConfig(steps=steps, batch_size=batch, model=ModelChoice(preset=preset), device=device,
                         prefetch=prefetch, progress=False, tensorboard=False, log_every=max(1, steps))
    train = TrainPositions(store, config.positions, batch, seed=0)
    val = ValidationPositions(store, config.val_positions, batch, seed=0, games=np.arange(20))
    model = build_model(preset, store.spec.rows, store.spec.cols, n_concepts=n_concepts(store.spec, config.positions))
    result = Trainer(config, model, train, val).fit()
    return {"preset": preset, "batch": batch, "steps": steps, "prefetch": prefetch,
            "device": str(torch.device(device) if device else "auto"),
            "data_wait_fraction": result.data_wait_fraction, "steps_per_s": result.steps_per_s,
            "ms_per_step": 1000 / result.steps_per_s, "first_batch_s": result.first_batch_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer games and batches (seconds)")
    parser.add_argument("--board", default="16x16")
    parser.add_argument("--batch", type=int, default=200, help="batch size (the original's large-model batch)")
    parser.add_argument("--preset", default="small", help="model preset for the data-wait measurement")
    parser.add_argument("--train-steps", type=int, default=None)
    parser.add_argument("--device", default=None, help="device for the trainer rows (default: CUDA if present)")
    parser.add_argument("--core", type=int, default=None, help="pin to this CPU core (default: the first allowed; -1: no pinning)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity") and args.core != -1:
        core = args.core if args.core is not None else min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
    torch.set_num_threads(1)
    rows, cols = (int(x) for x in args.board.lower().split("x"))
    spec = BoardSpec(rows, cols)
    n_games = 300 if args.quick else 2000
    store = GameStore.from_records(spec, random_games(spec, n_games, seed=0), seed=0)
    config = PositionConfig()  # the original's: 57 per game from ply 16, sector 4x4 / 10, random symmetry
    n_vec, n_ref, rounds = (5, 1, 3) if args.quick else (20, 3, 5)
    per_sample = lambda loop: PerSamplePositions(store, config.positions_per_game, config.min_ply, 0, move_loop=loop)  # noqa: E731

    vec = time_vectorised(TrainPositions(store, config, args.batch, seed=0), n_vec, rounds)
    ref = time_per_sample(per_sample(True), args.batch, n_ref, rounds)
    kind = time_per_sample(per_sample(False), args.batch, n_ref, rounds)
    steps = args.train_steps or (6 if args.quick else 30)
    trainer_rows = [time_trainer(store, args.preset, args.batch, steps, args.device, p) for p in (True, False)]

    print(f"positions on {args.board}, batch {args.batch}, one core ({platform.processor() or platform.machine()})")
    print(f"{'pipeline':<26}{'positions/s':>14}{'vectorised / it':>18}")
    print(f"{'vectorised':<26}{vec:>14,.0f}")
    print(f"{'per-sample (move loop)':<26}{ref:>14,.0f}{vec / ref:>17.1f}x")
    print(f"{'per-sample (scatter)':<26}{kind:>14,.0f}{vec / kind:>17.1f}x")
    print(f"\ntrainer ({args.preset}, batch {args.batch}, {steps} steps)")
    print(f"{'prefetch':<10}{'device':<10}{'ms/step':>10}{'data wait':>12}{'first batch':>13}")
    for row in trainer_rows:
        print(f"{str(row['prefetch']):<10}{row['device']:<10}{row['ms_per_step']:>10.1f}{100 * row['data_wait_fraction']:>11.2f}%{row['first_batch_s']:>12.2f}s")
    if args.json:
        report = {"board": args.board, "batch": args.batch, "n_games": n_games, "quick": args.quick,
                  "vectorised_positions_per_s": vec, "per_sample_move_loop_positions_per_s": ref,
                  "per_sample_scatter_positions_per_s": kind, "ratio": vec / ref, "ratio_scatter": vec / kind,
                  "trainer": trainer_rows, "torch": torch.__version__, "platform": platform.platform()}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
