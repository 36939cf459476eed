"""`WeightGraph`: an undirected capacitated graph read off a network's weights.

One node per unit (input, hidden neuron, attention head, output), one edge per weight (or per virtual weight
for transformers, see `transformer_graph.py`), capacity |w| with normalisation gains folded in. Construction
(`from_model`) is kept apart from the algorithms (GH tree, partitions, metrics), which take any `WeightGraph`,
including ones built by hand with `from_edges`.

Models are described by `WeightBlock`s: each maps a (n_out, n_in) capacity matrix, computed differentiably from
the parameters, onto node ids. The graph is the blocks evaluated once without gradients; the modularity loss
evaluates the same blocks with gradients, so graph and loss always agree on what an edge is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["WeightBlock", "BlockSet", "WeightGraph", "top_k_edge_mask"]


@dataclass(frozen=True)
class WeightBlock:
    """A group of edges from one weight matrix: `capacity()` -> (len(out_nodes), len(in_nodes)) tensor >= 0.

    Node ids index the model's full node list (before dead units are dropped). `capacity` builds the tensor
    from the live parameters with autograd, so a loss can differentiate through it.
    """

    name: str
    in_nodes: np.ndarray
    out_nodes: np.ndarray
    capacity: Callable[[], torch.Tensor]


@dataclass(frozen=True)
class BlockSet:
    """Every edge of a model, as a few blocks evaluated together: what a per-step loss differentiates.

    `capacities()` returns one (len(out_nodes), len(in_nodes)) tensor per block of `blocks`, sharing work
    between them (a transformer's virtual weights come from a handful of large matmuls instead of one small
    matmul per writer/reader pair). `valid[i]` marks which entries of block i are edges (None: all of them),
    so a block may span unit pairs that are not connected (a reader placed before a writer).
    """

    blocks: tuple[WeightBlock, ...]
    capacities: Callable[[], list[torch.Tensor]]
    valid: tuple[np.ndarray | None, ...]

    @classmethod
    def of(cls, blocks: Sequence[WeightBlock]) -> BlockSet:
        """The plain set: each block evaluated on its own, every entry an edge."""
        blocks = tuple(blocks)
        return cls(blocks, lambda: [b.capacity() for b in blocks], (None,) * len(blocks))


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
    `blocks`), `blocks` (the model's `WeightBlock`s; empty for hand-built graphs), `group_names`.
    """

    edges: np.ndarray
    capacities: np.ndarray
    nodes: NodeTable
    edge_group: np.ndarray
    source_ids: np.ndarray
    n_source_nodes: int
    blocks: tuple[WeightBlock, ...] = ()
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
        _check_edges(int(n_nodes), edges, capacities)
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

    @classmethod
    def from_blocks(cls, nodes: NodeTable, blocks: Sequence[WeightBlock], drop_dead: bool = True,
                    dead_tol: float = 1e-12, top_k: int | None = None, info: dict | None = None) -> WeightGraph:
        """Evaluate `blocks` once (no grad) into edges; optionally drop dead units and keep top-k edges per node."""
        edges, caps, groups = _evaluate_blocks(len(nodes), blocks, top_k)
        keep_node = np.ones(len(nodes), bool)
        if drop_dead:
            keep_node = _alive_units(len(nodes), edges, caps, nodes.kind, dead_tol)
        info = dict(info or {})
        info.update(n_dead_dropped=int((~keep_node).sum()), top_k=top_k)
        graph = cls(edges, caps, nodes, groups, np.arange(len(nodes)), len(nodes), tuple(blocks),
                    tuple(b.name for b in blocks), info)
        return graph.subgraph(keep_node) if not keep_node.all() else graph

    @classmethod
    def from_model(cls, model: torch.nn.Module, *, drop_dead: bool = True, top_k: int | None = None,
                   dead_tol: float = 1e-12) -> WeightGraph:
        """The weight graph of an MLP (nn.Sequential / nn.ModuleList / `modularity.MLP`) or a BoardTransformer.

        `top_k` keeps only the k strongest edges of every node (an edge survives if it is in the top k of
        either endpoint); `drop_dead` removes hidden units with no incoming or no outgoing capacity.
        """
        from modinterp.modularity.model_blocks import model_blocks

        nodes, blocks, info = model_blocks(model)
        return cls.from_blocks(nodes, blocks, drop_dead=drop_dead, dead_tol=dead_tol, top_k=top_k, info=info)

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
                           self.edge_group[both], self.source_ids[keep], self.n_source_nodes, self.blocks,
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
                           self.n_source_nodes, self.blocks, self.group_names, dict(self.info))

    def __repr__(self) -> str:
        return f"WeightGraph(n_nodes={self.n_nodes}, n_edges={self.n_edges}, total_weight={self.total_weight():.4g})"


def _evaluate_blocks(n_nodes: int, blocks: Sequence[WeightBlock], top_k: int | None):
    """Edges (in-node, out-node), capacities and block ids of all positive-capacity weights.

    With `top_k`, an edge is kept if it is among the k strongest incoming edges of its out-node or the k
    strongest outgoing edges of its in-node. Each block contributes only its per-row and per-column top k
    (a superset of the global top k), so the dense edge list is never materialised.
    """
    if top_k is not None and (not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise ValueError(f"top_k={top_k!r}: expected a positive int (edges kept per node and direction)")
    parts_e, parts_c, parts_g, parts_d = [], [], [], []
    with torch.no_grad():
        for g, block in enumerate(blocks):
            cap = block.capacity().detach().to(torch.float64).cpu()
            if tuple(cap.shape) != (len(block.out_nodes), len(block.in_nodes)):
                raise ValueError(f"block {block.name!r}: capacity shape {tuple(cap.shape)}, expected "
                                 f"{(len(block.out_nodes), len(block.in_nodes))}")
            if top_k is None:
                rows, cols = np.nonzero(np.ones(cap.shape, bool))
                direction = [np.zeros(len(rows), np.int8)]
                rc = [(rows, cols)]
            else:
                k_row, k_col = min(top_k, cap.shape[1]), min(top_k, cap.shape[0])
                best_in = cap.topk(k_row, dim=1).indices.numpy()  # per out-node: strongest in-edges
                best_out = cap.topk(k_col, dim=0).indices.numpy()  # per in-node: strongest out-edges
                rc = [(np.repeat(np.arange(cap.shape[0]), k_row), best_in.ravel()),
                      (best_out.T.ravel(), np.arange(cap.shape[1]).repeat(k_col))]
                direction = [np.zeros(len(rc[0][0]), np.int8), np.ones(len(rc[1][0]), np.int8)]
            cap = cap.numpy()
            for (rows, cols), dirn in zip(rc, direction):
                parts_e.append(np.stack([block.in_nodes[cols], block.out_nodes[rows]], axis=1))
                parts_c.append(cap[rows, cols])
                parts_g.append(np.full(len(rows), g, np.int64))
                parts_d.append(dirn)
    if not parts_e:
        return np.zeros((0, 2), np.int64), np.zeros(0), np.zeros(0, np.int64)
    edges, caps, groups = np.concatenate(parts_e), np.concatenate(parts_c), np.concatenate(parts_g)
    _check_edges(n_nodes, edges, caps)
    if top_k is not None:
        direction = np.concatenate(parts_d)
        keep = np.zeros(len(edges), bool)
        for dirn, end in ((0, 1), (1, 0)):  # in-candidates ranked per out-node, out-candidates per in-node
            sel = np.flatnonzero(direction == dirn)
            keep[sel[_rank_within(edges[sel, end], caps[sel]) < top_k]] = True
        edges, caps, groups = edges[keep], caps[keep], groups[keep]
        key = edges[:, 0] * n_nodes + edges[:, 1]  # an edge may be a candidate in both directions
        _, first = np.unique(key, return_index=True)
        edges, caps, groups = edges[first], caps[first], groups[first]
    positive = caps > 0
    return edges[positive], caps[positive], groups[positive]


def _rank_within(owner: np.ndarray, caps: np.ndarray) -> np.ndarray:
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
def _check_edges(n_nodes: int, edges: np.ndarray, capacities: np.ndarray) -> None:
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


def _alive_units(n_nodes: int, edges: np.ndarray, caps: np.ndarray, kind: np.ndarray, tol: float) -> np.ndarray:
    """Nodes to keep: drop, until nothing changes, internal units whose in- or out-capacity is ~0.

    Edges are stored (in-node, out-node), so a unit's in-capacity is the sum over edges where it is the
    second endpoint. Inputs and outputs are never dropped for being one-sided, only if fully isolated.
    """
    internal = ~np.isin(kind, ("input", "output"))
    alive = np.ones(n_nodes, bool)
    scale = max(float(caps.max()) if len(caps) else 0.0, 1e-300)
    while True:
        live_edge = alive[edges[:, 0]] & alive[edges[:, 1]]
        w = np.where(live_edge, caps, 0.0)
        cap_in = np.bincount(edges[:, 1], weights=w, minlength=n_nodes)
        cap_out = np.bincount(edges[:, 0], weights=w, minlength=n_nodes)
        dead = np.where(internal, (cap_in <= tol * scale) | (cap_out <= tol * scale), cap_in + cap_out <= tol * scale)
        new_alive = alive & ~dead
        if (new_alive == alive).all():
            return alive
        alive = new_alive


def _as_mask(side: np.ndarray, n: int) -> np.ndarray:
    side = np.asarray(side)
    if side.dtype == bool:
        if side.shape != (n,):
            raise ValueError(f"bool mask has shape {side.shape}; expected ({n},)")
        return side
    mask = np.zeros(n, bool)
    mask[side.astype(np.int64)] = True
    return mask
