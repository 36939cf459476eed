"""Planted-modules benchmark: do modularity losses recover known modules, and at what task cost?

MLPs [32, 64, 64, 8] learn k=4 independent subtasks on disjoint input blocks (outputs concatenated). For
every loss and lambda, over seeds: test MSE relative to the unregularised net of the same seed, the
metrics of the final net's Gomory-Hu 4-module partition (cross-weight fraction, n-cut, Newman Q), the
clusterability z-score (Filan et al.), and the adjusted Rand index between the recovered partition of the
hidden units and their functional truth. The sweep itself is `modinterp.studies.carve.sweep`.

    python bench/planted_modules.py [--quick] [--json OUT]

The chosen lambda per loss is the one with the highest mean ARI among those whose mean task-loss ratio is
<= 1.05 (else the lowest ratio). Timing: the GH loss's overhead is the extra wall time of its runs over
the unregularised runs of the same seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from modinterp.atomic import atomic_write_json
from modinterp.models.planted import PlantedTask
from modinterp.studies.carve.sweep import FULL_SWEEP, HIDDEN, K, QUICK_SWEEP, run_sweep, summarise, sweep_runs


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and one lambda per loss (~3 min)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--table-from", type=Path, default=None, help="print the table of an earlier --json run")
    args = parser.parse_args(argv)
    if args.table_from:
        old = json.loads(args.table_from.read_text())
        print_table(summarise(old["runs"], old["config"]["sweep"]))
        return old
    torch.set_num_threads(1)
    steps = 2400 if args.quick else 3000
    sweep = QUICK_SWEEP if args.quick else FULL_SWEEP
    n_shuffles = 5 if args.quick else 20
    task = PlantedTask(k=K)
    seeds = list(range(args.seeds))
    start = time.perf_counter()
    rows = run_sweep(sweep_runs(sweep, seeds, steps, n_shuffles), on_row=_print_row)
    summary = summarise(rows, sweep)
    print_table(summary)
    result = {"config": {"k": K, "sizes": [task.n_in, *HIDDEN, task.n_out], "steps": steps, "seeds": seeds,
                         "sweep": sweep, "quick": args.quick, "n_shuffles": n_shuffles},
              "losses": summary, "runs": rows, "seconds": time.perf_counter() - start}
    if args.json:
        atomic_write_json(args.json, result)
    return result


def _print_row(r: dict) -> None:
    """One line on stderr per regularised run, as it finishes."""
    if r["loss"] != "none":
        print(f"{r['loss']:>9} lam={r['lam']:<7g} seed={r['seed']} ratio={r['task_loss_ratio']:.3f} ari={r['ari']:.3f} "
              f"cross={r['cross_fraction']:.3f} z={r['z']:.2f} t={r['seconds']:.1f}s", file=sys.stderr)


def print_table(summary: dict) -> None:
    head = (f"{'loss':>9} {'lam':>7} {'ARI(GH)':>8} {'ARI(spec)':>9} {'task/none':>9} {'GH mods':>7} {'cross':>7} "
            f"{'n-cut':>7} {'Q':>6} {'ncut_sp':>7} {'shuf':>6} {'z':>7} {'overhd':>7}")
    print(head)
    for name, s in summary.items():
        for p in s["sweep"]:
            mark = "*" if p["lam"] == s["chosen_lam"] else " "
            print(f"{name:>9} {p['lam']:>7g}{mark}{p['ari']:>8.3f} {p['ari_spectral']:>9.3f} {p['task_loss_ratio']:>9.3f} "
                  f"{p['n_modules']:>7.2f} "
                  f"{p['cross_fraction']:>7.4f} {p['normalized_cut']:>7.3f} {p['newman_q']:>6.3f} "
                  f"{p['ncut_spectral']:>7.3f} {p['ncut_shuffled']:>6.3f} {p['z']:>7.2f} {100 * p['overhead']:>6.1f}%")
    print("* chosen lambda (highest ARI with task loss within 5% of the unregularised net)")


if __name__ == "__main__":
    main()
