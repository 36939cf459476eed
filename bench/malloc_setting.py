"""What `modinterp.device.reuse_freed_memory()` is worth to a plain training step outside the Trainer.

One training step (forward + backward + AdamW, fp32, one thread, `bench/train_step.py`'s workload) of a
BoardTransformer, timed in paired fresh processes: one with glibc's malloc told to reuse freed memory (what
every model-running `modinterp` command and the Trainer do), one with `MODINTERP_MALLOC=system` (glibc's
default). The setting is process-wide and cannot be undone, hence separate processes; the two kinds alternate
round by round so machine load hits both alike. Prints per round the median ms per step, minor page faults
per step and max RSS of each, and the ratio system / reuse; `--json OUT` also writes them.

    .venv/bin/python bench/malloc_setting.py [--preset large] [--board 16] [--batch 64] [--rounds 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from train_step import make_batch, make_step, time_interleaved  # bench/ is this script's folder

from modinterp.atomic import atomic_write_json
from modinterp.device import reuse_freed_memory
from modinterp.models import build_model

SETTINGS = ("reuse", "system")  # MODINTERP_MALLOC unset / "system"


def measure_in_this_process(preset: str, board: int, batch: int, warmup: int, repeats: int) -> dict:
    """Time `repeats` steps after `warmup` in this process, under whatever allocator setting it has."""
    took = reuse_freed_memory()
    torch.set_num_threads(1)
    device = torch.device("cpu")
    model = build_model(preset, board, board)
    step = make_step(model, make_batch(model.config, batch, device), device)
    faults: dict = {}
    seconds = time_interleaved({"step": step}, warmup, repeats, device, faults)["step"]
    return {"setting_took": took, "ms_per_step": 1e3 * seconds, "minor_faults_per_step": faults["step"],
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure_in_fresh_process(setting: str, args: argparse.Namespace) -> dict:
    """Run this script with --child under `setting` and return the figures it prints."""
    env = {**os.environ, "MODINTERP_MALLOC": "system" if setting == "system" else ""}
    command = [sys.executable, __file__, "--child", "--preset", args.preset, "--board", str(args.board),
               "--batch", str(args.batch), "--warmup", str(args.warmup), "--repeats", str(args.repeats)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_rounds(args: argparse.Namespace) -> list[dict]:
    """`args.rounds` pairs of processes, the order of the two settings alternating between rounds."""
    rounds = []
    for r in range(args.rounds):
        order = SETTINGS if r % 2 == 0 else SETTINGS[::-1]
        figures = {setting: measure_in_fresh_process(setting, args) for setting in order}
        figures["ratio_system_over_reuse"] = figures["system"]["ms_per_step"] / figures["reuse"]["ms_per_step"]
        rounds.append(figures)
        print(format_round(r, figures), flush=True)
    return rounds


def format_round(r: int, f: dict) -> str:
    cells = [f"{s}: {f[s]['ms_per_step']:8.1f} ms, {f[s]['minor_faults_per_step']:7.0f} faults, "
             f"{f[s]['max_rss_mb']:6.0f} MB" for s in SETTINGS]
    return f"round {r + 1}  " + "   ".join(cells) + f"   system / reuse {f['ratio_system_over_reuse']:.2f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="large", help="model preset (default large, the paper's)")
    parser.add_argument("--board", type=int, default=16, help="board side (default 16)")
    parser.add_argument("--batch", type=int, default=64, help="batch size (default 64, as bench/train_step.py)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per process (default 5; median)")
    parser.add_argument("--rounds", type=int, default=3, help="pairs of processes (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_in_this_process(args.preset, args.board, args.batch, args.warmup, args.repeats)))
        return 0
    rounds = run_rounds(args)
    ratios = [f["ratio_system_over_reuse"] for f in rounds]
    print(f"median ratio system / reuse over {len(ratios)} rounds: {statistics.median(ratios):.2f}x "
          f"({args.preset}, {args.board}x{args.board}, batch {args.batch}, 1 thread)")
    if args.json:
        atomic_write_json(args.json, {"settings": vars(args) | {"json": str(args.json)}, "rounds": rounds,
                                      "median_ratio_system_over_reuse": statistics.median(ratios)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
