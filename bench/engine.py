"""Benchmark of the Domineering players: compiled random and guided games against a pure-Python engine.

    python bench/engine.py [--quick] [--json OUT] [--core N]

Everything runs on ONE core (the process is pinned with os.sched_setaffinity and Numba limited to one thread).
Rows: random games/s on 8x8 and 16x16 and guided games/s (the original's recipe: 16 random plies, epsilon 0.25,
alpha-beta at depth 1/2/3 by mobility) for
- `compiled`: modinterp.games.players (Numba, one game at a time),
- `python`: a straightforward engine written below in the style of the original (one game at a time, a NumPy mask
  of the remaining moves ANDed with precomputed elimination masks; Python alpha-beta with a dict TT),
- `batched numpy`: random games advanced together with the engine's vectorised `legal_mask`/`play` (1,000 at once),
and the ratio compiled / python from the same run. Compile time is excluded (one warm-up call first).
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before numba is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from modinterp.games import domineering as dom  # noqa: E402
from modinterp.games.players import guided_games, random_games  # noqa: E402

ORIGINAL = {"random_16x16": 1000.0, "guided_16x16": 2.0}  # games/s per core reported for the original


# ------------------------------------------------------------------ the pure-Python baseline engine

class PythonEngine:
    """One game at a time: a bool mask of remaining moves, elimination masks, a player mask (like the original)."""

    def __init__(self, spec: dom.BoardSpec):
        self.spec = spec
        cells = spec.move_cells
        n = spec.n_moves
        touches = np.zeros((n, spec.n_cells), dtype=bool)
        touches[np.arange(n), cells[:, 0]] = True
        touches[np.arange(n), cells[:, 1]] = True
        self.keep = ~((touches.astype(np.int32) @ touches.T.astype(np.int32)) > 0)  # moves left standing
        self.player_mask = np.stack([spec.move_player == p for p in (0, 1)])
        centre = (cells // spec.cols).mean(1) - (spec.rows - 1) / 2, (cells % spec.cols).mean(1) - (spec.cols - 1) / 2
        self.order = np.argsort(centre[0] ** 2 + centre[1] ** 2, kind="stable")
        rng = random.Random(0)
        zcell = [rng.getrandbits(64) for _ in range(spec.n_cells)]
        self.zmove = [zcell[a] ^ zcell[b] for a, b in cells.tolist()]

    def legal(self, remaining: np.ndarray, player: int) -> np.ndarray:
        return np.flatnonzero(remaining & self.player_mask[player])

    def random_game(self, rng: random.Random) -> int:
        remaining = np.ones(self.spec.n_moves, dtype=bool)
        player, plies = dom.VERTICAL, 0
        while True:
            legal = self.legal(remaining, player)
            if len(legal) == 0:
                return plies
            remaining &= self.keep[legal[rng.randrange(len(legal))]]
            player, plies = 1 - player, plies + 1

    def negamax(self, remaining, player, depth, alpha, beta, key, tt) -> float:
        legal = self.legal(remaining, player)
        if len(legal) == 0:
            return -math.inf
        if depth == 0:
            return float(len(legal) - len(self.legal(remaining, 1 - player)))
        entry = tt.get((key, player))
        if entry is not None and entry[0] >= depth:
            return entry[1]
        best, alpha0 = -math.inf, alpha
        for move in self.order[remaining[self.order] & self.player_mask[player][self.order]]:
            value = -self.negamax(remaining & self.keep[move], 1 - player, depth - 1, -beta, -alpha,
                                  key ^ self.zmove[move], tt)
            best = max(best, value)
            alpha = max(alpha, value)
            if alpha >= beta:
                break
        if alpha0 < best < beta:  # exact values only: keeps the dict TT simple and correct
            tt[(key, player)] = (depth, best)
        return best

    def guided_game(self, rng: random.Random, opening: int = 16, epsilon: float = 0.25) -> int:
        remaining = np.ones(self.spec.n_moves, dtype=bool)
        player, plies, key = dom.VERTICAL, 0, 0
        while True:
            legal = self.legal(remaining, player)
            if len(legal) == 0:
                return plies
            if plies < opening or rng.random() < epsilon:
                move = int(legal[rng.randrange(len(legal))])
            else:
                depth = 1 if len(legal) >= 100 else (2 if len(legal) >= 30 else 3)
                tt: dict = {}
                best, move = -math.inf, int(legal[0])
                for m in self.order[remaining[self.order] & self.player_mask[player][self.order]]:
                    value = -self.negamax(remaining & self.keep[m], 1 - player, depth - 1, -math.inf, -best,
                                          key ^ self.zmove[m], tt)
                    if value > best:
                        best, move = value, int(m)
            remaining &= self.keep[move]
            key ^= self.zmove[move]
            player, plies = 1 - player, plies + 1


# ------------------------------------------------------------------ measurements

def rate(fn, n: int, repeats: int) -> float:
    """Best games/s over `repeats` timed calls of fn(n) (the least disturbed run on a shared machine)."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - start)
    return n / best


def batched_numpy_random(spec: dom.BoardSpec, n: int, seed: int = 0) -> None:
    """Random games advanced together with the engine's vectorised legal_mask / play."""
    rng = np.random.default_rng(seed)
    boards = dom.initial_boards(spec, n)
    to_move = dom.initial_to_move(n)
    live = np.ones(n, dtype=bool)
    while live.any():
        idx = np.flatnonzero(live)
        legal = dom.legal_mask(spec, boards[idx], to_move[idx])
        has_move = legal.any(1)
        live[idx[~has_move]] = False
        idx, legal = idx[has_move], legal[has_move]
        if len(idx) == 0:
            break
        moves = np.argmax(np.where(legal, rng.random(legal.shape), -1.0), axis=1)
        boards[idx], to_move[idx] = dom.play(spec, boards[idx], to_move[idx], moves, check=False)


def measure(quick: bool) -> list[dict]:
    scale = 0.2 if quick else 1.0
    rows = []
    for size in (8, 16):
        spec = dom.BoardSpec(size, size)
        engine = PythonEngine(spec)
        random_games(spec, 10, seed=0)  # compile / load the cached kernels
        guided_games(spec, 2, seed=0)
        n_rand = int((200_000 if size == 8 else 100_000) * scale)
        n_py = int((4000 if size == 8 else 1000) * scale)
        compiled = rate(lambda n: random_games(spec, n, seed=1), n_rand, 3)
        python = rate(lambda n: [engine.random_game(random.Random(i)) for i in range(n)], n_py, 1)
        batched = rate(lambda n: batched_numpy_random(spec, n), 1000, 1)
        rows.append({"task": f"random {size}x{size}", "compiled": compiled, "python": python,
                     "batched_numpy": batched, "ratio": compiled / python})
        n_guided = max(5, int((5000 if size == 8 else 400) * scale))
        n_guided_py = max(1, int((40 if size == 8 else 4) * scale))
        compiled = rate(lambda n: guided_games(spec, n, seed=1), n_guided, 2)
        python = rate(lambda n: [engine.guided_game(random.Random(i)) for i in range(n)], n_guided_py, 1)
        rows.append({"task": f"guided {size}x{size}", "compiled": compiled, "python": python,
                     "batched_numpy": None, "ratio": compiled / python})
    return rows


def cpu_model() -> str:
    """The processor's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def print_table(rows: list[dict]) -> None:
    print(f"{'task':<14} {'compiled/s':>12} {'python/s':>10} {'batched np/s':>13} {'ratio':>8} {'vs original':>12}")
    for r in rows:
        key = r["task"].replace(" ", "_")
        vs = f"{r['compiled'] / ORIGINAL[key]:.0f}x" if key in ORIGINAL else "-"
        batched = f"{r['batched_numpy']:.0f}" if r["batched_numpy"] is not None else "-"
        print(f"{r['task']:<14} {r['compiled']:>12.0f} {r['python']:>10.1f} {batched:>13} {r['ratio']:>7.0f}x {vs:>12}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer games (about a minute)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--core", type=int, default=None, help="CPU core to pin to (default: the first allowed)")
    args = parser.parse_args()
    core = args.core if args.core is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    rows = measure(args.quick)
    print_table(rows)
    if args.json is not None:
        from modinterp.atomic import atomic_write_json

        atomic_write_json(args.json, {
            "benchmark": "engine", "quick": args.quick, "core": core, "unit": "games per second, one core",
            "cpu": cpu_model(), "cpu_count": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0],
            "original_games_per_s": ORIGINAL, "rows": rows,
        })


if __name__ == "__main__":
    main()
