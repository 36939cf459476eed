"""ConceptDescriber on hand-made activations, and on planted networks."""

import numpy as np

import torch

from modinterp.describe.describers import ConceptDescriber
from modinterp.describe.evidence import ModuleActivation, ModuleEvidence, concept_correlations
from modinterp.describe.predicates import ConceptTable
from modinterp.describe.scoring import random_other
from modinterp.describe.subjects.board import BoardSubject
from modinterp.games.domineering import BoardSpec
from modinterp.studies.carve.planted import PlantedConfig, build_planted, planted_top1, sample_split, train_planted


def _table(seed=0, n=500):
    rng = np.random.default_rng(seed)
    return ConceptTable(["a", "b", "c"], ["the a count", "the b count", "the c count"], rng.normal(size=(n, 3)))


def _evidence(act, table):
    return ModuleEvidence("M", "toy", act, concept_correlations(act, table))


def test_names_the_single_concept_an_activation_tracks():
    table = _table()
    act = 2 * table.column("b") + 0.1 * np.random.default_rng(1).normal(size=500)
    d = ConceptDescriber().describe_one(_evidence(act, table), table)
    assert d.concept == "b" and list(d.predicate.weights) == ["b"]
    assert "the b count" in d.text and "rises" in d.text


def test_says_falls_for_an_anticorrelated_concept():
    table = _table()
    d = ConceptDescriber().describe_one(_evidence(-table.column("c"), table), table)
    assert d.concept == "c" and "falls" in d.text and d.predicate.weights["c"] < 0


def test_a_mix_of_two_concepts_gives_a_two_term_predicate_with_raw_unit_weights():
    table = _table()
    act = 3 * table.column("a") + 2 * table.column("c")
    d = ConceptDescriber().describe_one(_evidence(act, table), table)
    assert set(d.predicate.weights) == {"a", "c"}
    assert np.allclose(d.predicate.weights["a"], 3, atol=1e-6) and np.allclose(d.predicate.weights["c"], 2, atol=1e-6)
    assert d.details["r2_evidence"] > 0.999


def test_a_weak_second_concept_is_left_out():
    table = _table()
    act = table.column("a") + 0.05 * table.column("b")
    assert list(ConceptDescriber(min_gain=0.05).describe_one(_evidence(act, table), table).predicate.weights) == ["a"]


def test_module_activation_pc1_recovers_a_rank_one_direction_with_positive_loadings():
    rng = np.random.default_rng(0)
    z = rng.normal(size=300)
    units = np.outer(z, [1.0, 2.0, -0.5]) + 5.0
    act = ModuleActivation().fit(units)
    assert abs(np.corrcoef(act.transform(units), z)[0, 1]) > 0.9999
    assert act.direction_.sum() > 0 and act.explained_variance_ratio_ > 0.999


def test_random_other_never_picks_the_module_itself():
    names = [f"M{i}" for i in range(7)]
    pairs = random_other(names, seed=3)
    assert all(pairs[m] != m for m in names) and set(pairs) == set(names)


def test_concept_describer_recovers_planted_concepts():
    cfg = PlantedConfig(n_networks=1, modules_per_network=4, hidden=16, n_train_games=400, n_evidence_games=60,
                        n_heldout_games=60, steps=600, targets=["sector_occupancy_0_0", "half_occupancy_top",
                                                               "sector_move_difference_0_1", "mobility_vertical"])
    modules, ev_table, _ = build_planted(cfg)
    descriptions, _ = ConceptDescriber().describe([m.evidence for m in modules], ev_table)
    result = planted_top1(modules, descriptions, min_heldout_r2=0.5)
    assert result["n_counted"] == 4 and result["top1_accuracy"] == 1.0, result["misses"]


def test_planted_training_is_reproducible_for_a_seed():
    spec = BoardSpec(4, 4)
    boards = sample_split(BoardSubject(spec), 20, 5, seed=1).inputs
    targets = boards.sum(1, keepdims=True).astype(float)
    cfg = PlantedConfig(hidden=4, steps=20, batch_size=16)
    a, _ = train_planted(spec, boards, targets, cfg, seed=3)
    b, _ = train_planted(spec, boards, targets, cfg, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
