"""Gomory-Hu tree speed: every back-end on MLP and BoardTransformer weight graphs, and the GH loss's overhead.

    python bench/gomory_hu.py [--quick] [--json OUT]

Graphs: random-init MLPs [64,128,128,10] and [256,512,512,10] (one node per unit), the BoardTransformer
presets cpu-large on 8x8 and large on 16x16 (heads + neurons, virtual weights, top-16 edges per node and
direction). Back-ends: ours (Gusfield over a numba Dinic, 1 thread and speculative 2 threads; Gusfield over
scipy's Dinic), igraph (C) and networkx (preflow-push). Times are ratios to ours (1 thread) in the same run;
a back-end is skipped (and says so) when one max-flow x (n-1) predicts more than the time budget.
Overhead: CPU time of planted-benchmark training with the GH loss at its default refresh interval (applied
every step and every 2nd step) and with a plain L1 term, against the same training without a regulariser, the
runs advancing in lockstep; for the 8x8 transformer the per-step penalty cost plus one refresh per K steps
against a training step (batch 64; median over 30 pairs of neighbouring steps).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from modinterp.atomic import atomic_write_json
from modinterp.modularity import GomoryHuProvider, ModularityLoss, WeightGraph, gomory_hu_tree, graph_of
from modinterp.models import MLP, build_model
from modinterp.models.planted import PlantedTask
from modinterp.studies.carve.sweep import GH_OPTIONS, HIDDEN, K, make_loss, planted_setup, planted_step, train_planted

def backends(threads: list[int]) -> dict[str, dict]:
    out = {"ours-numba": dict(backend="gusfield")}
    out.update({f"ours-numba-{t}threads": dict(backend="gusfield", n_jobs=t) for t in threads})
    out.update({"ours-scipy": dict(backend="gusfield", max_flow="scipy"), "igraph": dict(backend="igraph"),
                "networkx": dict(backend="networkx")})
    return out


def graphs(quick: bool) -> dict[str, WeightGraph]:
    out = {"mlp[64,128,128,10]": graph_of(MLP([64, 128, 128, 10], seed=0)),
           "tf cpu-large 8x8 top16": graph_of(build_model("cpu-large", 8, 8), top_k=16)}
    if not quick:
        out["mlp[256,512,512,10]"] = graph_of(MLP([256, 512, 512, 10], seed=0))
        out["tf large 16x16 top16"] = graph_of(build_model("large", 16, 16), top_k=16)
    return out


def one_flow_seconds(graph: WeightGraph, backend: str) -> float:
    """Time of a single max-flow between the two highest-degree nodes (for the skip estimate)."""
    deg = graph.degrees()
    s, t = (int(i) for i in np.argsort(-deg)[:2])
    start = time.perf_counter()
    if backend == "igraph":
        import igraph

        g = igraph.Graph(n=graph.n_nodes, edges=graph.edges.tolist(), directed=False)
        start = time.perf_counter()
        g.maxflow_value(s, t, capacity=graph.capacities.tolist())
    elif backend == "networkx":
        import networkx as nx
        from networkx.algorithms.flow import preflow_push

        g = nx.Graph()
        g.add_weighted_edges_from(((int(a), int(b), float(c)) for (a, b), c in zip(graph.edges, graph.capacities)),
                                  weight="capacity")
        start = time.perf_counter()
        nx.maximum_flow_value(g, s, t, flow_func=preflow_push)
    else:
        return 0.0
    return time.perf_counter() - start


def agreement(reference, tree, rng: np.random.Generator, pairs: int = 50) -> float:
    """Largest relative difference of min-cut values over random node pairs."""
    n = reference.n_nodes
    worst = 0.0
    for _ in range(pairs):
        u, v = rng.choice(n, 2, replace=False)
        a, b = reference.min_cut_value(int(u), int(v)), tree.min_cut_value(int(u), int(v))
        worst = max(worst, abs(a - b) / max(abs(a), 1e-300))
    return worst


def tree_timings(quick: bool, budget: float, threads: list[int]) -> list[dict]:
    gomory_hu_tree(WeightGraph.from_edges(3, [[0, 1], [1, 2]], [1.0, 2.0]))  # load/compile numba outside the timings
    rows = []
    for name, graph in graphs(quick).items():
        base = None
        for backend, kwargs in backends(threads).items():
            row = {"graph": name, "n_nodes": graph.n_nodes, "n_edges": graph.n_edges, "backend": backend}
            try:
                estimate = one_flow_seconds(graph, kwargs["backend"]) * (graph.n_nodes - 1)
            except ImportError as err:
                row.update(skipped=f"not installed ({err})", seconds=None)
                rows.append(row)
                print(f"{name:>24} {backend:>20}  skipped: not installed", flush=True)
                continue
            if backend == "networkx":
                estimate /= 4  # networkx reuses its residual network across flows (anchors B.3: ~4x)
            if estimate > budget:
                row.update(skipped=f"estimated {estimate:.0f} s > budget {budget:.0f} s", seconds=None)
                rows.append(row)
                print(f"{name:>24} {backend:>20}  skipped: estimated {estimate:.0f} s", flush=True)
                continue
            tree = gomory_hu_tree(graph, **kwargs)
            if base is None:
                base = tree
            row.update(seconds=tree.info["seconds"], ratio_to_ours=tree.info["seconds"] / base.info["seconds"],
                       max_rel_diff_vs_ours=agreement(base, tree, np.random.default_rng(0)),
                       singleton_fraction=tree.singleton_fraction(),
                       flows_computed=tree.info.get("flows_computed"), flows_used=tree.info.get("flows_used"))
            rows.append(row)
            print(f"{name:>24} {backend:>20} {row['seconds']:8.2f} s  x{row['ratio_to_ours']:.2f}  "
                  f"rel.diff {row['max_rel_diff_vs_ours']:.1e}", flush=True)
    return rows


def planted_overhead(steps: int, seeds: list[int], penalty_every: tuple[int, ...] = (1, 2)) -> dict:
    """CPU time of planted training with the GH loss (default K, each `penalty_every`) and with plain L1,
    against the same training without a regulariser: the runs of a seed advance in lockstep, one step each in
    turn, so that load on the machine hits all of them alike. Refreshes happen inside the GH runs' steps."""
    task = PlantedTask(k=K)
    train_planted(task, HIDDEN, make_loss("gh", 0.3, 600), steps=600, seed=99)  # load numba's cache once
    names = ["none", "l1"] + [f"gh_every{n}" for n in penalty_every]
    cpu = {name: 0.0 for name in names}
    refresh = {name: 0.0 for name in names}
    for seed in seeds:
        losses = {"none": None, "l1": make_loss("l1", 1e-4, steps)}
        options = {**GH_OPTIONS, "penalty_every": 1}
        for n in penalty_every:
            options["penalty_every"] = n
            losses[f"gh_every{n}"] = ModularityLoss(0.3, k=K, warmup_steps=steps // 3, **options)
        runs = {name: planted_setup(task, HIDDEN, seed=seed) for name in names}
        for step in range(steps):
            for name in names:
                t0 = time.process_time()
                planted_step(task, *runs[name], batch=256, loss=losses[name], step=step)
                cpu[name] += time.process_time() - t0
        for name in names:
            refresh[name] += float(sum(getattr(losses[name], "refresh_seconds_", [])))
    overhead = {name: cpu[name] / cpu["none"] - 1 for name in names if name != "none"}
    return {"steps": steps, "seeds": seeds, "refresh_every": GH_OPTIONS["refresh_every"], "cpu_seconds": cpu,
            "refresh_seconds": refresh, "overhead_cpu": overhead}


def transformer_overhead(refresh_every: int = 1000, batch: int = 64, repeats: int = 30,
                         penalty_every: int = 1) -> dict:
    """Per-step penalty cost + one refresh per K steps, against a BoardTransformer training step (8x8)."""
    model = build_model("cpu-large", 8, 8)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 2, (batch, model.config.seq_len), generator=gen)
    tokens[:, -1] = 2
    target = torch.rand(batch, generator=gen)
    loss = ModularityLoss(0.3, k=8, refresh_every=10 ** 9, top_k=16, provider=GomoryHuProvider(),
                          penalty_every=penalty_every)
    start = time.perf_counter()
    loss.refresh(model)
    refresh = time.perf_counter() - start

    def steps(with_loss: bool) -> float:
        """CPU seconds per step over `penalty_every` consecutive steps."""
        t0 = time.process_time()
        for i in range(penalty_every):
            out = model(tokens)
            total = torch.nn.functional.binary_cross_entropy_with_logits(out.value, target)
            if with_loss:
                total = total + loss(model, i)
            opt.zero_grad()
            total.backward()
            opt.step()
        return (time.process_time() - t0) / penalty_every

    steps(False), steps(True)
    times = np.array([[steps(False), steps(True)] for _ in range(repeats)])  # interleaved against load drift
    plain, with_penalty = (float(v) for v in np.median(times, axis=0))
    per_step_refresh = refresh / refresh_every
    # median over the pairs of neighbouring steps: a burst of load on the machine hits both halves of a pair
    paired = float(np.median((times[:, 1] - times[:, 0] + per_step_refresh) / times[:, 0]))
    return {"model": "cpu-large 8x8", "batch": batch, "refresh_every": refresh_every, "penalty_every": penalty_every,
            "refresh_seconds": refresh, "repeats": repeats,
            "step_seconds": plain, "step_seconds_with_penalty": with_penalty, "overhead": paired,
            "overhead_of_medians": (with_penalty - plain + per_step_refresh) / plain}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small graphs only, short overhead runs")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--budget", type=float, default=None, help="skip back-ends predicted to exceed this (s)")
    parser.add_argument("--threads", default="2", help="comma-separated thread counts for the parallel runs")
    parser.add_argument("--overhead-only", action="store_true", help="skip the tree timings")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    budget = args.budget or (30.0 if args.quick else 400.0)
    start = time.perf_counter()
    rows = [] if args.overhead_only else tree_timings(args.quick, budget, [int(t) for t in args.threads.split(",") if t])
    planted = planted_overhead(1500 if args.quick else 3000, [0] if args.quick else [0, 1, 2])
    shares = ", ".join(f"{name} {100 * v:.1f}%" for name, v in planted["overhead_cpu"].items())
    print(f"Overhead on the planted benchmark (K={planted['refresh_every']}, share of training CPU time, runs in "
          f"lockstep): {shares}", flush=True)
    tf = [transformer_overhead(penalty_every=every) for every in (1, 4)]
    for t in tf:
        print(f"GH loss overhead on the 8x8 transformer (K={t['refresh_every']}, penalty_every={t['penalty_every']}, "
              f"batch {t['batch']}): {100 * t['overhead']:.1f}% of CPU time per step (refresh {t['refresh_seconds']:.2f} s, "
              f"step {1e3 * t['step_seconds']:.1f} ms)", flush=True)
    result = {"trees": rows, "overhead_planted": planted, "overhead_transformer_8x8": tf, "budget_seconds": budget,
              "seconds": time.perf_counter() - start, "quick": args.quick}
    if args.json:
        atomic_write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
