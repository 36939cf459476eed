"""`WeightBlock`s, `BlockSet`s and the graph they evaluate to: the model-independent half of construction.

A model family (`mlp.py`, `board_transformer.py`) describes its edges as `WeightBlock`s: each maps a
(n_out, n_in) capacity matrix, computed differentiably from the parameters, onto node ids. The graph is the
blocks evaluated once without gradients (`graph_from_blocks`); the modularity loss evaluates the same blocks
with gradients, so graph and loss always agree on what an edge is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from modinterp.modularity.graph import NodeTable, WeightGraph, check_edges, rank_within

__all__ = ["WeightBlock", "BlockSet", "graph_from_blocks"]


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


def graph_from_blocks(nodes: NodeTable, blocks: Sequence[WeightBlock], drop_dead: bool = True,
                      dead_tol: float = 1e-12, top_k: int | None = None, info: dict | None = None) -> WeightGraph:
    """Evaluate `blocks` once (no grad) into edges; optionally drop dead units and keep top-k edges per node."""
    edges, caps, groups = _evaluate_blocks(len(nodes), blocks, top_k)
    keep_node = np.ones(len(nodes), bool)
    if drop_dead:
        keep_node = _alive_units(len(nodes), edges, caps, nodes.kind, dead_tol)
    info = dict(info or {})
    info.update(n_dead_dropped=int((~keep_node).sum()), top_k=top_k)
    graph = WeightGraph(edges, caps, nodes, groups, np.arange(len(nodes)), len(nodes), True,
                        tuple(b.name for b in blocks), info)
    return graph.subgraph(keep_node) if not keep_node.all() else graph


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
    check_edges(n_nodes, edges, caps)
    if top_k is not None:
        direction = np.concatenate(parts_d)
        keep = np.zeros(len(edges), bool)
        for dirn, end in ((0, 1), (1, 0)):  # in-candidates ranked per out-node, out-candidates per in-node
            sel = np.flatnonzero(direction == dirn)
            keep[sel[rank_within(edges[sel, end], caps[sel]) < top_k]] = True
        edges, caps, groups = edges[keep], caps[keep], groups[keep]
        key = edges[:, 0] * n_nodes + edges[:, 1]  # an edge may be a candidate in both directions
        _, first = np.unique(key, return_index=True)
        edges, caps, groups = edges[first], caps[first], groups[first]
    positive = caps > 0
    return edges[positive], caps[positive], groups[positive]


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
