"""Gusfield's Gomory-Hu algorithm over an integer Dinic max-flow (numba, default, or scipy's), with
speculative parallel flows.

Gusfield (1990), cut-tree variant as in networkx: all nodes start as children of the root; for each node s
in turn, take a min cut (S containing s) between s and its current parent t; every node on s's side whose
parent is t (processed or not) is relinked to s; if t's parent lies on s's side, s and t swap places.

The flow for s depends only on (s, parent[s]) when s's turn comes. Workers compute the next batch of flows
with the parents as they are now; in order, a result is used if its node's parent is still the one it was
computed with, otherwise the batch is abandoned from there. On dense nets most cuts are singletons, which
relink nothing, so most speculative flows are used. The tree is bit-identical to the sequential run.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from rich.progress import Progress
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

from modinterp.modularity.graph import WeightGraph

from modinterp.modularity import dinic

__all__ = ["gusfield", "gusfield_scipy", "integer_capacity_matrix"]

_WORKER_GRAPH: dict = {}


def integer_capacity_matrix(graph: WeightGraph, scale: float | None = None,
                            bits: int = 30) -> tuple[sp.csr_array, float]:
    """Symmetric CSR of round(capacity * scale) (int32 for bits <= 30, else int64); the default scale puts
    the largest weighted degree at 2**bits."""
    deg = graph.degrees()
    max_deg = float(deg.max()) if len(deg) else 0.0
    if scale is None:
        scale = (2.0 ** bits) / max_deg if max_deg > 0 else 1.0
    limit = 2.0 ** 31 - 1 if bits <= 30 else 2.0 ** 62
    if max_deg * scale >= limit:
        raise ValueError(f"scale={scale:g} makes the largest weighted degree {max_deg:g} overflow; "
                         f"use scale < {limit / max_deg:g}")
    caps = np.rint(graph.capacities * scale).astype(np.int64)
    keep = caps > 0
    e = graph.edges[keep]
    data = np.concatenate([caps[keep], caps[keep]]).astype(np.int32 if bits <= 30 else np.int64)
    n = graph.n_nodes
    matrix = sp.csr_array((data, (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), shape=(n, n))
    matrix.sum_duplicates()
    matrix.indices = matrix.indices.astype(np.int32)
    matrix.indptr = matrix.indptr.astype(np.int32)
    return matrix, float(scale)


def _min_cut(matrix: sp.csr_array, int_degree: np.ndarray, s: int, t: int) -> tuple[int, np.ndarray]:
    """(scaled max-flow value, sorted ids of the source side of a minimum s-t cut)."""
    result = maximum_flow(matrix, s, t, method="dinic")
    value = int(result.flow_value)
    if value == int_degree[s]:
        return value, np.array([s], dtype=np.int64)  # {s} is a min cut; the residual reaches nothing else
    residual = (matrix - result.flow).tocsr()
    residual.data = (residual.data > 0).astype(np.int8)
    residual.eliminate_zeros()
    side = breadth_first_order(residual, s, directed=True, return_predecessors=False)
    return value, np.sort(side.astype(np.int64))


def _worker_init(matrix: sp.csr_array, int_degree: np.ndarray) -> None:
    _WORKER_GRAPH["matrix"], _WORKER_GRAPH["degree"] = matrix, int_degree


def _worker_cut(s: int, t: int) -> tuple[int, np.ndarray]:
    return _min_cut(_WORKER_GRAPH["matrix"], _WORKER_GRAPH["degree"], s, t)


def gusfield(graph: WeightGraph, n_jobs: int = 1, scale: float | None = None, progress: bool = False,
             max_flow: str = "numba", root: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """(parent, flow value per child in capacity units, stats) of the Gomory-Hu cut tree.

    max_flow: "numba" (our compiled Dinic, int64 capacities scaled so the largest degree is 2**50; threads
    for n_jobs > 1) or "scipy" (scipy's Dinic, int32 capacities, largest degree 2**30; processes).
    """
    if max_flow == "scipy":
        return gusfield_scipy(graph, n_jobs, scale, progress, root)
    if max_flow != "numba":
        raise ValueError(f"max_flow={max_flow!r}; expected 'numba' or 'scipy'")
    if not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs={n_jobs!r}: expected a positive int (worker threads)")
    n = graph.n_nodes
    matrix, scale = integer_capacity_matrix(graph, scale, bits=50)
    indptr, indices = matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64)
    cap = matrix.data.astype(np.int64)
    rev = dinic.reverse_arcs(indptr, indices)
    running = np.concatenate([[0], np.cumsum(cap)]).astype(np.int64)
    degree = running[indptr[1:]] - running[indptr[:-1]]
    args = (indptr, indices, cap, rev, degree)
    stats = {"scale": scale, "n_jobs": int(n_jobs), "max_flow": "numba"}
    if n_jobs == 1:
        ws = dinic.Workspace(n, len(cap))
        parent, flow_int = dinic.gusfield_loop(*args, root, ws.flow, ws.level, ws.it, ws.queue, ws.path, ws.side)
        stats["flows_computed"] = stats["flows_used"] = n - 1
        return parent, np.where(parent >= 0, flow_int / scale, np.nan), stats
    local = threading.local()

    def cut(s: int, t: int) -> tuple[int, np.ndarray]:
        ws = getattr(local, "ws", None)
        if ws is None:
            ws = local.ws = dinic.Workspace(n, len(cap))
        value = dinic.max_flow_side(*args, s, t, ws.flow, ws.level, ws.it, ws.queue, ws.path, ws.side)
        return int(value), ws.side.copy()

    parent = np.zeros(n, np.int64)
    parent[root] = -1
    flow_int = np.zeros(n, np.int64)
    with ThreadPoolExecutor(n_jobs) as pool:
        computed, used = _speculate(pool.submit, cut, parent, root, 4 * n_jobs, lambda s, t, v, side: dinic.apply_cut(
            parent, flow_int, s, t, v, side, root))
    stats.update(flows_computed=computed, flows_used=used)
    return parent, np.where(parent >= 0, flow_int / scale, np.nan), stats


def _speculate(submit, cut, parent: np.ndarray, root: int, batch: int, apply) -> tuple[int, int]:
    """Run Gusfield's flows in order, computing each batch in parallel with the parents as they are now and
    keeping a result only while its node's parent is unchanged (else it is recomputed in the next batch)."""
    todo = np.array([s for s in range(len(parent)) if s != root], dtype=np.int64)
    position = computed = 0
    while position < len(todo):
        nodes = todo[position:position + batch]
        targets = parent[nodes].copy()
        futures = [submit(cut, int(s), int(t)) for s, t in zip(nodes, targets)]
        computed += len(futures)
        for s, t, future in zip(nodes, targets, futures):
            if parent[s] != t:
                break
            value, side = future.result()
            apply(int(s), int(t), value, side)
            position += 1
        for future in futures:
            future.cancel()
    return computed, len(todo)


def gusfield_scipy(graph: WeightGraph, n_jobs: int = 1, scale: float | None = None, progress: bool = False,
                   root: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """Gusfield over scipy's `maximum_flow` (Dinic, int32): (parent, flow per child, stats)."""
    if not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs={n_jobs!r}: expected a positive int (worker processes)")
    n = graph.n_nodes
    matrix, scale = integer_capacity_matrix(graph, scale)
    int_degree = np.asarray(matrix.sum(axis=1)).astype(np.int64).ravel()
    parent = np.zeros(n, np.int64)
    parent[root] = -1
    flow = np.full(n, np.nan)
    todo = np.array([s for s in range(n) if s != root], dtype=np.int64)
    stats = {"scale": scale, "n_jobs": int(n_jobs), "max_flow": "scipy", "flows_computed": 0, "flows_used": 0}

    def apply(s: int, t: int, value: int, side: np.ndarray) -> None:
        in_side = np.zeros(n, bool)
        in_side[side] = True
        flow[s] = value / scale
        relink = in_side & (parent == t)
        relink[s] = False
        parent[relink] = s
        if t != root and in_side[parent[t]]:
            parent[s], parent[t] = parent[t], s
            flow[s], flow[t] = flow[t], value / scale

    bar = _progress(progress, len(todo))
    if n_jobs == 1:
        for s in todo:
            t = int(parent[s])
            value, side = _min_cut(matrix, int_degree, int(s), t)
            apply(int(s), t, value, side)
            bar(1)
        stats["flows_computed"] = stats["flows_used"] = len(todo)
        return parent, flow, stats
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    batch = 4 * n_jobs
    with ProcessPoolExecutor(n_jobs, mp_context=ctx, initializer=_worker_init, initargs=(matrix, int_degree)) as pool:
        position = 0
        while position < len(todo):
            nodes = todo[position:position + batch]
            targets = parent[nodes].copy()
            futures = [pool.submit(_worker_cut, int(s), int(t)) for s, t in zip(nodes, targets)]
            stats["flows_computed"] += len(futures)
            for s, t, future in zip(nodes, targets, futures):
                if parent[s] != t:
                    break  # an earlier cut in this batch relinked s: recompute it in the next batch
                value, side = future.result()
                apply(int(s), int(t), value, side)
                position += 1
                stats["flows_used"] += 1
                bar(1)
            for future in futures:
                future.cancel()
    return parent, flow, stats


def _progress(enabled: bool, total: int):
    if not enabled:
        return lambda k: None
    progress = Progress(transient=True)
    progress.start()
    task = progress.add_task("Gomory-Hu flows", total=total)

    def advance(k: int) -> None:
        progress.advance(task, k)
        if progress.tasks[0].completed >= total:
            progress.stop()

    return advance
