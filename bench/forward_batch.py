"""Peak memory and time of a value-lookahead forward against the positions per forward (`arena.FORWARD_BATCH`).

    python bench/forward_batch.py [--d-model 128] [--positions 400] [--batches 8192 1024] [--json OUT]

Each batch size runs in a fresh process (peak resident memory is per process) with the allocator setting every model
command uses (`modinterp.device.reuse_freed_memory`), one thread: a fresh carve-sized model (cpu-large at the given
width, d_head = d_model / 4, d_mlp = 4 d_model) scores every legal child of `--positions` boards four plies into a
game, as the trainer's play evaluation does for 400 games at once. Prints seconds, peak RSS and the largest
difference of the scores from the first setting's (the batch size must not change outputs beyond float rounding).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
from modinterp.device import reuse_freed_memory
from modinterp.games import domineering as dom
from modinterp.models import build_model
from modinterp.play.arena import game_streams, lookahead_scores
reuse_freed_memory()
torch.set_num_threads(1)
d_model, positions, batch = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
spec = dom.BoardSpec(8, 8)
model = build_model("cpu-large", 8, 8, seed=0, d_model=d_model, d_head=d_model // 4, d_mlp=4 * d_model).eval()
rng = np.random.default_rng(0)
boards = np.zeros((positions, spec.n_cells), dtype=np.int8)
to_move = np.zeros(positions, dtype=np.int8)
for _ in range(4):  # four random plies, as the play evaluation's openings
    legal = dom.legal_mask(spec, boards, to_move)
    moves = np.array([rng.choice(np.flatnonzero(row)) for row in legal])
    cells = spec.move_cells[moves]
    boards[np.arange(positions), cells[:, 0]] = 1
    boards[np.arange(positions), cells[:, 1]] = 1
    to_move = (1 - to_move).astype(np.int8)
lookahead_scores(model, spec, boards[:8], to_move[:8], batch)  # warm-up
started = time.perf_counter()
scores = lookahead_scores(model, spec, boards, to_move, batch)
seconds = time.perf_counter() - started
np.save(sys.argv[4], scores)
children = int(np.isfinite(scores).sum())
print(json.dumps({"batch": batch, "seconds": seconds, "children": children,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def run(d_model: int, positions: int, batch: int, scores_file: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(d_model), str(positions), str(batch), str(scores_file)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--positions", type=int, default=400)
    parser.add_argument("--batches", type=int, nargs="+", default=[8192, 1024])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import tempfile

    import numpy as np

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batches:
            row = run(args.d_model, args.positions, batch, Path(tmp) / f"{batch}.npy")
            scores = np.load(Path(tmp) / f"{batch}.npy")
            first = np.load(Path(tmp) / f"{args.batches[0]}.npy")
            finite = np.isfinite(first)
            row["max_abs_difference"] = float(np.abs(scores[finite] - first[finite]).max())
            rows.append(row)
            print(f"batch {batch}: {row['children']} children in {row['seconds']:.2f} s, peak RSS {row['peak_rss_mb']} MB, "
                  f"largest score difference from batch {args.batches[0]}: {row['max_abs_difference']:.2e}")
    base = rows[0]
    for row in rows[1:]:
        print(f"batch {row['batch']} against {base['batch']}: time x{row['seconds'] / base['seconds']:.2f}, "
              f"peak memory x{row['peak_rss_mb'] / base['peak_rss_mb']:.2f}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"d_model": args.d_model, "positions": args.positions, "rows": rows}, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
