"""Modules read off a Gomory-Hu tree: partitions, the module table and the hierarchy (dendrogram).

Rule (see docs/modularity.md): rank the tree's edges by conductance phi_e = w_e / min(vol S_e, vol V\\S_e)
(S_e: the cut side of edge e, vol: sum of weighted degrees) and skip edges whose smaller side has fewer than
`min_size` nodes (default 2: singleton cuts, which on dense nets are every edge and carry no module
information). `partition(tree, k=K)` removes the K-1 lowest-conductance eligible edges; `partition(tree,
threshold=T)` removes every eligible edge with phi_e < T. The modules are the tree's remaining components.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components, maximum_flow

from modinterp.modularity.gomory_hu import GomoryHuTree
from modinterp.modularity.graph import WeightGraph
from modinterp.modularity.gusfield import integer_capacity_matrix

__all__ = ["Partition", "Module", "partition", "module_table", "linkage_matrix", "eligible_edges", "match_labels",
           "random_partition_like"]


@dataclass
class Partition:
    """Module label per graph node (0..n_modules-1, ordered by each module's smallest node id) and the tree
    edges that were cut (child ids, their conductances)."""

    labels: np.ndarray
    cut_edges: np.ndarray
    cut_conductance: np.ndarray
    n_requested: int | None = None

    @property
    def n_modules(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0


@dataclass
class Module:
    """One module: its node ids, internal and interface capacity, and min cut to every other module."""

    label: int
    nodes: np.ndarray
    internal_weight: float
    interface_weight: float
    min_cut_to: dict[int, float]

    @property
    def size(self) -> int:
        return len(self.nodes)


def eligible_edges(tree: GomoryHuTree, min_size: int = 2) -> np.ndarray:
    """Child ids of tree edges whose smaller side has at least `min_size` nodes, lowest conductance first."""
    if not isinstance(min_size, (int, np.integer)) or min_size < 1:
        raise ValueError(f"min_size={min_size!r}: expected a positive int (smallest module kept, in nodes)")
    edges = tree.tree_edges()
    edges = edges[tree.small_side_size()[edges] >= min_size]
    phi = tree.conductance()[edges]
    return edges[np.lexsort((edges, phi))]


def partition(tree: GomoryHuTree, k: int | None = None, threshold: float | None = None,
              min_size: int = 2) -> Partition:
    """Modules from the tree: pass exactly one of `k` (number of modules) or `threshold` (max conductance cut).

    If the tree has fewer than k-1 eligible edges, the partition has fewer modules than asked and a warning
    says so (`n_modules` < `n_requested`); it never invents cuts the tree does not hold.
    """
    if (k is None) == (threshold is None):
        raise ValueError("pass exactly one of k= (number of modules) or threshold= (conductance cut-off)")
    candidates = eligible_edges(tree, min_size)
    phi = tree.conductance()
    if k is not None:
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k={k!r}: expected a positive int (number of modules)")
        chosen = _greedy_cuts(tree, candidates, min_size, max_cuts=k - 1)
        if len(chosen) < k - 1:
            warnings.warn(f"the Gomory-Hu tree has only {len(chosen)} edges that split off >= {min_size} nodes, "
                          f"so the partition has {len(chosen) + 1} modules instead of k={k}; the graph is not "
                          "modular enough for its min cuts to show modules (train with a modularity loss or "
                          "prune interfaces)", stacklevel=2)
    else:
        chosen = _greedy_cuts(tree, candidates[phi[candidates] < threshold], min_size, max_cuts=tree.n_nodes)
    return Partition(_components_without(tree, chosen), chosen, phi[chosen], k)


def _greedy_cuts(tree: GomoryHuTree, candidates: np.ndarray, min_size: int, max_cuts: int) -> np.ndarray:
    """Take candidate edges in order, skipping any that would leave a module with < min_size nodes.

    Sides are re-measured inside the current module, so nested cuts cannot leave a sliver between them.
    """
    labels = np.zeros(tree.n_nodes, np.int64)
    chosen: list[int] = []
    for c in candidates:
        if len(chosen) >= max_cuts:
            break
        piece = tree.cut_side(int(c)) & (labels == labels[c])
        rest = int((labels == labels[c]).sum()) - int(piece.sum())
        if piece.sum() >= min_size and rest >= min_size:
            labels[piece] = len(chosen) + 1
            chosen.append(int(c))
    return np.asarray(chosen, dtype=np.int64)


def _components_without(tree: GomoryHuTree, removed: np.ndarray) -> np.ndarray:
    """Component label of every node once the tree edges of `removed` children are deleted."""
    n = tree.n_nodes
    keep = tree.parent >= 0
    keep[removed] = False
    children = np.flatnonzero(keep)
    adj = sp.csr_array((np.ones(len(children)), (children, tree.parent[children])), shape=(n, n))
    _, labels = connected_components(adj, directed=False)
    return _relabel_by_first_node(labels)


def _relabel_by_first_node(labels: np.ndarray) -> np.ndarray:
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    return rank[inverse].astype(np.int64)


def module_table(graph: WeightGraph, labels: np.ndarray, pairwise_cuts: bool = True) -> list[Module]:
    """Per module: nodes, internal capacity, interface capacity (its cut) and the exact min cut separating it
    from each other module (max-flow between the two modules contracted to single nodes)."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (graph.n_nodes,):
        raise ValueError(f"labels have shape {labels.shape}; expected ({graph.n_nodes},), one per graph node")
    k = int(labels.max()) + 1
    la, lb = labels[graph.edges[:, 0]], labels[graph.edges[:, 1]]
    same = la == lb
    internal = np.bincount(la[same], weights=graph.capacities[same], minlength=k)
    interface = (np.bincount(la[~same], weights=graph.capacities[~same], minlength=k)
                 + np.bincount(lb[~same], weights=graph.capacities[~same], minlength=k))
    cuts = module_min_cuts(graph, labels) if pairwise_cuts and k > 1 else np.full((k, k), np.nan)
    return [Module(c, np.flatnonzero(labels == c), float(internal[c]), float(interface[c]),
                   {d: float(cuts[c, d]) for d in range(k) if d != c}) for c in range(k)]


def module_min_cuts(graph: WeightGraph, labels: np.ndarray) -> np.ndarray:
    """(k, k) min cut capacity separating module a from module b (each contracted to one node)."""
    k = int(labels.max()) + 1
    matrix, scale = integer_capacity_matrix(_contracted_total_safe(graph))
    out = np.full((k, k), np.nan)
    for a in range(k):
        for b in range(a + 1, k):
            ids = np.arange(graph.n_nodes)
            ids[labels == a] = graph.n_nodes  # contract a and b to two extra node ids
            ids[labels == b] = graph.n_nodes + 1
            e = ids[graph.edges]
            keep = e[:, 0] != e[:, 1]
            n = graph.n_nodes + 2
            caps = np.rint(graph.capacities[keep] * scale).astype(np.int64)
            ee = e[keep]
            m = sp.csr_array((np.r_[caps, caps].astype(np.int32), (np.r_[ee[:, 0], ee[:, 1]], np.r_[ee[:, 1], ee[:, 0]])),
                             shape=(n, n))
            m.sum_duplicates()
            out[a, b] = out[b, a] = maximum_flow(m, n - 2, n - 1).flow_value / scale
    return out


def _contracted_total_safe(graph: WeightGraph) -> WeightGraph:
    """A star on the total capacity: makes the integer scale keep any contracted module's degree < 2**30."""
    total = graph.total_weight()
    return WeightGraph.from_edges(2, np.array([[0, 1]]), np.array([max(total, 1e-300)]))


def linkage_matrix(tree: GomoryHuTree, min_size: int = 1) -> np.ndarray:
    """A scipy linkage matrix (for `scipy.cluster.hierarchy.dendrogram`) of the module hierarchy.

    Tree edges are merged strongest first; the merge height of an edge is -log10(phi_e) (0 for a singleton
    cut, whose conductance is 1; 2 for an interface carrying 1% of the smaller side's volume), so the
    weakest interfaces join last, at the top. Edges whose smaller side is below `min_size` merge at 0.
    """
    n = tree.n_nodes
    children = tree.tree_edges()
    phi = np.nan_to_num(tree.conductance()[children], nan=1.0)
    height = np.clip(-np.log10(np.clip(phi, 1e-12, None)), 0.0, None)
    height[tree.small_side_size()[children] < min_size] = 0.0
    order = np.argsort(height, kind="stable")
    cluster_of = np.arange(n)  # union-find root -> current scipy cluster id
    root_of = np.arange(n)
    size = np.ones(2 * n - 1)
    rows = []

    def find(x: int) -> int:
        while root_of[x] != x:
            root_of[x] = root_of[root_of[x]]
            x = root_of[x]
        return x

    for step, idx in enumerate(order):
        c = int(children[idx])
        ra, rb = find(c), find(int(tree.parent[c]))
        ca, cb = cluster_of[ra], cluster_of[rb]
        size[n + step] = size[ca] + size[cb]
        rows.append([min(ca, cb), max(ca, cb), height[idx], size[n + step]])
        root_of[rb] = ra
        cluster_of[ra] = n + step
    return np.asarray(rows, dtype=float).reshape(-1, 4)


def match_labels(labels: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """`labels` renamed so that each module keeps the label of the previous partition's module it shares the
    most nodes with (Hungarian assignment on the overlap counts, scipy's `linear_sum_assignment`); modules left
    without a partner take the smallest labels no matched module uses. Nodes labelled -1 in either partition
    are not counted. With a different number of modules the labels can have gaps (a module that vanished)."""
    labels, previous = np.asarray(labels, dtype=np.int64), np.asarray(previous, dtype=np.int64)
    if labels.shape != previous.shape:
        raise ValueError(f"labels {labels.shape} and previous {previous.shape}: expected one label per node in both")
    both = (labels >= 0) & (previous >= 0)
    k_new, k_old = int(labels.max(initial=-1)) + 1, int(previous.max(initial=-1)) + 1
    overlap = np.zeros((k_new, k_old), dtype=np.int64)
    np.add.at(overlap, (labels[both], previous[both]), 1)
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    target = np.full(k_new, -1, dtype=np.int64)
    target[rows] = cols
    free = iter(sorted(set(range(k_new + k_old)) - set(cols.tolist())))
    for module in np.flatnonzero(target < 0):
        target[module] = next(free)
    return np.where(labels >= 0, target[np.maximum(labels, 0)], -1)


def random_partition_like(labels: np.ndarray, movable: np.ndarray, seed: int) -> np.ndarray:
    """A random partition with the same module sizes: the labels of the `movable` nodes (bool mask) permuted
    among them (seeded), the others kept. With movable = the units, every module keeps its node count and
    its unit count: the control a description of a module is compared with."""
    labels, movable = np.asarray(labels).copy(), np.asarray(movable, dtype=bool)
    if movable.shape != labels.shape:
        raise ValueError(f"movable {movable.shape} and labels {labels.shape}: expected one flag per node")
    labels[movable] = np.random.default_rng(seed).permutation(labels[movable])
    return labels
