"""The description controls of issue 18: scores after regressing out game phase, a random partition of the
same module sizes."""

import numpy as np
import pytest
import torch

from modinterp.describe.evidence.readouts import Readouts
from modinterp.describe.evidence.transformer import mean_activations, modules_from_labels
from modinterp.describe.subjects.board import BoardSubject
from modinterp.games.domineering import BoardSpec
from modinterp.describe.scoring import Controls, control_scores, null_summary, phase_regressed_r, residualize
from modinterp.models import build_model
from modinterp.modularity.construct import graph_of
from modinterp.modularity.partition import random_partition_like
from modinterp.describe.predicates import ConceptTable
from modinterp.studies.carve.describe_run import described_random_scores, random_partition_activations


def test_residualize_removes_the_linear_part_of_the_covariate():
    rng = np.random.default_rng(0)
    phase, noise = rng.random(500), rng.normal(size=500)
    residual = residualize(3.0 + 2.0 * phase + noise, phase)
    assert abs(np.corrcoef(residual, phase)[0, 1]) < 1e-10
    np.testing.assert_allclose(residual, noise - np.polyval(np.polyfit(phase, noise, 1), phase), atol=1e-10)


def test_a_phase_only_description_scores_high_raw_and_near_zero_after_regression():
    rng = np.random.default_rng(1)
    phase_e, phase_h = rng.random(400), rng.random(400)
    other_e, other_h = rng.normal(size=400), rng.normal(size=400)  # what the module also carries
    act_e, act_h = 2 * phase_e + 0.5 * other_e, 2 * phase_h + 0.5 * other_h
    assert np.corrcoef(phase_h, act_h)[0, 1] > 0.7  # raw, phase explains the activation well
    assert phase_regressed_r(phase_e, act_e, phase_h, act_h, phase_e, phase_h) is None  # nothing left: undefined
    jitter_e, jitter_h = 0.1 * rng.normal(size=400), 0.1 * rng.normal(size=400)
    phase_like = phase_regressed_r(phase_e + jitter_e, act_e, phase_h + jitter_h, act_h, phase_e, phase_h)
    assert abs(phase_like) < 0.15
    specific = phase_regressed_r(other_e, act_e, other_h, act_h, phase_e, phase_h)
    assert specific > 0.95  # the part of the activation phase does not explain is exactly `other`


def test_control_scores_fill_the_random_partition_and_phase_fields():
    rng = np.random.default_rng(2)
    phase_e, phase_h = rng.random(300), rng.random(300)
    feature_e, feature_h = rng.normal(size=300), rng.normal(size=300)
    randoms = [(rng.normal(size=300), rng.normal(size=300)) for _ in range(20)]  # random modules miss the feature
    controls = Controls(phase_e, phase_h, {"M0": randoms})
    control_e, control_h = phase_e + 0.1 * rng.normal(size=300), phase_h + 0.1 * rng.normal(size=300)
    out = control_scores(feature_e, feature_h, feature_e + phase_e, feature_h + phase_h, control_e, control_h,
                         randoms, controls, 0.1, 0, real_r=0.8)
    assert out["simulation_r_phase_regressed"] == pytest.approx(1.0, abs=1e-9)
    assert abs(out["random_partition_simulation_r"]) < 0.1 and out["random_partition_simulation_r_max"] < 0.3
    assert out["random_partition_n"] == 20 and out["random_partition_p"] == pytest.approx(1 / 21)
    assert out["beats_random_partition"] and out["beats_random_partition_phase_regressed"]
    assert abs(out["random_description_simulation_r_phase_regressed"]) < 0.15  # the control predicate is phase plus noise


def test_the_random_partition_null_by_hand():
    """Empirical p = (1 + draws at or above the score) / (1 + draws); beats = p <= 0.05, i.e. above all of 20."""
    draws = [0.1 * i for i in range(20)]  # 0.0 .. 1.9
    out = null_summary(1.95, draws)
    assert out["random_partition_p"] == pytest.approx(1 / 21) and out["beats_random_partition"] is True
    assert out["random_partition_simulation_r"] == pytest.approx(0.95) and out["random_partition_simulation_r_max"] == pytest.approx(1.9)
    out = null_summary(1.85, draws)  # the second best: p = 2/21 > 0.05
    assert out["random_partition_p"] == pytest.approx(2 / 21) and out["beats_random_partition"] is False
    out = null_summary(1.95, draws[:10] + [None] * 10, "_phase_regressed")  # 10 defined draws: p >= 1/11
    assert out["random_partition_n_phase_regressed"] == 10 and out["beats_random_partition_phase_regressed"] is None
    assert null_summary(None, draws)["beats_random_partition"] is None


def test_the_screen_is_a_5_percent_test_when_the_module_is_no_different():
    """A score exchangeable with the 20 draws beats them all 1 time in 21."""
    rng = np.random.default_rng(4)
    trials = [null_summary(*(lambda x: (x[0], list(x[1:])))(rng.normal(size=21)))["beats_random_partition"]
              for _ in range(4000)]
    assert np.mean(trials) == pytest.approx(1 / 21, abs=0.01)


def test_random_partition_control_has_the_same_module_sizes():
    labels = np.repeat([0, 1, 2, 3], [30, 10, 5, 55])
    kinds = np.where(np.arange(100) % 10 == 0, "input", "neuron")
    movable = kinds == "neuron"
    shuffled = random_partition_like(labels, movable, seed=0)
    np.testing.assert_array_equal(np.bincount(shuffled), np.bincount(labels))  # same node count per module
    np.testing.assert_array_equal(np.bincount(shuffled[movable]), np.bincount(labels[movable]))  # same unit count
    np.testing.assert_array_equal(shuffled[~movable], labels[~movable])  # inputs/outputs stay
    assert (shuffled != labels).mean() > 0.3  # and it is a different partition
    np.testing.assert_array_equal(shuffled, random_partition_like(labels, movable, seed=0))  # seeded


def test_describe_run_gives_every_real_module_one_random_counterpart_per_draw():
    model = build_model("smoke", 4, 4).eval()
    graph = graph_of(model)
    labels = np.arange(graph.n_nodes) % 3
    boards = np.random.default_rng(0).integers(0, 2, size=(40, 16)).astype(np.uint8)
    subject = BoardSubject(BoardSpec(4, 4))
    means = mean_activations(model, subject.tokens(model, boards[:20]))
    real = {m.name for m in modules_from_labels(graph.nodes.name, labels) if m.n_units > 0}
    for activation in ("pc1", "value"):
        out = random_partition_activations(graph, labels, Readouts(activation, model, subject, means), boards[:20],
                                           boards[20:], n_draws=3, seed=0)
        assert set(out) == real
        for draws in out.values():
            assert len(draws) == 3
            assert all(ev.shape == (20,) and ho.shape == (20,) and np.isfinite(ev).all() for ev, ho in draws)
            assert not np.allclose(draws[0][0], draws[1][0])  # the draws are different partitions


def test_a_partition_with_one_module_is_its_own_random_partition():
    """Parity: the random modules are read out exactly as the real ones; with one module the draws equal it."""
    model = build_model("smoke", 4, 4).eval()
    graph = graph_of(model)
    labels = np.zeros(graph.n_nodes, dtype=np.int64)
    boards = np.random.default_rng(1).integers(0, 2, size=(30, 16)).astype(np.uint8)
    subject = BoardSubject(BoardSpec(4, 4))
    readouts = Readouts("value", model, subject, mean_activations(model, subject.tokens(model, boards[:10])))
    real = readouts.of(modules_from_labels(graph.nodes.name, labels)[0])
    draws = random_partition_activations(graph, labels, readouts, boards[:15], boards[15:], n_draws=2, seed=0)["M0"]
    for ev, ho in draws:
        np.testing.assert_array_equal(ev, real(boards[:15]))
        np.testing.assert_array_equal(ho, real(boards[15:]))


def test_random_partitions_keep_each_modules_number_of_heads_and_of_neurons():
    model = build_model("smoke", 4, 4).eval()
    graph = graph_of(model)
    kinds = np.asarray(graph.nodes.kind)
    labels = np.where(kinds == "head", 0, 1)  # module 0: every head; module 1: every neuron and the rest
    boards = np.random.default_rng(1).integers(0, 2, size=(20, 16)).astype(np.uint8)
    subject = BoardSubject(BoardSpec(4, 4))
    readouts = Readouts("pc1", model, subject, mean_activations(model, subject.tokens(model, boards)))
    real = readouts.of(modules_from_labels(graph.nodes.name, labels)[0]).fit(boards[:10])
    draws = random_partition_activations(graph, labels, readouts, boards[:10], boards[10:], n_draws=3, seed=0)["M0"]
    for ev, _ in draws:  # the heads' module can only be drawn as every head again
        np.testing.assert_allclose(np.abs(ev), np.abs(real(boards[:10])), atol=1e-9)


def test_a_random_module_is_given_its_own_best_description():
    """The describability null: each random counterpart is described on its own; a counterpart tracking a concept
    scores high with that concept whatever the real module's description is."""
    rng = np.random.default_rng(5)
    names = ["a", "b", "fill_fraction"]
    ev, ho = rng.normal(size=(300, 3)), rng.normal(size=(300, 3))
    table_ev, table_ho = ConceptTable(names, names, ev), ConceptTable(names, names, ho)
    tracks_b = (-ev[:, 1] + 0.1 * rng.normal(size=300), -ho[:, 1] + 0.1 * rng.normal(size=300))
    constant = (np.zeros(300), np.zeros(300))
    out = described_random_scores({"M0": [tracks_b, constant]}, table_ev, table_ho)["M0"]
    assert out[0] > 0.98 and out[1] is None  # oriented on the evidence split; a constant one is undefined
