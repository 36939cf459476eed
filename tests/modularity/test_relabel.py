"""Partitions across refreshes: labels matched to the previous partition's (Hungarian) and the acceptance rule."""

import numpy as np
import pytest

from modinterp.modularity.construct import graph_of
from modinterp.modularity.metrics import cross_fraction
from modinterp.modularity.partition import match_labels
from modinterp.modularity.providers import GomoryHuProvider
from modinterp.modularity.loss import ModularityLoss

from test_cut import block_of_each_node, planted_mlp


def test_match_labels_undoes_a_renaming_and_follows_the_largest_overlap():
    previous = np.repeat([0, 1, 2, 3], 5)
    renamed = np.array([2, 3, 0, 1])[previous]
    np.testing.assert_array_equal(match_labels(renamed, previous), previous)
    moved = renamed.copy()
    moved[[0, 6]] = moved[[10, 15]]  # two nodes change module: the modules keep their names
    matched = match_labels(moved, previous)
    assert (matched == previous).sum() == 18 and set(matched[[0, 6]]) == {2, 3}


def test_match_labels_with_more_or_fewer_modules_and_unlabelled_nodes():
    previous = np.array([0, 0, 1, 1, -1, 2, 2])
    split = np.array([1, 1, 0, 2, 3, 4, 4])  # module "1" of before split in two, one node new
    matched = match_labels(split, previous)
    np.testing.assert_array_equal(matched[[0, 1, 5, 6]], [0, 0, 2, 2])
    assert matched[2] != matched[3] and 1 in {matched[2], matched[3]} and len(set(matched)) == 5
    merged = match_labels(np.array([0, 0, 0, 0, 0, 1, 1]), previous)
    np.testing.assert_array_equal(merged, [0, 0, 0, 0, 0, 2, 2])  # the vanished module's label stays free
    with pytest.raises(ValueError, match="one label per node"):
        match_labels(np.zeros(3, int), np.zeros(4, int))


def _provider_with_previous(previous_names: np.ndarray, **options) -> tuple[GomoryHuProvider, object, np.ndarray]:
    graph = graph_of(planted_mlp(cross=1e-4))
    provider = GomoryHuProvider(**options)
    truth = block_of_each_node(graph)
    provider.previous_ = np.full(graph.n_source_nodes, -1)
    provider.previous_[graph.source_ids] = previous_names[truth]
    return provider, graph, truth


def test_provider_keeps_the_previous_labels_across_a_refresh():
    names = np.array([2, 0, 3, 1])  # the previous refresh named the planted blocks differently
    provider, graph, truth = _provider_with_previous(names, match_previous=True)
    labels = provider(graph, 4)
    np.testing.assert_array_equal(labels, names[truth])
    np.testing.assert_array_equal(provider.previous_[graph.source_ids], labels)
    plain, _, _ = _provider_with_previous(names)  # off by default: labels ordered by smallest node id
    assert not np.array_equal(plain(graph, 4), names[truth])


def test_provider_accepts_a_new_partition_only_if_it_scores_better():
    rng = np.random.default_rng(0)
    provider, graph, truth = _provider_with_previous(np.arange(4), accept_if_better=True)
    labels = provider(graph, 8)  # 8 modules cut 4 planted blocks: more weight crosses than before
    assert provider.last_info_["accepted"] is False
    assert provider.last_info_["new_score"] > provider.last_info_["previous_score"]
    np.testing.assert_array_equal(labels, truth)
    provider.previous_[graph.source_ids] = rng.integers(0, 4, graph.n_nodes)  # a worse previous partition
    labels = provider(graph, 4)
    assert provider.last_info_["accepted"] is True
    assert cross_fraction(graph, labels) < provider.last_info_["previous_score"]
    assert len(np.unique(labels)) == 4 and all(len(set(labels[truth == b])) == 1 for b in range(4))


def test_resumed_loss_hands_its_partition_to_the_provider():
    model = planted_mlp(cross=1e-4)
    loss = ModularityLoss(lam=0.1, k=4, provider=GomoryHuProvider(match_previous=True))
    labels = loss.refresh(model)
    resumed = ModularityLoss(lam=0.1, k=4, provider=GomoryHuProvider(match_previous=True))
    resumed.load_state_dict(loss.state_dict(), model)
    np.testing.assert_array_equal(resumed.provider.previous_, labels)
