"""`WeightGraph`: an undirected capacitated graph, the input of every modularity algorithm.

One node per unit (input, hidden neuron, attention head, output), one edge per weight (or per virtual weight
for transformers), capacity |w| with normalisation gains folded in. This module holds the graph and the
plain-array helpers it needs; it knows nothing about models. Graphs are built from networks by
`modinterp.modularity.construct` (`graph_of(model)`) or by hand with `WeightGraph.from_edges`; the algorithms
(GH tree, partitions, metrics) take any `WeightGraph`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["WeightGraph", "NodeTable", "node_table", "top_k_edge_mask", "rank_within", "check_edges"]


@dataclass(frozen=True)
class NodeTable:
    """Per-node metadata of a model graph: layer (int), kind ("input"/"hidden"/"head"/...), index, name."""

    layer: np.ndarray
    kind: np.ndarray
    index: np.ndarray
    name: np.ndarray

    def __len__(self) -> int:
        return len(self.layer)

    def take(self, keep: np.ndarray) -> NodeTable:
        return NodeTable(self.layer[keep], self.kind[keep], self.index[keep], self.name[keep])


def node_table(layer: Sequence[int] | np.ndarray, kind: Sequence[str] | np.ndarray, index: Sequence[int] | np.ndarray,
               name: Sequence[str] | np.ndarray | None = None) -> NodeTable:
    """A `NodeTable` from per-node arrays; names default to "{kind}{layer}.{index}"."""
    layer = np.asarray(layer, dtype=np.int64)
    kind = np.asarray(kind, dtype=str)
    index = np.asarray(index, dtype=np.int64)
    if name is None:
        name = np.char.add(np.char.add(np.char.add(kind, layer.astype(str)), "."), index.astype(str))
    return NodeTable(layer, kind, index, np.asarray(name, dtype=str))


@dataclass
class WeightGraph:
    """Undirected graph with non-negative float capacities and node metadata.

    Attributes: `edges` (m, 2) int64, `capacities` (m,) float64, `nodes` (a `NodeTable`), `edge_group` (m,)
    int64 (the weight matrix / layer an edge came from, used to shuffle weights within layers),
    `source_ids` (n,) int64 (each node's id in the model's full node list, for mapping partitions back onto
    the model), `oriented` (True when every edge is stored (in-unit, out-unit), as graphs built from a model
    are; False for hand-built graphs), `group_names` (the name of each edge group).
    """

    edges: np.ndarray
    capacities: np.ndarray
    nodes: NodeTable
    edge_group: np.ndarray
    source_ids: np.ndarray
    n_source_nodes: int
    oriented: bool = False
    group_names: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)

    # Construction ------------------------------------------------------------------------------------------
    @classmethod
    def from_edges(cls, n_nodes: int, edges, capacities, meta: Mapping[str, Sequence] | None = None) -> WeightGraph:
        """A graph on `n_nodes` nodes from (m, 2) endpoints and (m,) capacities >= 0.

        Duplicate edges (in either orientation) are merged by summing their capacities; self-loops are an
        error (they never cross a cut). `meta` may give per-node "layer", "kind", "index", "name" and per-edge
        "edge_group" arrays (defaults: layer 0, kind "node", index = node id, one group per layer pair).
        """
        if not isinstance(n_nodes, (int, np.integer)) or n_nodes < 1:
            raise ValueError(f"n_nodes={n_nodes!r}: expected a positive int")
        edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2) if np.size(edges) else np.zeros((0, 2), np.int64)
        capacities = np.asarray(capacities, dtype=np.float64).reshape(-1)
        check_edges(int(n_nodes), edges, capacities)
        meta = dict(meta or {})
        nodes = node_table(meta.get("layer", np.zeros(n_nodes, np.int64)), meta.get("kind", np.full(n_nodes, "node")),
                           meta.get("index", np.arange(n_nodes)), meta.get("name"))
        if len(nodes) != n_nodes:
            raise ValueError(f"meta arrays have {len(nodes)} entries; expected one per node ({n_nodes})")
        group = meta.get("edge_group")
        lo, hi = np.minimum(edges[:, 0], edges[:, 1]), np.maximum(edges[:, 0], edges[:, 1])
        if group is None:
            group = _layer_pair_groups(nodes.layer, lo, hi)
        group = np.asarray(group, dtype=np.int64).reshape(-1)
        if len(group) != len(edges):
            raise ValueError(f"meta['edge_group'] has {len(group)} entries; expected one per edge ({len(edges)})")
        key = lo * n_nodes + hi
        uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        merged = np.bincount(inverse, weights=capacities, minlength=len(uniq))
        edges = np.stack([lo[first], hi[first]], axis=1)
        return cls(edges, merged, nodes, group[first], np.arange(n_nodes), int(n_nodes))

    # Views -------------------------------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    def degrees(self) -> np.ndarray:
        """Weighted degree of each node (sum of incident capacities)."""
        deg = np.bincount(self.edges[:, 0], weights=self.capacities, minlength=self.n_nodes).astype(np.float64)
        return deg + np.bincount(self.edges[:, 1], weights=self.capacities, minlength=self.n_nodes)

    def total_weight(self) -> float:
        return float(self.capacities.sum())

    def to_csr(self) -> sp.csr_array:
        """Symmetric (n, n) CSR adjacency with float capacities."""
        n = self.n_nodes
        rows = np.concatenate([self.edges[:, 0], self.edges[:, 1]])
        cols = np.concatenate([self.edges[:, 1], self.edges[:, 0]])
        data = np.concatenate([self.capacities, self.capacities])
        return sp.csr_array((data, (rows, cols)), shape=(n, n))

    def cut_weight(self, side: np.ndarray) -> float:
        """Total capacity of edges with exactly one endpoint in `side` (a bool mask or node ids)."""
        mask = _as_mask(side, self.n_nodes)
        crossing = mask[self.edges[:, 0]] != mask[self.edges[:, 1]]
        return float(self.capacities[crossing].sum())

    def subgraph(self, keep: np.ndarray) -> WeightGraph:
        """The graph induced by the nodes in `keep` (bool mask), nodes renumbered in order."""
        keep = _as_mask(keep, self.n_nodes)
        new_id = np.full(self.n_nodes, -1, np.int64)
        new_id[keep] = np.arange(int(keep.sum()))
        both = keep[self.edges[:, 0]] & keep[self.edges[:, 1]]
        return WeightGraph(new_id[self.edges[both]], self.capacities[both], self.nodes.take(keep),
                           self.edge_group[both], self.source_ids[keep], self.n_source_nodes, self.oriented,
                           self.group_names, dict(self.info))

    def isolated_nodes(self) -> np.ndarray:
        """Ids of nodes with zero weighted degree."""
        return np.flatnonzero(self.degrees() <= 0)

    def with_capacities(self, capacities: np.ndarray) -> WeightGraph:
        """The same graph with new edge capacities (e.g. shuffled within layers)."""
        capacities = np.asarray(capacities, dtype=np.float64)
        if capacities.shape != self.capacities.shape:
            raise ValueError(f"capacities shape {capacities.shape}; expected {self.capacities.shape}")
        return WeightGraph(self.edges, capacities, self.nodes, self.edge_group, self.source_ids,
                           self.n_source_nodes, self.oriented, self.group_names, dict(self.info))

    def __repr__(self) -> str:
        return f"WeightGraph(n_nodes={self.n_nodes}, n_edges={self.n_edges}, total_weight={self.total_weight():.4g})"


def rank_within(owner: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Rank (0 = largest capacity) of each entry among the entries with the same owner node."""
    order = np.lexsort((-caps, owner))
    sorted_owner = owner[order]
    rank_sorted = np.arange(len(owner)) - np.searchsorted(sorted_owner, sorted_owner, side="left")
    rank = np.empty(len(owner), np.int64)
    rank[order] = rank_sorted
    return rank


def top_k_edge_mask(n_nodes: int, edges: np.ndarray, capacities: np.ndarray, k: int) -> np.ndarray:
    """Bool mask of edges that are among the k largest-capacity edges of at least one endpoint (vectorised)."""
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"top_k={k!r}: expected a positive int (edges kept per node)")
    m = len(edges)
    ends = np.concatenate([edges[:, 0], edges[:, 1]])
    caps = np.concatenate([capacities, capacities])
    order = np.lexsort((-caps, ends))  # by node, then by capacity descending
    sorted_ends = ends[order]
    starts = np.searchsorted(sorted_ends, sorted_ends, side="left")
    rank = np.arange(2 * m) - starts
    keep = np.zeros(2 * m, bool)
    keep[order[rank < k]] = True
    return keep[:m] | keep[m:]


# Helpers -------------------------------------------------------------------------------------------------------
def check_edges(n_nodes: int, edges: np.ndarray, capacities: np.ndarray) -> None:
    """Raise ValueError naming the first malformed edge: shape, endpoint range, self-loop, capacity sign."""
    if edges.ndim != 2 or edges.shape[1] != 2:
        raise ValueError(f"edges have shape {edges.shape}; expected (m, 2) node-id pairs")
    if len(capacities) != len(edges):
        raise ValueError(f"{len(capacities)} capacities for {len(edges)} edges; expected one per edge")
    if len(edges) and (edges.min() < 0 or edges.max() >= n_nodes):
        raise ValueError(f"edge endpoints span {edges.min()}..{edges.max()}; expected node ids in 0..{n_nodes - 1}")
    if np.any(edges[:, 0] == edges[:, 1]):
        bad = int(np.flatnonzero(edges[:, 0] == edges[:, 1])[0])
        raise ValueError(f"edge {bad} is a self-loop on node {edges[bad, 0]}; self-loops never cross a cut, drop them")
    if not np.all(np.isfinite(capacities)) or np.any(capacities < 0):
        bad = int(np.flatnonzero(~np.isfinite(capacities) | (capacities < 0))[0])
        raise ValueError(f"capacity {capacities[bad]!r} on edge {bad}; capacities must be finite and >= 0 "
                         "(use |w|)")


def _layer_pair_groups(layer: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    la, lb = np.minimum(layer[lo], layer[hi]), np.maximum(layer[lo], layer[hi])
    _, group = np.unique(np.stack([la, lb], axis=1), axis=0, return_inverse=True) if len(lo) else (None, np.zeros(0))
    return np.asarray(group, dtype=np.int64).reshape(-1)


def _as_mask(side: np.ndarray, n: int) -> np.ndarray:
    side = np.asarray(side)
    if side.dtype == bool:
        if side.shape != (n,):
            raise ValueError(f"bool mask has shape {side.shape}; expected ({n},)")
        return side
    mask = np.zeros(n, bool)
    mask[side.astype(np.int64)] = True
    return mask
