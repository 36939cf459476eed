"""Partition providers for `ModularityLoss`: graph, k -> module label per node (computed without gradient).

`GomoryHuProvider` (the default) reads k modules off the Gomory-Hu tree (`partition.partition`: lowest
conductance edges, small sides skipped). On a dense net every tree edge is a singleton cut (anchors B.4),
so when the tree of the full graph holds fewer than k-1 eligible edges the provider looks at sparser views
of the same graph, keeping only each unit's strongest edges (top 32, 16, ... 1 per node and direction),
and uses the first view whose tree holds k modules. The view used is logged in `last_info_`.
With `refine_passes` > 0 (default 1), single nodes are then moved, on the full graph, to the module
with the largest modularity gain: where a lone node sits is exactly what the tree cannot tell (its own cut
is its degree), and a node misplaced by a sparse view would otherwise be locked in by the loss.
`SpectralProvider` is the normalised-cut spectral relaxation, for comparison.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from modinterp.modularity.gomory_hu import gomory_hu_tree
from modinterp.modularity.graph import WeightGraph, top_k_edge_mask
from modinterp.modularity.metrics import spectral_partition
from modinterp.modularity.partition import partition

__all__ = ["GomoryHuProvider", "SpectralProvider", "sparsified_view"]


def sparsified_view(graph: WeightGraph, k: int) -> WeightGraph:
    """The graph keeping, for every node, its k strongest edges per direction (model graphs store edges
    as (in-unit, out-unit)); hand-built graphs keep each node's k strongest edges overall."""
    from modinterp.modularity.graph import _rank_within

    if graph.blocks:
        keep = (_rank_within(graph.edges[:, 1], graph.capacities) < k) | (_rank_within(graph.edges[:, 0],
                                                                                     graph.capacities) < k)
    else:
        keep = top_k_edge_mask(graph.n_nodes, graph.edges, graph.capacities, k)
    return WeightGraph(graph.edges[keep], graph.capacities[keep], graph.nodes, graph.edge_group[keep],
                       graph.source_ids, graph.n_source_nodes, graph.blocks, graph.group_names, dict(graph.info))


class GomoryHuProvider:
    """k modules from the Gomory-Hu tree (see the module docstring); `min_size` None -> max(2, n // (4k)).

    The view used is the densest one whose tree gives k modules. `search="scan"` tries the views in order,
    densest first. `search="bisect"` (default) tries the full graph, then bisects the sparser views, starting
    from the view the previous call used and its denser neighbour: the same view as the scan whenever sparser
    views never give fewer modules than denser ones, from 1 tree per refresh once the full graph's tree shows
    the modules and 3 while the previous view still fits, instead of up to `len(views)`.
    """

    def __init__(self, backend: str = "gusfield", n_jobs: int = 1, min_size: int | None = None,
                 views: tuple[int | None, ...] = (None, 32, 16, 8, 4, 2, 1), refine_passes: int = 1,
                 search: str = "bisect"):
        if search not in ("bisect", "scan"):
            raise ValueError(f"search={search!r}; expected 'bisect' or 'scan'")
        self.backend, self.n_jobs, self.min_size, self.views = backend, n_jobs, min_size, tuple(views)
        self.refine_passes, self.search = int(refine_passes), search
        self.last_info_: dict = {}
        self._last_view: int | None = None

    def __call__(self, graph: WeightGraph, k: int) -> np.ndarray:
        min_size = self.min_size or max(2, graph.n_nodes // (4 * k))
        tried: dict[int, tuple] = {}

        def gives_k(i: int) -> bool:
            if i not in tried:
                view = self.views[i]
                tree = gomory_hu_tree(graph if view is None else sparsified_view(graph, view), backend=self.backend,
                                      n_jobs=self.n_jobs)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    tried[i] = (partition(tree, k=k, min_size=min_size), tree)
            return tried[i][0].n_modules == k

        last = len(self.views) - 1
        if self.search == "scan":
            chosen = next((i for i in range(len(self.views)) if gives_k(i)), last)
        else:
            chosen = self._bisect(gives_k, last)
        gives_k(chosen)
        self._last_view = chosen
        part, tree = tried[chosen]
        self.last_info_ = {"view_top_k": self.views[chosen], "n_modules": part.n_modules, "min_size": min_size,
                           "singleton_fraction": tree.singleton_fraction(), "tree_seconds": tree.info["seconds"],
                           "trees_built": len(tried)}
        labels = refine_labels(graph, part.labels, self.refine_passes)
        self.last_info_["refined_nodes"] = int((labels != part.labels).sum())
        return labels

    def _bisect(self, gives_k, last: int) -> int:
        """The densest view index that gives k modules, if that property is monotone in sparsity; `last` (the
        sparsest view) when none does, as the scan."""
        if gives_k(0):
            return 0
        lo, hi = 1, last
        hint = self._last_view
        if hint is not None and hint > 0:  # start from the previous call's view and its denser neighbour
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


def refine_labels(graph: WeightGraph, labels: np.ndarray, passes: int = 2) -> np.ndarray:
    """Move every node to the module with the largest modularity gain A_ic - d_i vol_c / 2W (its capacity to
    module c beyond what its degree predicts, so big modules do not absorb everything). Simultaneous moves,
    `passes` times; ties and isolated nodes stay; a move that would empty a module is not made."""
    labels = np.asarray(labels, dtype=np.int64).copy()
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


class SpectralProvider:
    """k-way spectral clustering of the capacity graph (Shi-Malik relaxation), deterministic given `seed`."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def __call__(self, graph: WeightGraph, k: int) -> np.ndarray:
        labels = spectral_partition(graph, k, self.seed)
        return np.where(labels >= k, 0, labels)
