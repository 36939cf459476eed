"""The description controls of issue 18: scores after regressing out game phase, a random partition of the
same module sizes."""

import numpy as np
import pytest
import torch

from modinterp.describe.evidence.readouts import Readouts
from modinterp.describe.evidence.transformer import mean_activations, modules_from_labels
from modinterp.describe.subjects.board import BoardSubject
from modinterp.games.domineering import BoardSpec
from modinterp.describe.scoring import Controls, control_scores, phase_regressed_r, residualize
from modinterp.models import build_model
from modinterp.modularity.construct import graph_of
from modinterp.modularity.partition import random_partition_like
from modinterp.studies.carve.describe_run import random_partition_activations


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
    assert abs(out["random_partition_simulation_r"]) < 0.1 and out["random_partition_simulation_r_p95"] < 0.2
    assert out["beats_random_partition"] and out["beats_random_partition_phase_regressed"]
    assert abs(out["random_description_simulation_r_phase_regressed"]) < 0.15  # the control predicate is phase plus noise


def test_the_random_partition_null_is_the_mean_and_95th_percentile_of_the_draws():
    """Hand-computed: draws whose activation is a known mix of the feature and independent noise give known r."""
    rng = np.random.default_rng(3)
    n = 4000
    phase_e, phase_h = rng.random(n), rng.random(n)
    feature_e, feature_h = rng.normal(size=n), rng.normal(size=n)
    weights = np.linspace(0.0, 0.95, 20)  # draw d tracks the feature with r = weights[d]
    randoms = []
    for w in weights:
        noise_e, noise_h = rng.normal(size=n), rng.normal(size=n)
        randoms.append((w * feature_e + np.sqrt(1 - w**2) * noise_e, w * feature_h + np.sqrt(1 - w**2) * noise_h))
    out = control_scores(feature_e, feature_h, feature_e, feature_h, None, None, randoms,
                         Controls(phase_e, phase_h, {}), 0.1, 0, real_r=0.85)
    assert out["random_partition_simulation_r"] == pytest.approx(weights.mean(), abs=0.02)
    assert out["random_partition_simulation_r_p95"] == pytest.approx(np.percentile(weights, 95), abs=0.02)
    assert out["beats_random_partition"] is False  # 0.85 is below the draws' 95th percentile (about 0.90)
    assert control_scores(feature_e, feature_h, feature_e, feature_h, None, None, randoms,
                          Controls(phase_e, phase_h, {}), 0.1, 0, real_r=0.99)["beats_random_partition"] is True


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
