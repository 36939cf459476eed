"""Gomory-Hu trees: every back-end against networkx max-flows, the cut-tree property, odd graphs."""

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modinterp.modularity.gomory_hu import gomory_hu_tree
from modinterp.modularity.construct import graph_of
from modinterp.modularity.graph import WeightGraph
from modinterp.models import MLP


def _random_graph(seed: int, n: int, m: int, zero_fraction: float = 0.1) -> WeightGraph:
    rng = np.random.default_rng(seed)
    edges = rng.integers(0, n, (m, 2))
    edges = edges[edges[:, 0] != edges[:, 1]]
    caps = rng.exponential(1.0, len(edges)) * (rng.random(len(edges)) >= zero_fraction)
    return WeightGraph.from_edges(n, edges, caps)


def _networkx(graph: WeightGraph) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(graph.n_nodes))
    for (a, b), c in zip(graph.edges, graph.capacities):
        g.add_edge(int(a), int(b), capacity=float(c))
    return g


TREES = {
    "gusfield": dict(backend="gusfield"),
    "gusfield-2-threads": dict(backend="gusfield", n_jobs=2),
    "gusfield-scipy": dict(backend="gusfield", max_flow="scipy"),
    "igraph": dict(backend="igraph"),
}


@pytest.mark.parametrize("name", sorted(TREES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_pairwise_min_cut_matches_networkx_max_flow(name, seed):
    graph = _random_graph(seed, n=18, m=50)
    tree = gomory_hu_tree(graph, **TREES[name])
    reference = _networkx(graph)
    tol = graph.n_edges / (2 * tree.info.get("scale", 1e12)) + 1e-9
    for u in range(graph.n_nodes):
        for v in range(u + 1, graph.n_nodes):
            assert tree.min_cut_value(u, v) == pytest.approx(nx.minimum_cut_value(reference, u, v), abs=tol)


@pytest.mark.parametrize("name", sorted(TREES))
@pytest.mark.parametrize("seed", [3, 4])
def test_every_tree_edge_side_is_a_minimum_cut_of_that_weight(name, seed):
    graph = _random_graph(seed, n=18, m=50)
    tree = gomory_hu_tree(graph, **TREES[name])
    reference = _networkx(graph)
    for child in tree.tree_edges():
        side_weight = graph.cut_weight(tree.cut_side(child))
        assert side_weight == pytest.approx(tree.weight[child], abs=1e-12)
        assert side_weight == pytest.approx(nx.minimum_cut_value(reference, int(child), int(tree.parent[child])),
                                            abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 12), m=st.integers(1, 30))
def test_parallel_speculative_tree_is_identical_to_the_sequential_one(seed, n, m):
    graph = _random_graph(seed, n, m + 1, zero_fraction=0.3) if n > 1 else None
    sequential = gomory_hu_tree(graph)
    parallel = gomory_hu_tree(graph, n_jobs=3)
    np.testing.assert_array_equal(parallel.parent, sequential.parent)
    np.testing.assert_array_equal(parallel.weight, sequential.weight)


def test_min_cut_matrix_agrees_with_pairwise_queries():
    tree = gomory_hu_tree(_random_graph(7, n=10, m=30))
    matrix = tree.min_cut_matrix()
    for u in range(10):
        for v in range(10):
            if u != v:
                assert matrix[u, v] == tree.min_cut_value(u, v)


def test_isolated_nodes_and_zero_capacities_give_zero_cuts_not_a_crash():
    graph = WeightGraph.from_edges(5, [[0, 1], [1, 2], [3, 4]], [1.0, 2.0, 0.0])
    for backend in ("gusfield", "igraph"):
        tree = gomory_hu_tree(graph, backend=backend)
        assert tree.min_cut_value(0, 2) == pytest.approx(1.0)
        assert tree.min_cut_value(0, 3) == 0.0
        assert tree.min_cut_value(3, 4) == 0.0


def test_single_node_graph_has_an_empty_tree():
    tree = gomory_hu_tree(WeightGraph.from_edges(1, np.zeros((0, 2)), []))
    assert len(tree.tree_edges()) == 0


def test_bad_queries_are_rejected_with_the_valid_range():
    tree = gomory_hu_tree(_random_graph(0, n=5, m=10))
    with pytest.raises(ValueError, match="0..4"):
        tree.min_cut_value(0, 9)
    with pytest.raises(ValueError, match="two different nodes"):
        tree.min_cut_value(2, 2)
    with pytest.raises(ValueError, match="backend"):
        gomory_hu_tree(_random_graph(0, n=5, m=10), backend="magic")


def test_dense_random_mlp_tree_has_only_singleton_cuts():
    tree = gomory_hu_tree(graph_of(MLP([8, 16, 16, 4], seed=0)))
    assert tree.singleton_fraction() == 1.0


def test_a_side_of_inputs_alone_is_not_a_module_boundary_when_only_units_count():
    """Forty hidden units and four embedding rows, each a tight clique, joined by one weak edge: the tree cuts the
    embedding rows off, a side of 4 of 44 nodes (9%) but of no unit. Counting nodes, it is a "non-trivial" module
    boundary; counting units (what modules.json reports), it is not. On a modular 8x8 model the embedding rows and
    output units split per residual slice are 745 of 1,785 nodes, and one slice's copies alone are 8% of them."""
    from itertools import combinations

    units, inputs = range(40), range(40, 44)
    edges = [*combinations(units, 2), *combinations(inputs, 2), (0, 40)]
    capacities = [10.0] * (len(edges) - 1) + [1.0]
    kind = np.array(["neuron"] * 40 + ["input"] * 4)
    tree = gomory_hu_tree(WeightGraph.from_edges(44, edges, capacities, meta={"kind": kind}))
    assert tree.nontrivial_edges(0.05) == 1
    assert tree.nontrivial_edges(0.05, counted=kind == "neuron") == 0
