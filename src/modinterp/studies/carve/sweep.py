"""The modularity-loss lambda sweep on the planted task: do the losses recover known modules, at what task cost?

MLPs [32, 64, 64, 8] learn k=4 independent subtasks on disjoint input blocks (`modinterp.models.planted`).
Each run (`SweepRun`: loss, lambda, seed) is a plain function of its spec (`run_planted`): train, then measure
the test MSE, the metrics of the final net's Gomory-Hu 4-module partition (cross-weight fraction, n-cut,
Newman Q), the clusterability z-score (Filan et al.), and the adjusted Rand index between the recovered
partition of the hidden units and their functional truth (the subtask whose loss rises most when the unit is
ablated). `run_sweep` runs a list of specs (baselines first) and expresses each run relative to the
unregularised net of its seed; `summarise` picks per loss the lambda with the highest mean ARI among those
whose mean task-loss ratio is <= 1.05 (else the lowest ratio). `bench/planted_modules.py` is the script.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score

from modinterp.modularity.construct import graph_of
from modinterp.modularity.cut import cut_graph
from modinterp.modularity.loss import BIMTLoss, L1Loss, ModularityLoss, SpectralLoss
from modinterp.modularity.metrics import clusterability, modularity_report, spectral_partition
from modinterp.models.mlp import MLP
from modinterp.models.planted import PlantedTask, hidden_unit_labels, test_set

__all__ = ["SweepRun", "sweep_runs", "run_planted", "run_sweep", "summarise", "make_loss", "train_planted",
           "planted_setup", "planted_step", "PlantedRun", "K", "HIDDEN", "QUICK_SWEEP", "FULL_SWEEP"]

K = 4
HIDDEN = (64, 64)
GH_OPTIONS = dict(refresh_every=1000, warmup_l1=3e-4, penalty_every=2)  # every 2nd step: see docs/results.md
QUICK_SWEEP = {"gh": [0.3], "l1": [3e-4], "bimt": [3e-4], "spectral": [0.1]}
FULL_SWEEP = {"gh": [0.1, 0.3, 1.0], "gh_ncut": [0.03, 0.1, 0.3], "l1": [1e-4, 3e-4, 1e-3],
              "bimt": [1e-4, 3e-4, 1e-3], "spectral": [0.01, 0.1, 1.0]}
SUMMARY_KEYS = ("ari", "ari_spectral", "task_loss_ratio", "task_loss", "cross_fraction", "normalized_cut", "newman_q",
                "z", "ncut_spectral", "ncut_shuffled", "overhead", "singleton_fraction", "n_modules")


@dataclass(frozen=True)
class SweepRun:
    """One run of the sweep: a loss ("none": unregularised) at weight `lam`, an MLP with `hidden` layers trained
    `steps` from `seed`; `n_shuffles` shuffled copies for the clusterability z-score."""

    loss: str
    lam: float
    seed: int
    steps: int
    n_shuffles: int
    hidden: tuple[int, ...] = HIDDEN


def sweep_runs(sweep: dict[str, list[float]], seeds: list[int], steps: int, n_shuffles: int) -> list[SweepRun]:
    """The unregularised run of every seed, then every (loss, lambda, seed) of `sweep`, in that order."""
    runs = [SweepRun("none", 0.0, s, steps, n_shuffles) for s in seeds]
    return runs + [SweepRun(name, lam, s, steps, n_shuffles) for name, lams in sweep.items() for lam in lams
                   for s in seeds]


def make_loss(name: str, lam: float, steps: int):
    """The regulariser a sweep run trains with (warm-up: the first third of the steps for the GH losses)."""
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
    raise ValueError(f"loss={name!r}; expected one of 'none', 'gh', 'gh_ncut', 'l1', 'bimt', 'spectral'")


def run_planted(spec: SweepRun) -> dict:
    """Train one sweep run and measure it: test MSE, timings and `evaluate`'s metrics (JSON-ready)."""
    task = PlantedTask(k=K)
    loss = None if spec.loss == "none" else make_loss(spec.loss, spec.lam, spec.steps)
    run = train_planted(task, list(spec.hidden), loss, steps=spec.steps, seed=spec.seed)
    return {"loss": spec.loss, "lam": spec.lam, "seed": spec.seed, "task_loss": run.test_loss,
            "seconds": run.seconds_total, "seconds_in_loss": run.seconds_loss, "seconds_refresh": run.seconds_refresh,
            "n_refreshes": run.n_refreshes, "metrics": evaluate(task, run.model, spec.n_shuffles)}


def run_sweep(runs: list[SweepRun], on_row: Callable[[dict], None] | None = None) -> list[dict]:
    """Run every spec in order (each seed's unregularised run before its regularised ones); one row per run,
    relative to its seed's unregularised run. `on_row` sees each row as it is made."""
    base: dict[int, dict] = {}
    rows = []
    for spec in runs:
        result = run_planted(spec)
        if spec.loss == "none":
            base[spec.seed] = result
        rows.append(sweep_row(result, base[spec.seed]))
        if on_row is not None:
            on_row(rows[-1])
    return rows


def sweep_row(result: dict, baseline: dict) -> dict:
    """A run's row: its figures, its task loss and wall time relative to `baseline`, its metrics."""
    if result["loss"] == "none":
        return dict(loss="none", lam=0.0, seed=result["seed"], task_loss=result["task_loss"], task_loss_ratio=1.0,
                    seconds=result["seconds"], overhead=0.0, **result["metrics"])
    return dict(loss=result["loss"], lam=result["lam"], seed=result["seed"], task_loss=result["task_loss"],
                task_loss_ratio=result["task_loss"] / baseline["task_loss"], seconds=result["seconds"],
                overhead=result["seconds"] / baseline["seconds"] - 1.0, seconds_in_loss=result["seconds_in_loss"],
                seconds_refresh=result["seconds_refresh"], n_refreshes=result["n_refreshes"], **result["metrics"])


def evaluate(task: PlantedTask, model: MLP, n_shuffles: int) -> dict:
    """Metrics of the final net: GH 4-partition, ARI of hidden units vs functional truth, z-score."""
    graph = graph_of(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cut = cut_graph(graph, K)
    x, y = test_set(task)
    truth, _ = hidden_unit_labels(model, task, x, y)
    hidden = np.flatnonzero(graph.nodes.kind == "hidden")
    unit = graph.source_ids[hidden] - task.n_in  # hidden-unit index over both hidden layers
    labelled = truth[unit] >= 0
    spectral = spectral_partition(graph, K)
    out = {"ari": float(adjusted_rand_score(truth[unit][labelled], cut.labels[hidden][labelled])),
           "ari_spectral": float(adjusted_rand_score(truth[unit][labelled], spectral[hidden][labelled])),
           "singleton_fraction": cut.tree.singleton_fraction(), "n_dead": int(graph.info["n_dead_dropped"]),
           "n_unlabelled_hidden": int((~labelled).sum()), "tree_seconds": cut.tree.info["seconds"]}
    out.update(modularity_report(graph, cut.labels))
    z = clusterability(graph, K, n_shuffles=n_shuffles, seed=0)
    out.update(ncut_spectral=z["ncut"], ncut_shuffled=z["ncut_shuffled_mean"], z=z["z"])
    return out


def summarise(rows: list[dict], sweep: dict) -> dict:
    """Per loss: every lambda's means over seeds, and the chosen lambda's figures."""
    out = {}
    for name in ["none", *sweep]:
        per_lam = []
        for lam in sorted({r["lam"] for r in rows if r["loss"] == name}):
            sel = [r for r in rows if r["loss"] == name and r["lam"] == lam]
            per_lam.append({k: float(np.mean([r[k] for r in sel])) for k in SUMMARY_KEYS} | {"lam": lam, "n_seeds": len(sel)})
        ok = [p for p in per_lam if p["task_loss_ratio"] <= 1.05]
        chosen = max(ok, key=lambda p: p["ari"]) if ok else min(per_lam, key=lambda p: p["task_loss_ratio"])
        out[name] = {"chosen_lam": chosen["lam"], "ari": chosen["ari"], "task_loss_ratio": chosen["task_loss_ratio"],
                     "chosen": chosen, "sweep": per_lam}
    return out


@dataclass
class PlantedRun:
    """Outcome of `train_planted`: the model, its test MSE and where the time went."""

    model: MLP
    test_loss: float
    seconds_total: float
    seconds_loss: float  # inside the regulariser's calls (refreshes included)
    seconds_refresh: float
    n_refreshes: int
    cpu_seconds: float = float("nan")  # process CPU time of the training loop (less sensitive to other load)


def train_planted(task: PlantedTask, hidden: list[int], loss=None, steps: int = 3000, batch: int = 256,
                  lr: float = 3e-3, seed: int = 0, n_test: int = 4096) -> PlantedRun:
    """Adam on the planted task's MSE (+ `loss(model, step)` if given); test MSE on a fixed held-out set."""
    model, opt, data_gen = planted_setup(task, hidden, lr, seed)
    seconds_loss = 0.0
    start, cpu_start = time.perf_counter(), time.process_time()
    for step in range(steps):
        seconds_loss += planted_step(task, model, opt, data_gen, batch, loss, step)
    seconds_total, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    x, y = test_set(task, n_test)
    with torch.no_grad():
        test_loss = float((model(x) - y).pow(2).mean())
    refresh = list(getattr(loss, "refresh_seconds_", []))
    return PlantedRun(model, test_loss, seconds_total, seconds_loss, float(sum(refresh)), len(refresh), cpu_seconds)


def planted_setup(task: PlantedTask, hidden: list[int], lr: float = 3e-3,
                  seed: int = 0) -> tuple[MLP, torch.optim.Optimizer, torch.Generator]:
    """The seeded MLP, its Adam optimizer and the training-data generator of one planted run."""
    model = MLP([task.n_in, *hidden, task.n_out], seed=seed)
    return model, torch.optim.Adam(model.parameters(), lr=lr), torch.Generator().manual_seed(10_000 + seed)


def planted_step(task: PlantedTask, model: MLP, opt: torch.optim.Optimizer, data_gen: torch.Generator,
                 batch: int, loss=None, step: int = 0) -> float:
    """One Adam step on a fresh batch (+ the regulariser); returns the seconds spent in the regulariser."""
    x, y = task.sample(batch, data_gen)
    total = (model(x) - y).pow(2).mean()
    seconds = 0.0
    if loss is not None:
        t0 = time.perf_counter()
        penalty = loss(model, step)
        if penalty.requires_grad:  # a skipped step's constant zero would only add an op
            total = total + penalty
        seconds += time.perf_counter() - t0
    opt.zero_grad(set_to_none=True)
    total.backward()
    opt.step()
    if loss is not None:
        t0 = time.perf_counter()
        loss.after_step(model)
        seconds += time.perf_counter() - t0
    return seconds
