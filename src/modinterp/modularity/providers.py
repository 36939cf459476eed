"""Partition providers for `ModularityLoss`: graph, k -> module label per node (computed without gradient).

`GomoryHuProvider` (the default) cuts the graph with `cut.cut_graph`'s view search: k modules from the
Gomory-Hu tree of the densest sparse view that holds them, then `refine_passes` (default 1) passes of
single-node moves on the full graph (see `modinterp.modularity.cut`). The view used is logged in `last_info_`
and warm-starts the next call's search. Across refreshes (both off by default, so existing runs are unchanged):
`match_previous` renames a new partition's modules after the previous partition's (Hungarian matching of
overlaps, `partition.match_labels`), and `accept_if_better` keeps the previous partition unless the new one
splits the current graph better (lower `criterion`: the loss's form, "cross_fraction" or "normalized_cut"). `SpectralProvider` is the normalised-cut spectral relaxation, for
comparison.
"""

from __future__ import annotations

import numpy as np

from modinterp.modularity.cut import VIEWS, check_search, cut_graph
from modinterp.modularity.graph import WeightGraph
from modinterp.modularity.metrics import cross_fraction, normalized_cut, spectral_partition
from modinterp.modularity.partition import match_labels

CRITERIA = {"cross_fraction": cross_fraction, "normalized_cut": normalized_cut}

__all__ = ["GomoryHuProvider", "SpectralProvider"]


class GomoryHuProvider:
    """k modules from the Gomory-Hu tree (see `cut.cut_graph`); `min_size` None -> max(2, n // (4k)).

    The view used is the densest one whose tree gives k modules. `search="scan"` tries the views in order,
    densest first. `search="bisect"` (default) tries the full graph, then bisects the sparser views, starting
    from the view the previous call used and its denser neighbour: the same view as the scan whenever sparser
    views never give fewer modules than denser ones, from 1 tree per refresh once the full graph's tree shows
    the modules and 3 while the previous view still fits, instead of up to `len(views)`.
    """

    def __init__(self, backend: str = "gusfield", n_jobs: int = 1, min_size: int | None = None,
                 views: tuple[int | None, ...] = VIEWS, refine_passes: int = 1, search: str = "bisect",
                 match_previous: bool = False, accept_if_better: bool = False, criterion: str = "cross_fraction"):
        check_search(search)
        if criterion not in CRITERIA:
            raise ValueError(f"criterion={criterion!r}; expected one of {sorted(CRITERIA)}")
        self.match_previous, self.accept_if_better, self.criterion = match_previous, accept_if_better, criterion
        self.previous_: np.ndarray | None = None  # the last partition returned, over the model's full node list
        self.backend, self.n_jobs, self.min_size, self.views = backend, n_jobs, min_size, tuple(views)
        self.refine_passes, self.search = int(refine_passes), search
        self.last_info_: dict = {}
        self._last_view: int | None = None

    def __call__(self, graph: WeightGraph, k: int) -> np.ndarray:
        cut = cut_graph(graph, k, min_size=self.min_size, backend=self.backend, n_jobs=self.n_jobs, views=self.views,
                        search=self.search, start_view=self._last_view, refine_passes=self.refine_passes)
        self._last_view = cut.view_index
        self.last_info_ = dict(cut.info)
        labels = cut.labels
        if self.previous_ is not None and len(self.previous_) == graph.n_source_nodes and (
                self.match_previous or self.accept_if_better):
            labels = self._against_previous(graph, labels)
        self.previous_ = np.full(graph.n_source_nodes, -1, dtype=np.int64)
        self.previous_[graph.source_ids] = labels
        return labels

    def _against_previous(self, graph: WeightGraph, labels: np.ndarray) -> np.ndarray:
        """The new labels matched to the previous partition's, or the previous partition itself when
        `accept_if_better` and it scores no worse on `graph` (nodes new to the graph: as the new partition)."""
        old = self.previous_[graph.source_ids]
        labels = match_labels(labels, old)
        if not self.accept_if_better:
            return labels
        old = np.where(old >= 0, old, labels)
        score = CRITERIA[self.criterion]
        new_score, old_score = score(graph, labels), score(graph, old)
        accepted = bool(new_score < old_score)
        self.last_info_.update({"accepted": accepted, "new_score": new_score, "previous_score": old_score})
        return labels if accepted else old


class SpectralProvider:
    """k-way spectral clustering of the capacity graph (Shi-Malik relaxation), deterministic given `seed`."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def __call__(self, graph: WeightGraph, k: int) -> np.ndarray:
        labels = spectral_partition(graph, k, self.seed)
        return np.where(labels >= k, 0, labels)
