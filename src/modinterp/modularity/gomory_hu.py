"""Gomory-Hu (cut) trees of a `WeightGraph`.

`gomory_hu_tree(graph, backend=...)` returns a `GomoryHuTree`: for every pair (u, v) the minimum u-v cut of
the graph is the lightest edge on the tree path, and removing a tree edge splits the nodes into a minimum cut
of the graph (the cut-tree property, not only flow equivalence).

Back-ends (all Gusfield's algorithm: n-1 max-flows, no graph contraction):
- "gusfield": ours, over a compiled Dinic max-flow (numba; or scipy's with max_flow="scipy") on
  capacities scaled to integers. Gusfield's flows are
  sequential (each flow's endpoints depend on the cuts before it), but a flow whose cut is a singleton
  changes no other node's parent. With `n_jobs > 1` we compute the next flows speculatively in parallel with
  the current parents and keep each result only if its node's parent is unchanged when its turn comes, so the
  tree is identical to the sequential one.
- "igraph": python-igraph's C implementation (float capacities), the reference.
- "networkx": networkx with preflow-push (slow; pairwise values only: on random graphs its tree sides are
  not always min cuts, so `weight` keeps its flow values and `cut_side` is not guaranteed minimal).
Each tree edge's weight is recomputed as the exact float capacity of the cut it induces in the graph, so it
is a valid cut; `flow_values` keeps what the back-end's max-flow reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from modinterp.modularity.graph import WeightGraph
from modinterp.modularity.gusfield import gusfield

__all__ = ["GomoryHuTree", "gomory_hu_tree", "BACKENDS"]

BACKENDS = ("gusfield", "igraph", "networkx")


@dataclass
class GomoryHuTree:
    """A cut tree stored as a parent array rooted at `root` (parent[root] = -1).

    The tree edge of node c (c != root) joins c and parent[c]; its cut side is c's subtree (`cut_side(c)`), of
    total capacity `weight[c]` in the graph. Derived arrays: `order` (parents before children), `depth`,
    `size` (subtree node counts), `volume` (subtree weighted degrees).
    """

    graph: WeightGraph
    parent: np.ndarray
    weight: np.ndarray
    flow_values: np.ndarray
    root: int = 0
    backend: str = "gusfield"
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.parent)
        self.order = _preorder(self.parent, self.root)
        self.depth = np.zeros(n, np.int64)
        for node in self.order[1:]:
            self.depth[node] = self.depth[self.parent[node]] + 1
        self.size = self._subtree_sum(np.ones(n))
        self.volume = self._subtree_sum(self.graph.degrees())
        self._tin, self._tout = _euler_intervals(self.parent, self.order, self.size)

    @property
    def n_nodes(self) -> int:
        return len(self.parent)

    def tree_edges(self) -> np.ndarray:
        """(n-1,) ids of the child node of each tree edge (the edge is (c, parent[c]))."""
        return np.flatnonzero(self.parent >= 0)

    def cut_side(self, child: int) -> np.ndarray:
        """Bool mask of the nodes on `child`'s side of its tree edge (its subtree)."""
        self._check_node(child)
        if child == self.root:
            raise ValueError(f"node {child} is the root; it has no tree edge. Pass a non-root node")
        return (self._tin >= self._tin[child]) & (self._tin < self._tout[child])

    def min_cut_value(self, u: int, v: int) -> float:
        """Minimum u-v cut capacity: the lightest edge on the tree path between u and v."""
        self._check_node(u)
        self._check_node(v)
        if u == v:
            raise ValueError(f"u and v are both {u}; a min cut needs two different nodes")
        best = np.inf
        while u != v:
            if self.depth[u] < self.depth[v]:
                u, v = v, u
            best = min(best, float(self.weight[u]))
            u = int(self.parent[u])
        return best

    def min_cut_edge(self, u: int, v: int) -> int:
        """Child id of the lightest tree edge between u and v (its `cut_side` is a minimum u-v cut)."""
        best, arg = np.inf, -1
        while u != v:
            if self.depth[u] < self.depth[v]:
                u, v = v, u
            if self.weight[u] < best:
                best, arg = float(self.weight[u]), int(u)
            u = int(self.parent[u])
        return arg

    def min_cut_matrix(self) -> np.ndarray:
        """(n, n) all-pairs min cut values (diagonal inf), by merging tree components heaviest edge first."""
        n = self.n_nodes
        out = np.full((n, n), np.inf)
        members = {i: np.array([i]) for i in range(n)}
        comp = np.arange(n)
        children = self.tree_edges()
        for c in children[np.argsort(-self.weight[children], kind="stable")]:
            a, b = comp[c], comp[self.parent[c]]
            ma, mb = members.pop(a), members.pop(b)
            out[np.ix_(ma, mb)] = self.weight[c]
            out[np.ix_(mb, ma)] = self.weight[c]
            merged = np.concatenate([ma, mb])
            comp[merged] = a
            members[a] = merged
        return out

    def conductance(self) -> np.ndarray:
        """Per node c: weight[c] / min(vol(side), vol(rest)) of its tree edge (nan at the root, 0/0 -> 0)."""
        total = self.volume[self.root]
        denom = np.minimum(self.volume, total - self.volume)
        with np.errstate(divide="ignore", invalid="ignore"):
            phi = np.where(denom > 0, self.weight / np.where(denom > 0, denom, 1.0), 0.0)
        phi[self.root] = np.nan
        return phi

    def small_side_size(self) -> np.ndarray:
        """Per node c: the node count of the smaller side of its tree edge."""
        return np.minimum(self.size, self.n_nodes - self.size)

    def singleton_fraction(self) -> float:
        """Fraction of tree edges that cut off a single node (B.4 of the anchors: 1.0 on dense nets)."""
        edges = self.tree_edges()
        return float(np.mean(self.small_side_size()[edges] == 1)) if len(edges) else 0.0

    def nontrivial_edges(self, min_fraction: float = 0.05, counted: np.ndarray | None = None) -> int:
        """Tree edges whose smaller side holds at least `min_fraction` of the nodes: the module boundaries the
        tree itself shows (issue 18 asks for >= k-1 of them at 5% of the units). `counted` (bool per node) counts
        only those nodes, e.g. a transformer's heads and neurons, so that a side of embedding rows or output
        units alone is no module boundary."""
        edges = self.tree_edges()
        if not len(edges):
            return 0
        if counted is None:
            return int((self.small_side_size()[edges] >= min_fraction * self.n_nodes).sum())
        counted = np.asarray(counted, dtype=np.float64)
        inside = self._subtree_sum(counted)
        smaller = np.minimum(inside, counted.sum() - inside)
        return int((smaller[edges] >= min_fraction * counted.sum()).sum())

    def _subtree_sum(self, values: np.ndarray) -> np.ndarray:
        acc = np.asarray(values, dtype=np.float64).copy()
        for node in self.order[::-1][:-1]:
            acc[self.parent[node]] += acc[node]
        return acc

    def _check_node(self, u: int) -> None:
        if not 0 <= int(u) < self.n_nodes:
            raise ValueError(f"node {u} out of range; expected an id in 0..{self.n_nodes - 1}")


def gomory_hu_tree(graph: WeightGraph, backend: str = "gusfield", n_jobs: int = 1, scale: float | None = None,
                   progress: bool = False, max_flow: str = "numba") -> GomoryHuTree:
    """The Gomory-Hu cut tree of `graph` (see the module docstring for the back-ends).

    gusfield only: `max_flow` "numba" (compiled Dinic, default) or "scipy" (scipy's Dinic); `n_jobs` threads
    (numba) or processes (scipy) for speculative parallel flows; `scale`: integer scaling of the capacities
    (default: largest weighted degree -> 2**50 for numba, 2**30 for scipy). A cut value is then exact to
    within (number of crossing edges) / (2 * scale). `progress`: a rich progress bar (scipy max-flow only;
    the numba loop runs compiled from start to end).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}; choose one of {BACKENDS}")
    n = graph.n_nodes
    start = time.perf_counter()
    info: dict = {"n_nodes": n, "n_edges": graph.n_edges}
    if n == 1:
        parent, flows = np.array([-1]), np.array([np.nan])
    elif backend == "gusfield":
        parent, flows, stats = gusfield(graph, n_jobs=n_jobs, scale=scale, progress=progress, max_flow=max_flow)
        info.update(stats)
    else:
        tree_edges, tree_flows = _library_tree(graph, backend)
        parent, flows = _rooted(n, tree_edges, tree_flows)
    info["seconds_flows"] = time.perf_counter() - start
    weight = exact_tree_cut_weights(graph, parent)
    info["seconds"] = time.perf_counter() - start
    gap = np.abs(weight - flows)[parent >= 0]
    info["max_side_flow_gap"] = float(gap.max()) if len(gap) else 0.0
    if backend == "networkx":
        # networkx 3.6's tree is only flow-equivalent on some graphs (its edge sides need not be min cuts,
        # see docs/modularity.md): keep its flow values, which are the correct pairwise min cuts.
        weight = np.where(parent >= 0, flows, np.nan)
    return GomoryHuTree(graph, parent, weight, flows, 0, backend, info)


def _library_tree(graph: WeightGraph, backend: str) -> tuple[np.ndarray, np.ndarray]:
    n = graph.n_nodes
    if backend == "igraph":
        import igraph  # reference back-ends only, imported when asked for

        g = igraph.Graph(n=n, edges=graph.edges.tolist(), directed=False)
        tree = g.gomory_hu_tree(capacity=graph.capacities.tolist(), flow="flow")
        return np.asarray(tree.get_edgelist(), dtype=np.int64).reshape(-1, 2), np.asarray(tree.es["flow"], float)
    import networkx as nx
    from networkx.algorithms.flow import preflow_push

    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from(((int(a), int(b), float(c)) for (a, b), c in zip(graph.edges, graph.capacities)),
                              weight="capacity")
    tree = nx.gomory_hu_tree(g, capacity="capacity", flow_func=preflow_push)
    edges = np.array([(a, b) for a, b in tree.edges()], dtype=np.int64).reshape(-1, 2)
    return edges, np.array([tree[a][b]["weight"] for a, b in edges], dtype=float)


def _rooted(n: int, edges: np.ndarray, flows: np.ndarray, root: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Parent array and per-child flow of an undirected tree given as an edge list."""
    if len(edges) != n - 1:
        raise RuntimeError(f"back-end returned {len(edges)} tree edges for {n} nodes; expected {n - 1}")
    adj = sp.csr_array((np.ones(2 * len(edges)), (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]])),
                       shape=(n, n))
    _, pred = sp.csgraph.breadth_first_order(adj, root, directed=False, return_predecessors=True)
    parent = np.where(pred < 0, -1, pred).astype(np.int64)
    parent[root] = -1
    lookup = {(int(min(a, b)), int(max(a, b))): f for (a, b), f in zip(edges, flows)}
    child_flow = np.full(n, np.nan)
    for c in np.flatnonzero(parent >= 0):
        child_flow[c] = lookup[(min(c, int(parent[c])), max(c, int(parent[c])))]
    return parent, child_flow


def exact_tree_cut_weights(graph: WeightGraph, parent: np.ndarray, root: int = 0) -> np.ndarray:
    """Per child c: total capacity of graph edges crossing the split of c's tree edge (nan at the root).

    A graph edge (a, b) crosses the tree edge of c iff that tree edge is on the tree path a-b, so we add its
    capacity at a and b, subtract it twice at lca(a, b) and sum over subtrees (vectorised LCA by lifting).
    """
    n = len(parent)
    order = _preorder(parent, root)
    depth = np.zeros(n, np.int64)
    for node in order[1:]:
        depth[node] = depth[parent[node]] + 1
    a, b = graph.edges[:, 0].copy(), graph.edges[:, 1].copy()
    lca = _lca(parent, depth, a, b, root)
    acc = np.bincount(a, weights=graph.capacities, minlength=n) + np.bincount(b, weights=graph.capacities, minlength=n)
    acc = acc.astype(np.float64) - 2 * np.bincount(lca, weights=graph.capacities, minlength=n)
    for node in order[::-1][:-1]:
        acc[parent[node]] += acc[node]
    acc[root] = np.nan
    return acc


def _lca(parent: np.ndarray, depth: np.ndarray, a: np.ndarray, b: np.ndarray, root: int) -> np.ndarray:
    up = [np.where(parent < 0, root, parent)]
    levels = max(1, int(depth.max()).bit_length())
    for _ in range(levels):
        up.append(up[-1][up[-1]])
    swap = depth[a] < depth[b]
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    diff = depth[a] - depth[b]
    for j in range(levels + 1):
        bit = ((diff >> j) & 1).astype(bool)
        a = np.where(bit, up[j][a], a)
    for j in range(levels, -1, -1):
        differ = up[j][a] != up[j][b]
        a, b = np.where(differ, up[j][a], a), np.where(differ, up[j][b], b)
    return np.where(a == b, a, up[0][a])


def _preorder(parent: np.ndarray, root: int) -> np.ndarray:
    """Nodes in an order where every parent precedes its children (BFS from the root)."""
    n = len(parent)
    children = np.flatnonzero(parent >= 0)
    if len(children) != n - 1:
        raise ValueError(f"parent array has {len(children)} non-root nodes; expected {n - 1} (one root)")
    adj = sp.csr_array((np.ones(len(children)), (parent[children], children)), shape=(n, n))
    order = sp.csgraph.breadth_first_order(adj, root, directed=True, return_predecessors=False)
    if len(order) != n:
        raise ValueError("parent array does not describe a tree (some nodes are unreachable from the root)")
    return order


def _euler_intervals(parent: np.ndarray, order: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pre-order entry times such that c's subtree is exactly the nodes with tin in [tin[c], tout[c])."""
    n = len(parent)
    tin = np.zeros(n, np.int64)
    next_free = np.zeros(n, np.int64)  # next entry time to hand to a child of each node
    next_free[order[0]] = 1
    for node in order[1:]:
        p = parent[node]
        tin[node] = next_free[p]
        next_free[p] += int(size[node])
        next_free[node] = tin[node] + 1
    return tin, tin + size.astype(np.int64)
