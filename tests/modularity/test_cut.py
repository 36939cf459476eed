"""`cut_model` / `cut_graph`: the one function from a network (or graph) to k modules, and the loss's view search."""

import numpy as np
import pytest
import torch

from modinterp.modularity.construct import graph_of
from modinterp.modularity.cut import VIEWS, cut_graph, cut_model, refine_labels, sparsified_view
from modinterp.modularity.gomory_hu import gomory_hu_tree
from modinterp.modularity.graph import WeightGraph
from modinterp.modularity.partition import module_table, partition
from modinterp.modularity.providers import GomoryHuProvider
from modinterp.models import MLP


def planted_mlp(cross: float, blocks: int = 4, sizes=(16, 32, 32, 8), seed: int = 1) -> MLP:
    """An MLP whose weights between different blocks of units are scaled by `cross`."""
    model = MLP(list(sizes), seed=seed)
    with torch.no_grad():
        for lin in model.linears():
            out_b = torch.arange(lin.out_features) * blocks // lin.out_features
            in_b = torch.arange(lin.in_features) * blocks // lin.in_features
            lin.weight.mul_(torch.where(out_b[:, None] == in_b[None, :], 1.0, cross))
    return model


def block_of_each_node(graph: WeightGraph, blocks: int = 4) -> np.ndarray:
    sizes = np.bincount(graph.nodes.layer)
    return graph.nodes.index * blocks // sizes[graph.nodes.layer]


def test_cut_model_recovers_planted_blocks_and_matches_the_explicit_pipeline():
    model = planted_mlp(cross=1e-4)
    cut = cut_model(model, 4)
    graph = graph_of(model)
    expected = partition(gomory_hu_tree(graph), k=4, min_size=max(2, graph.n_nodes // 16)).labels
    np.testing.assert_array_equal(cut.labels, expected)
    truth = block_of_each_node(cut.graph)
    assert cut.n_modules == 4 and cut.view_index is None and cut.info == {"min_size": graph.n_nodes // 16}
    for label in range(4):  # every module is exactly one planted block
        assert len(set(truth[cut.labels == label])) == 1
    assert [m.size for m in cut.modules] == [22, 22, 22, 22]


def test_module_table_of_a_cut_is_the_table_of_its_labels():
    cut = cut_model(planted_mlp(cross=1e-3), 4)
    table = module_table(cut.graph, cut.labels)
    assert [(m.label, m.size, m.internal_weight, m.min_cut_to) for m in cut.modules] == \
           [(m.label, m.size, m.internal_weight, m.min_cut_to) for m in table]


def test_two_weakly_joined_triangles_cut_at_the_weak_edge():
    graph = WeightGraph.from_edges(6, [[0, 1], [1, 2], [0, 2], [3, 4], [4, 5], [3, 5], [2, 3]],
                                   [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 0.25])
    cut = cut_graph(graph, 2, min_size=2)
    np.testing.assert_array_equal(cut.labels, [0, 0, 0, 1, 1, 1])
    assert cut.modules[0].min_cut_to == {1: pytest.approx(0.25, rel=1e-6)} and cut.tree.n_nodes == 6  # integer flows


def test_view_search_is_what_the_loss_provider_uses():
    graph = graph_of(planted_mlp(cross=0.1))
    cut = cut_graph(graph, 4, views=VIEWS, refine_passes=1)
    provider = GomoryHuProvider()
    np.testing.assert_array_equal(provider(graph, 4), cut.labels)
    timeless = {key: value for key, value in cut.info.items() if key != "tree_seconds"}
    assert timeless == {key: value for key, value in provider.last_info_.items() if key != "tree_seconds"}
    assert cut.info["view_top_k"] == VIEWS[cut.view_index] and cut.view_index > 0  # a dense net: a sparse view
    assert None in cut.trees and VIEWS[cut.view_index] in cut.trees and len(cut.trees) == cut.info["trees_built"]
    view_tree = gomory_hu_tree(sparsified_view(graph, VIEWS[cut.view_index]))
    np.testing.assert_array_equal(cut.trees[VIEWS[cut.view_index]].parent, view_tree.parent)
    unrefined = partition(view_tree, k=4, min_size=cut.info["min_size"]).labels
    np.testing.assert_array_equal(cut.labels, refine_labels(graph, unrefined, 1))


def test_scan_and_bisect_pick_the_same_view():
    graph = graph_of(planted_mlp(cross=0.03))
    scan = cut_graph(graph, 4, views=VIEWS, search="scan")
    bisect = cut_graph(graph, 4, views=VIEWS, search="bisect")
    assert scan.view_index == bisect.view_index
    np.testing.assert_array_equal(scan.labels, bisect.labels)


def test_unknown_search_is_an_error_naming_the_choices():
    with pytest.raises(ValueError, match="'bisect' or 'scan'"):
        cut_graph(graph_of(MLP([2, 3, 2], seed=0)), 2, views=VIEWS, search="random")
