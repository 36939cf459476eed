"""Partition providers for `ModularityLoss`: graph, k -> module label per node (computed without gradient).

`GomoryHuProvider` (the default) cuts the graph with `cut.cut_graph`'s view search: k modules from the
Gomory-Hu tree of the densest sparse view that holds them, then `refine_passes` (default 1) passes of
single-node moves on the full graph (see `modinterp.modularity.cut`). The view used is logged in `last_info_`
and warm-starts the next call's search. `SpectralProvider` is the normalised-cut spectral relaxation, for
comparison.
"""

from __future__ import annotations

import numpy as np

from modinterp.modularity.cut import VIEWS, check_search, cut_graph
from modinterp.modularity.graph import WeightGraph
from modinterp.modularity.metrics import spectral_partition

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
                 views: tuple[int | None, ...] = VIEWS, refine_passes: int = 1, search: str = "bisect"):
        check_search(search)
        self.backend, self.n_jobs, self.min_size, self.views = backend, n_jobs, min_size, tuple(views)
        self.refine_passes, self.search = int(refine_passes), search
        self.last_info_: dict = {}
        self._last_view: int | None = None

    def __call__(self, graph: WeightGraph, k: int) -> np.ndarray:
        cut = cut_graph(graph, k, min_size=self.min_size, backend=self.backend, n_jobs=self.n_jobs, views=self.views,
                        search=self.search, start_view=self._last_view, refine_passes=self.refine_passes)
        self._last_view = cut.view_index
        self.last_info_ = dict(cut.info)
        return cut.labels


class SpectralProvider:
    """k-way spectral clustering of the capacity graph (Shi-Malik relaxation), deterministic given `seed`."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def __call__(self, graph: WeightGraph, k: int) -> np.ndarray:
        labels = spectral_partition(graph, k, self.seed)
        return np.where(labels >= k, 0, labels)
