"""Metric values on a hand-computed example, and the shuffled-weights clusterability baseline."""

import numpy as np
import pytest

from modinterp.modularity.graph import WeightGraph
from modinterp.modularity.metrics import (clusterability, cross_fraction, modularity_report, newman_q,
                                          normalized_cut, shuffled_within_groups)

# path 0 -(2)- 1 -(1)- 2 -(3)- 3, modules {0, 1} and {2, 3}: W = 6, degrees 2, 3, 4, 3, vol 5 and 7
GRAPH = WeightGraph.from_edges(4, [[0, 1], [1, 2], [2, 3]], [2.0, 1.0, 3.0], meta={"edge_group": [0, 0, 0]})
LABELS = np.array([0, 0, 1, 1])


def test_cross_fraction_is_crossing_over_total_capacity():
    assert cross_fraction(GRAPH, LABELS) == pytest.approx(1 / 6)


def test_normalized_cut_sums_cut_over_volume():
    assert normalized_cut(GRAPH, LABELS) == pytest.approx(1 / 5 + 1 / 7)


def test_newman_q_with_global_null():
    assert newman_q(GRAPH, LABELS, null="global") == pytest.approx(5 / 6 - (25 + 49) / 144)


def test_newman_q_with_layer_null_uses_the_groups_endpoint_degrees():
    # first endpoints 0,1,2 -> module totals (3, 3); second endpoints 1,2,3 -> (2, 4); expected = (6 + 12) / 6
    assert newman_q(GRAPH, LABELS, null="layer") == pytest.approx(5 / 6 - 3 / 6)


def test_report_collects_all_metrics():
    report = modularity_report(GRAPH, LABELS)
    assert report["n_modules"] == 2
    assert report["cross_fraction"] == pytest.approx(1 / 6)


def test_labels_of_wrong_length_are_rejected():
    with pytest.raises(ValueError, match=r"\(4,\)"):
        cross_fraction(GRAPH, np.array([0, 1]))


def test_shuffling_keeps_each_groups_multiset_of_capacities():
    rng = np.random.default_rng(0)
    graph = WeightGraph.from_edges(6, [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]], [1.0, 2.0, 3.0, 4.0, 5.0],
                                   meta={"edge_group": [0, 0, 1, 1, 1]})
    shuffled = shuffled_within_groups(graph, rng)
    assert sorted(shuffled.capacities[:2]) == [1.0, 2.0]
    assert sorted(shuffled.capacities[2:]) == [3.0, 4.0, 5.0]


def test_planted_blocks_are_more_clusterable_than_their_shuffles():
    rng = np.random.default_rng(1)
    n, half = 16, 8
    edges = np.array([(i, j) for i in range(n) for j in range(i + 1, n)])
    same = (edges[:, 0] < half) == (edges[:, 1] < half)
    caps = np.where(same, 1.0, 0.02) * rng.uniform(0.5, 1.5, len(edges))
    result = clusterability(WeightGraph.from_edges(n, edges, caps), k=2, n_shuffles=8, seed=0)
    assert result["ncut"] < result["ncut_shuffled_mean"]
    assert result["z"] < -3


def test_graph_without_capacity_gives_nan_not_a_crash():
    empty = WeightGraph.from_edges(3, [[0, 1]], [0.0])
    labels = np.array([0, 1, 1])
    assert np.isnan(cross_fraction(empty, labels))
    assert np.isnan(newman_q(empty, labels))
    assert normalized_cut(empty, labels) == 0.0
