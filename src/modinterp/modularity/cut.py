"""The one way to cut a network into k modules: `cut_model(model, k)` / `cut_graph(graph, k)` -> `ModuleCut`.

The CLI (`modinterp modules`), describe and the loss's `GomoryHuProvider` all cut through `cut_graph`:

- `views=None` (default): the Gomory-Hu tree of the graph itself, cut by `partition.partition` (k-1 lowest
  conductance tree edges whose small side has at least `min_size` nodes; default max(2, n // (4k))).
- `views=(None, 32, 16, ...)`: on a dense net every tree edge is a singleton cut (anchors B.4), so the search
  looks at sparser views of the same graph, keeping only each unit's strongest edges (top 32, 16, ... per node
  and direction), and uses the densest view whose tree holds k modules (`search`: "scan" tries them in order,
  "bisect" bisects them, starting from `start_view`). `refine_passes` > 0 then moves single nodes, on the full
  graph, to the module with the largest modularity gain: where a lone node sits is exactly what the tree cannot
  tell (its own cut is its degree), and a node misplaced by a sparse view would otherwise be locked in by a loss.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np
import scipy.sparse as sp
from torch import nn

from modinterp.modularity.construct import graph_of
from modinterp.modularity.gomory_hu import GomoryHuTree, gomory_hu_tree
from modinterp.modularity.graph import WeightGraph, rank_within, top_k_edge_mask
from modinterp.modularity.partition import Module, Partition, module_table, partition

__all__ = ["ModuleCut", "cut_model", "cut_graph", "VIEWS", "check_search", "sparsified_view", "refine_labels"]

VIEWS = (None, 32, 16, 8, 4, 2, 1)  # the sparse views the loss searches: edges kept per unit and direction


@dataclass
class ModuleCut:
    """k modules of a weight graph: `labels` (module per graph node, 0..n_modules-1), the trees built (keyed by
    the view's top_k, None = the graph itself), the view the labels were read from and `info` (min_size,
    and for a view search what `GomoryHuProvider.last_info_` logs). `modules` is the module table (each
    module's nodes, weights and min cuts to the others), computed on first use."""

    graph: WeightGraph
    labels: np.ndarray
    trees: dict[int | None, GomoryHuTree]
    view_index: int | None = None
    info: dict = field(default_factory=dict)

    @property
    def n_modules(self) -> int:
        return int(self.labels.max()) + 1

    @property
    def tree(self) -> GomoryHuTree:
        """The Gomory-Hu tree of the graph itself (dendrogram, singleton fraction)."""
        return self.trees[None]

    @cached_property
    def modules(self) -> list[Module]:
        return module_table(self.graph, self.labels)


def cut_model(model: nn.Module, k: int, *, top_k: int | None = None, canonical: bool = False,
              couplings: str = "all", **options) -> ModuleCut:
    """The k modules of a network's weight graph (`graph_of(model, top_k=top_k, canonical=canonical,
    couplings=couplings)`); options as `cut_graph`."""
    return cut_graph(graph_of(model, top_k=top_k, canonical=canonical, couplings=couplings), k, **options)


def cut_graph(graph: WeightGraph, k: int, *, min_size: int | None = None, backend: str = "gusfield",
              n_jobs: int = 1, views: tuple[int | None, ...] | None = None, search: str = "bisect",
              start_view: int | None = None, refine_passes: int = 0, progress: bool = False) -> ModuleCut:
    """k modules of `graph` read off its Gomory-Hu tree, or off the densest sparse view that shows k (module
    docstring). `backend`, `n_jobs`, `progress`: as `gomory_hu_tree`."""
    check_search(search)
    min_size = min_size or max(2, graph.n_nodes // (4 * k))
    if views is None:
        tree = gomory_hu_tree(graph, backend=backend, n_jobs=n_jobs, progress=progress)
        labels = partition(tree, k=k, min_size=min_size).labels
        return ModuleCut(graph, refine_labels(graph, labels, refine_passes), {None: tree}, None, {"min_size": min_size})

    def tree_of(view: int | None) -> GomoryHuTree:
        return gomory_hu_tree(graph if view is None else sparsified_view(graph, view), backend=backend,
                              n_jobs=n_jobs, progress=progress)

    chosen, tried = _search_views(tree_of, k, min_size, tuple(views), search, start_view)
    part, tree = tried[chosen]
    info = {"view_top_k": views[chosen], "n_modules": part.n_modules, "min_size": min_size,
            "singleton_fraction": tree.singleton_fraction(), "tree_seconds": tree.info["seconds"],
            "trees_built": len(tried)}
    labels = refine_labels(graph, part.labels, refine_passes)
    info["refined_nodes"] = int((labels != part.labels).sum())
    trees = {views[i]: t for i, (_, t) in sorted(tried.items())}
    return ModuleCut(graph, labels, trees, chosen, info)


def check_search(search: str) -> None:
    """Raise ValueError unless `search` names a view search ("bisect" or "scan")."""
    if search not in ("bisect", "scan"):
        raise ValueError(f"search={search!r}; expected 'bisect' or 'scan'")


def _search_views(tree_of: Callable[[int | None], GomoryHuTree], k: int, min_size: int,
                  views: tuple[int | None, ...], search: str,
                  start_view: int | None) -> tuple[int, dict[int, tuple[Partition, GomoryHuTree]]]:
    """(index of the view the partition is read from, {view index: (partition, tree)} of every view tried)."""
    tried: dict[int, tuple[Partition, GomoryHuTree]] = {}

    def gives_k(i: int) -> bool:
        if i not in tried:
            tree = tree_of(views[i])
            with warnings.catch_warnings():  # a view with fewer than k modules is expected, not a problem
                warnings.simplefilter("ignore")
                tried[i] = (partition(tree, k=k, min_size=min_size), tree)
        return tried[i][0].n_modules == k

    last = len(views) - 1
    if search == "scan":
        chosen = next((i for i in range(len(views)) if gives_k(i)), last)
    else:
        chosen = _bisect_views(gives_k, last, start_view)
    gives_k(chosen)
    return chosen, tried


def _bisect_views(gives_k: Callable[[int], bool], last: int, hint: int | None) -> int:
    """The densest view index that gives k modules, if that property is monotone in sparsity; `last` (the
    sparsest view) when none does, as the scan. Starts from `hint` (the previous call's view) and its denser
    neighbour: 1 tree once the full graph's tree shows the modules, 3 while the previous view still fits."""
    if gives_k(0):
        return 0
    lo, hi = 1, last
    if hint is not None and hint > 0:
        if gives_k(hint):
            if hint == 1 or not gives_k(hint - 1):
                return hint
            hi = hint - 1
        elif hint == last:
            return last
        else:
            lo = hint + 1
    if not gives_k(hi):
        return last
    while lo < hi:
        mid = (lo + hi) // 2
        if gives_k(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def sparsified_view(graph: WeightGraph, k: int) -> WeightGraph:
    """The graph keeping, for every node, its k strongest edges per direction (model graphs store edges
    as (in-unit, out-unit)); hand-built graphs keep each node's k strongest edges overall."""
    if graph.oriented:
        keep = (rank_within(graph.edges[:, 1], graph.capacities) < k) | (rank_within(graph.edges[:, 0],
                                                                                   graph.capacities) < k)
    else:
        keep = top_k_edge_mask(graph.n_nodes, graph.edges, graph.capacities, k)
    return WeightGraph(graph.edges[keep], graph.capacities[keep], graph.nodes, graph.edge_group[keep],
                       graph.source_ids, graph.n_source_nodes, graph.oriented, graph.group_names, dict(graph.info))


def refine_labels(graph: WeightGraph, labels: np.ndarray, passes: int = 2) -> np.ndarray:
    """Move every node to the module with the largest modularity gain A_ic - d_i vol_c / 2W (its capacity to
    module c beyond what its degree predicts, so big modules do not absorb everything). Simultaneous moves,
    `passes` times; ties and isolated nodes stay; a move that would empty a module is not made."""
    labels = np.asarray(labels, dtype=np.int64).copy()
    if passes < 1:
        return labels
    k = int(labels.max()) + 1
    adj = graph.to_csr()
    deg = graph.degrees()
    two_w = max(float(deg.sum()), 1e-300)
    rows = np.arange(len(labels))
    for _ in range(passes):
        onehot = sp.csr_array((np.ones(len(labels)), (rows, labels)), shape=(len(labels), k))
        vol = np.bincount(labels, deg, minlength=k)
        own = np.zeros((len(labels), k))
        own[rows, labels] = deg  # a node's own degree does not count toward its module's volume
        strength = (adj @ onehot).toarray() - deg[:, None] * (vol[None, :] - own) / two_w
        best = strength.argmax(1)
        move = strength[rows, best] > strength[rows, labels]
        proposal = np.where(move, best, labels)
        if np.bincount(proposal, minlength=k).min() == 0 or not move.any():
            break
        labels = proposal
    return labels
