"""Do modules matter: mean-ablation effects against random unit sets, on a transformer with planted modules."""

import numpy as np
import pytest

from modinterp.describe.evidence.transformer import ModuleUnits, modules_from_labels
from modinterp.modularity.ablation import (
    OUTPUTS, ModuleImportance, Probes, ablation_effects, dissociation_table, module_importance, random_like, random_partition,
    specificities,
)
from modinterp.modularity.cut import cut_model
from modinterp.studies.carve.modules import AblationSettings, ablation_data

from planted_transformer import CONFIG, HEADS, NEURONS, planted_transformer


@pytest.fixture(scope="module")
def planted():
    """The planted transformer, its 4-module cut and the ablation results of its modules."""
    model = planted_transformer()
    cut = cut_model(model, 4)
    units = modules_from_labels(cut.graph.nodes.name, cut.labels)
    results, probes = module_importance(model, units, ablation_data(model, AblationSettings(n_games=60, per_game=6)))
    return cut, units, results, probes


def test_the_tree_of_planted_sub_networks_shows_them_without_a_fallback(planted):
    cut, units, _, _ = planted
    assert cut.n_modules == 4 and cut.view_index is None and cut.tree.nontrivial_edges(0.05) == 3
    for unit in units:  # each module is exactly one planted sub-network: its 2 heads and 32 neurons
        (heads,), (neurons,) = unit.heads.values(), unit.neurons.values()
        assert len(set(HEADS[heads])) == 1 and len(heads) == 2
        assert len(neurons) == 32 and set(NEURONS[neurons]) == set(HEADS[heads])


def test_the_adjacent_graphs_tree_shows_the_planted_sub_networks_too():
    cut = cut_model(planted_transformer(), 4, couplings="adjacent")
    assert cut.graph.info["couplings"] == "adjacent"
    assert cut.n_modules == 4 and cut.view_index is None and cut.tree.nontrivial_edges(0.05) == 3
    for unit in modules_from_labels(cut.graph.nodes.name, cut.labels):
        (heads,), (neurons,) = unit.heads.values(), unit.neurons.values()
        planted_module = HEADS[heads[0]]
        assert len(heads) == 2 and set(HEADS[heads]) == {planted_module}
        # one layer: a head and a neuron of the same layer are not joined, so units meet only through shared
        # inputs and readers; one neuron of the inert module 3 (read by no output) sits with module 0, to whose
        # shared state-embedding row it is most strongly coupled. Every other neuron is in its planted module.
        assert (NEURONS[neurons] == planted_module).sum() >= 31 and (NEURONS[neurons] != planted_module).sum() <= 1


def test_planted_modules_beat_random_sets_on_the_output_they_drive_and_dissociate(planted):
    _, units, results, _ = planted
    driven = {int(HEADS[u.heads[0][0]]): r for u, r in zip(units, results)}
    assert "value" in driven[0].beats and "policy" not in driven[0].beats and driven[0].counts
    assert "policy" in driven[1].beats and "value" not in driven[1].beats and driven[1].counts
    assert not driven[3].counts  # read by no output: its ablation moves outputs only as random sets do
    # the value module moves the value far more than the policy module does, and vice versa for the policy (less
    # cleanly: the value module still moves the policy through the final LayerNorm's norm over all dims)
    assert driven[0].effect["value"] > 10 * driven[1].effect["value"]
    assert driven[1].effect["policy"] > 2 * driven[0].effect["policy"]
    # Not asserted: module 2 drives the concept head, but at init that head's outputs barely vary (std 0.004-0.07)
    # and one of its two heads alone moves it more than both together, so random sets holding one of them win.


def test_random_unit_sets_have_the_modules_size_and_kinds():
    module = ModuleUnits("M", {0: np.array([1, 5, 9])}, {0: np.array([2])})
    rng = np.random.default_rng(0)
    sets = [random_like(module, CONFIG, rng) for _ in range(20)]
    for s in sets:
        assert {i: len(v) for i, v in s.neurons.items()} == {0: 3} and {i: len(v) for i, v in s.heads.items()} == {0: 1}
        assert len(set(s.neurons[0])) == 3 and s.neurons[0].max() < CONFIG.d_mlp and s.heads[0].max() < CONFIG.n_heads
    assert len({tuple(s.neurons[0]) for s in sets}) > 15  # they differ


def test_probes_keep_only_concepts_they_can_read_and_the_table_is_effect_over_p95(planted):
    _, _, results, probes = planted
    assert probes.names and all(probes.r2[n] >= 0.1 for n in probes.names)
    assert {f"probe:{n}" for n in probes.names} <= set(results[0].effect)
    columns, rows = dissociation_table(results)
    i = columns.index("value")
    assert rows[0][i] == pytest.approx(results[0].effect["value"] / results[0].random_p95["value"])


def test_fewer_than_20_random_sets_is_refused():
    with pytest.raises(ValueError, match="at least 20"):
        module_importance(planted_transformer(), [], None, n_random=5)


def test_counts_needs_an_output_head_not_only_a_concept():
    result = ModuleImportance("M0", 3, {"value": 0.1, "probe:x": 2.0}, {"value": 0.2, "probe:x": 1.0}, {})
    assert result.beats == ["probe:x"] and not result.counts


def test_decision_effects_count_flipped_winners_and_changed_greedy_moves():
    """Hand-computed: 1 of 4 value signs flips; of the 3 positions with a legal move, 2 change their greedy move
    (an illegal move's logit never counts: position 0's ablated maximum is on an illegal move)."""
    legal = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1], [0, 0, 0]], dtype=bool)
    clean = {"value": np.array([1.0, -2.0, 0.5, 3.0]), "concept_head": np.zeros((4, 1)),
             "policy": np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 2.0], [0.0, 0.0, 0.0]])}
    changed = {"value": np.array([-1.0, -1.0, 0.4, 3.0]), "concept_head": np.zeros((4, 1)),
               "policy": np.array([[2.0, 1.0, 9.0], [1.0, 0.0, 0.5], [0.0, 3.0, 2.0], [5.0, 0.0, 0.0]])}
    effects = ablation_effects(clean, changed, legal, Probes([], np.zeros((2, 0)), np.zeros(0), {}))
    assert effects["value_sign"] == 0.25
    assert effects["policy_move"] == pytest.approx(2 / 3)
    assert ablation_effects(clean, clean, legal, Probes([], np.zeros((2, 0)), np.zeros(0), {}))["policy_move"] == 0


def test_a_decision_effect_alone_makes_a_module_count():
    result = ModuleImportance("M1", 3, {"policy": 0.9, "policy_move": 0.76}, {"policy": 1.07, "policy_move": 0.72}, {})
    assert result.beats == ["policy_move"] and result.counts


def test_specificity_is_the_effect_minus_the_other_modules_mean():
    effects = [{"value": 3.0, "policy": 1.0}, {"value": 1.0, "policy": 2.0}, {"value": 2.0, "policy": 0.0}]
    assert specificities(effects) == [{"value": 1.5, "policy": 0.0}, {"value": -1.5, "policy": 1.5},
                                      {"value": 0.0, "policy": -1.5}]
    assert specificities([{"value": 1.0}]) == [{}]  # one module: nothing to contrast


def test_random_partitions_keep_every_modules_counts_per_layer_and_are_disjoint():
    modules = [ModuleUnits("A", {0: np.arange(40)}, {0: np.array([0, 1])}),
               ModuleUnits("B", {0: np.arange(40, 64)}, {0: np.array([2])})]
    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = random_partition(modules, CONFIG, rng)
        assert len(a.neurons[0]) == 40 and len(b.neurons[0]) == 24 and len(a.heads[0]) == 2 and len(b.heads[0]) == 1
        assert not set(a.neurons[0]) & set(b.neurons[0]) and not set(a.heads[0]) & set(b.heads[0])


def test_planted_modules_are_specific_to_the_output_they_drive(planted):
    """The division of labour, against random partitions of the same units: the value module moves the value
    more than the other modules do, the policy module the policy; the inert module is specific to no output."""
    _, units, results, _ = planted
    driven = {int(HEADS[u.heads[0][0]]): r for u, r in zip(units, results)}
    assert "value" in driven[0].specific_to and "policy" not in driven[0].specific_to
    assert "policy" in driven[1].specific_to and "value" not in driven[1].specific_to
    assert not set(driven[3].specific_to) & set(OUTPUTS)


def test_the_partition_null_leaves_each_modules_random_sets_as_they_were(planted):
    """The random partitions are drawn after every module's random sets, so a module's p95s do not depend on
    whether other modules (and so the specificity null) are ablated beside it."""
    _, units, results, _ = planted
    alone, _ = module_importance(planted_transformer(), units[:1], ablation_data(planted_transformer(),
                                                                                 AblationSettings(n_games=60, per_game=6)))
    assert alone[0].random_p95 == results[0].random_p95 and alone[0].specificity == {}


def test_random_partition_sets_are_uniform_subsets_like_random_like():
    """Each unit lands in a module's random set as often as random_like puts it there: count / layer size."""
    modules = [ModuleUnits("A", {0: np.arange(96)}, {0: np.arange(6)}), ModuleUnits("B", {0: np.arange(96, 128)},
                                                                              {0: np.arange(6, 8)})]
    rng = np.random.default_rng(1)
    hits = np.zeros(CONFIG.d_mlp)
    for _ in range(2000):
        hits[random_partition(modules, CONFIG, rng)[1].neurons[0]] += 1
    assert np.allclose(hits / 2000, 32 / 128, atol=0.04)


def test_each_module_records_its_own_strongest_degree_which_bounds_a_one_edge_interface(planted):
    from modinterp.studies.carve.modules import modules_summary

    cut = planted[0]
    records, degrees = modules_summary(cut), cut.graph.degrees()
    one_edge = 0
    for record, module in zip(records, cut.modules):
        assert record["strongest_degree"] == pytest.approx(degrees[module.nodes].max())
        if record["interface_weight"] == pytest.approx(max(record["min_cut_to"].values()), rel=1e-3):
            one_edge += 1  # cut off by one tree edge: its interface is that edge's min cut, at most a node's degree
            assert record["interface_weight"] <= record["strongest_degree"]
    assert one_edge == 3  # the fourth module sits between the others: its interface is the sum of its 3 edges' cuts
    assert len({r["strongest_degree"] for r in records}) == len(records)  # per module, not the graph's maximum
