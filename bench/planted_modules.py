"""Planted-modules benchmark: do modularity losses recover known modules, and at what task cost?

MLPs [32, 64, 64, 8] learn k=4 independent subtasks on disjoint input blocks (outputs concatenated). For
every loss and lambda, over seeds: test MSE relative to the unregularised net of the same seed, the
metrics of the final net's Gomory-Hu 4-module partition (cross-weight fraction, n-cut, Newman Q), the
clusterability z-score (Filan et al.), and the adjusted Rand index between the recovered partition of the
hidden units and their functional truth (the subtask whose loss rises most when the unit is ablated).

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
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score

from modinterp.modularity.gomory_hu import gomory_hu_tree
from modinterp.modularity.graph import WeightGraph
from modinterp.modularity.loss import BIMTLoss, L1Loss, ModularityLoss, SpectralLoss
from modinterp.modularity.metrics import clusterability, modularity_report, spectral_partition
from modinterp.modularity.partition import partition
from modinterp.modularity.planted import PlantedTask, hidden_unit_labels, test_set, train_planted

K = 4
HIDDEN = [64, 64]


GH_OPTIONS = dict(refresh_every=1000, warmup_l1=3e-4, penalty_every=2)  # every 2nd step: see docs/results.md


def make_loss(name: str, lam: float, steps: int):
    warmup = steps // 3
    if name == "gh":
        return ModularityLoss(lam, k=K, warmup_steps=warmup, **GH_OPTIONS)
    if name == "gh_ncut":
        return ModularityLoss(lam, k=K, warmup_steps=warmup, form="ncut", **GH_OPTIONS)
    if name == "l1":
        return L1Loss(lam)
    if name == "bimt":
        return BIMTLoss(lam)
    if name == "spectral":
        return SpectralLoss(lam, k=K, every=4)
    raise ValueError(name)


def evaluate(task: PlantedTask, model, n_shuffles: int) -> dict:
    """Metrics of the final net: GH 4-partition, ARI of hidden units vs functional truth, z-score."""
    graph = WeightGraph.from_model(model)
    tree = gomory_hu_tree(graph)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        part = partition(tree, k=K, min_size=max(2, graph.n_nodes // (4 * K)))
    x, y = test_set(task)
    truth, _ = hidden_unit_labels(model, task, x, y)
    hidden = np.flatnonzero(graph.nodes.kind == "hidden")
    unit = graph.source_ids[hidden] - task.n_in  # hidden-unit index over both hidden layers
    labelled = truth[unit] >= 0
    spectral = spectral_partition(graph, K)
    out = {"ari": float(adjusted_rand_score(truth[unit][labelled], part.labels[hidden][labelled])),
           "ari_spectral": float(adjusted_rand_score(truth[unit][labelled], spectral[hidden][labelled])),
           "singleton_fraction": tree.singleton_fraction(), "n_dead": int(graph.info["n_dead_dropped"]),
           "n_unlabelled_hidden": int((~labelled).sum()), "tree_seconds": tree.info["seconds"]}
    out.update(modularity_report(graph, part.labels))
    z = clusterability(graph, K, n_shuffles=n_shuffles, seed=0)
    out.update(ncut_spectral=z["ncut"], ncut_shuffled=z["ncut_shuffled_mean"], z=z["z"])
    return out


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
    sweep = ({"gh": [0.3], "l1": [3e-4], "bimt": [3e-4], "spectral": [0.1]} if args.quick else
             {"gh": [0.1, 0.3, 1.0], "gh_ncut": [0.03, 0.1, 0.3], "l1": [1e-4, 3e-4, 1e-3],
              "bimt": [1e-4, 3e-4, 1e-3], "spectral": [0.01, 0.1, 1.0]})
    n_shuffles = 5 if args.quick else 20
    task = PlantedTask(k=K)
    seeds = list(range(args.seeds))
    start = time.perf_counter()
    base = {s: train_planted(task, HIDDEN, None, steps=steps, seed=s) for s in seeds}
    rows = [dict(loss="none", lam=0.0, seed=s, task_loss=r.test_loss, task_loss_ratio=1.0, seconds=r.seconds_total,
                 overhead=0.0, **evaluate(task, r.model, n_shuffles)) for s, r in base.items()]
    for name, lams in sweep.items():
        for lam in lams:
            for s in seeds:
                loss = make_loss(name, lam, steps)
                run = train_planted(task, HIDDEN, loss, steps=steps, seed=s)
                rows.append(dict(loss=name, lam=lam, seed=s, task_loss=run.test_loss,
                                 task_loss_ratio=run.test_loss / base[s].test_loss, seconds=run.seconds_total,
                                 overhead=run.seconds_total / base[s].seconds_total - 1.0,
                                 seconds_in_loss=run.seconds_loss, seconds_refresh=run.seconds_refresh,
                                 n_refreshes=run.n_refreshes, **evaluate(task, run.model, n_shuffles)))
                print(_fmt(rows[-1]), file=sys.stderr)
    summary = summarise(rows, sweep)
    print_table(summary)
    result = {"config": {"k": K, "sizes": [task.n_in, *HIDDEN, task.n_out], "steps": steps, "seeds": seeds,
                         "sweep": sweep, "quick": args.quick, "n_shuffles": n_shuffles},
              "losses": summary, "runs": rows, "seconds": time.perf_counter() - start}
    if args.json:
        from modinterp.atomic import atomic_write_json

        atomic_write_json(args.json, result)
    return result


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def summarise(rows: list[dict], sweep: dict) -> dict:
    """Per loss: every lambda's means over seeds, and the chosen lambda's figures."""
    out = {}
    for name in ["none", *sweep]:
        per_lam = []
        for lam in sorted({r["lam"] for r in rows if r["loss"] == name}):
            sel = [r for r in rows if r["loss"] == name and r["lam"] == lam]
            per_lam.append({k: _mean(sel, k) for k in ("ari", "ari_spectral", "task_loss_ratio", "task_loss",
                                                       "cross_fraction", "normalized_cut", "newman_q", "z",
                                                       "ncut_spectral", "ncut_shuffled", "overhead",
                                                       "singleton_fraction", "n_modules")}
                           | {"lam": lam, "n_seeds": len(sel)})
        ok = [p for p in per_lam if p["task_loss_ratio"] <= 1.05]
        chosen = max(ok, key=lambda p: p["ari"]) if ok else min(per_lam, key=lambda p: p["task_loss_ratio"])
        out[name] = {"chosen_lam": chosen["lam"], "ari": chosen["ari"], "task_loss_ratio": chosen["task_loss_ratio"],
                     "chosen": chosen, "sweep": per_lam}
    return out


def _fmt(r: dict) -> str:
    return (f"{r['loss']:>9} lam={r['lam']:<7g} seed={r['seed']} ratio={r['task_loss_ratio']:.3f} ari={r['ari']:.3f} "
            f"cross={r['cross_fraction']:.3f} z={r['z']:.2f} t={r['seconds']:.1f}s")


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
