"""Modules read off the GH tree: planted blocks recovered, the conductance/min-size rule, module table."""

import warnings

import numpy as np
import pytest

from modinterp.modularity.gomory_hu import gomory_hu_tree
from modinterp.modularity.graph import WeightGraph
from modinterp.modularity.partition import linkage_matrix, module_table, partition


def two_blocks(weak: float = 0.01, size: int = 6, seed: int = 0) -> WeightGraph:
    """Two dense blocks (capacities in [1, 2]) joined by a few weak edges."""
    rng = np.random.default_rng(seed)
    edges, caps = [], []
    for block in range(2):
        ids = np.arange(size) + block * size
        for i in range(size):
            for j in range(i + 1, size):
                edges.append((ids[i], ids[j]))
                caps.append(1.0 + rng.random())
    for i in range(3):
        edges.append((i, size + i))
        caps.append(weak)
    return WeightGraph.from_edges(2 * size, edges, caps)


def test_two_dense_blocks_joined_by_weak_edges_are_recovered():
    graph = two_blocks()
    part = partition(gomory_hu_tree(graph), k=2)
    np.testing.assert_array_equal(part.labels, np.repeat([0, 1], 6))


def test_threshold_partition_cuts_only_low_conductance_edges():
    tree = gomory_hu_tree(two_blocks())
    assert partition(tree, threshold=0.05).n_modules == 2
    assert partition(tree, threshold=1e-6).n_modules == 1


def test_singleton_cuts_are_skipped_so_k_cannot_exceed_what_the_tree_holds():
    tree = gomory_hu_tree(two_blocks())
    with pytest.warns(UserWarning, match="instead of k=4"):
        part = partition(tree, k=4, min_size=4)
    assert part.n_modules == 2


def test_module_table_reports_internal_interface_and_pairwise_cut():
    graph = two_blocks(weak=0.01)
    labels = np.repeat([0, 1], 6)
    modules = module_table(graph, labels)
    assert modules[0].interface_weight == pytest.approx(0.03)
    assert modules[1].interface_weight == pytest.approx(0.03)
    assert modules[0].min_cut_to[1] == pytest.approx(0.03, rel=1e-6)
    total = graph.total_weight()
    assert modules[0].internal_weight + modules[1].internal_weight + 0.03 == pytest.approx(total)


def test_linkage_matrix_joins_the_two_blocks_last():
    tree = gomory_hu_tree(two_blocks())
    z = linkage_matrix(tree)
    assert z.shape == (11, 4)
    assert z[-1, 3] == 12
    assert np.all(np.diff(z[:, 2]) >= 0)


def test_partition_needs_exactly_one_of_k_and_threshold():
    tree = gomory_hu_tree(two_blocks())
    with pytest.raises(ValueError, match="exactly one"):
        partition(tree)
    with pytest.raises(ValueError, match="exactly one"):
        partition(tree, k=2, threshold=0.1)


def test_graph_of_isolated_nodes_partitions_into_one_module_with_a_warning():
    graph = WeightGraph.from_edges(4, np.zeros((0, 2)), [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        part = partition(gomory_hu_tree(graph), k=2)
    assert part.n_modules == 1
    assert caught
