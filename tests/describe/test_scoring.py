"""Scores and controls on hand-made examples with known answers."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from modinterp.describe.scoring import (
    ThresholdRule,
    average_precision,
    balanced_accuracy,
    fit_threshold,
    pearson_r,
    score_description,
    top_and_random,
)
from modinterp.describe.subjects import assert_disjoint


def test_pearson_r_of_a_linear_relation_is_one():
    assert pearson_r(np.array([1.0, 2, 3, 4]), np.array([2.0, 4, 6, 8])) == pytest.approx(1.0)


def test_pearson_r_hand_computed_value():
    # x = [0,1,2], y = [0,2,1]: cov = 1/3*(... ) -> r = 0.5 exactly
    assert pearson_r(np.array([0.0, 1, 2]), np.array([0.0, 2, 1])) == pytest.approx(0.5)


def test_pearson_r_is_none_for_a_constant_side():
    assert pearson_r(np.ones(5), np.arange(5.0)) is None


@given(st.lists(st.floats(-100, 100), min_size=3, max_size=30), st.floats(0.1, 10), st.floats(-5, 5))
@settings(max_examples=50, deadline=None)
def test_pearson_r_is_invariant_to_positive_affine_maps(xs, scale, shift):
    x = np.array(xs)
    y = np.sin(np.arange(len(x)))
    r = pearson_r(x, y)
    r2 = pearson_r(scale * x + shift, y)
    if r is None or np.std(x) < 1e-3:
        return
    assert r2 == pytest.approx(r, abs=1e-6)


def test_balanced_accuracy_hand_example():
    # TPR = 1/2, TNR = 2/2 -> 0.75
    assert balanced_accuracy(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0])) == pytest.approx(0.75)


def test_balanced_accuracy_rejects_a_single_class():
    with pytest.raises(ValueError, match="both classes"):
        balanced_accuracy(np.array([1, 1]), np.array([1, 0]))


def test_top_and_random_are_disjoint_and_the_top_is_the_highest():
    act = np.arange(100.0)[::-1]
    top, rand = top_and_random(act, 0.1, np.random.default_rng(0))
    assert sorted(top.tolist()) == list(range(10))
    assert len(rand) == 10 and not set(rand) & set(top)


def test_fit_threshold_finds_the_perfect_split_in_either_direction():
    values = np.array([0.0, 1, 2, 3])
    up = fit_threshold(values, np.array([0, 0, 1, 1]))
    down = fit_threshold(values, np.array([1, 1, 0, 0]))
    assert up.predict(values).tolist() == [False, False, True, True]
    assert down.predict(values).tolist() == [True, True, False, False]


def test_threshold_rule_predicts_strictly_above():
    assert ThresholdRule(1.0, 1.0).predict(np.array([0.5, 1.0, 1.5])).tolist() == [False, False, True]


def test_assert_disjoint_rejects_shared_ids():
    with pytest.raises(ValueError, match="share 1"):
        assert_disjoint(np.array([1, 2, 3]), np.array([3, 4]))


def _planted(n, seed):
    rng = np.random.default_rng(seed)
    concept = rng.normal(size=n)
    other = rng.normal(size=n)
    activation = concept + 0.05 * rng.normal(size=n)
    return concept, other, activation


def test_a_correct_description_scores_high_and_its_controls_score_at_chance():
    c_e, o_e, a_e = _planted(2000, 0)
    c_h, o_h, a_h = _planted(2000, 1)
    s = score_description(c_e, a_e, c_h, a_h, control_evidence=o_e, control_heldout=o_h, seed=3)
    assert s.simulation_r > 0.99
    assert s.detection_bacc > 0.95
    assert abs(s.shuffled_simulation_r) < 0.1
    assert abs(s.shuffled_detection_bacc - 0.5) < 0.15
    assert abs(s.random_description_simulation_r) < 0.1
    assert abs(s.random_description_detection_bacc - 0.5) < 0.15


def test_an_anticorrelated_predicate_is_oriented_on_the_evidence_split():
    c_e, _, a_e = _planted(3000, 0)
    c_h, _, a_h = _planted(3000, 1)
    s = score_description(-c_e, a_e, -c_h, a_h)
    assert s.simulation_r > 0.99 and s.detection_bacc > 0.95


def test_binary_predicate_detects_a_unit_that_fires_only_when_it_holds():
    # Unit fires (value 1 + tiny noise) on exactly the 10% of positions where the predicate holds.
    rng = np.random.default_rng(0)
    pred = np.zeros(1000)
    pred[rng.choice(1000, 100, replace=False)] = 1.0
    act = pred + 1e-3 * rng.normal(size=1000)
    s = score_description(pred, act, pred, act, top_fraction=0.1)
    assert s.detection_bacc == pytest.approx(1.0)
    # r of a 0/1 predicate with itself plus tiny noise
    assert s.simulation_r == pytest.approx(1.0, abs=1e-3)


def test_scores_are_reproducible_for_a_seed():
    c_e, o_e, a_e = _planted(300, 0)
    c_h, o_h, a_h = _planted(300, 1)
    a = score_description(c_e, a_e, c_h, a_h, o_e, o_h, seed=7).to_json()
    b = score_description(c_e, a_e, c_h, a_h, o_e, o_h, seed=7).to_json()
    assert a == b


@given(st.floats(0.1, 10), st.floats(-5, 5), st.integers(0, 50))
@settings(max_examples=25, deadline=None)
def test_scores_are_invariant_to_positive_affine_maps_of_the_activation(scale, shift, seed):
    c_e, o_e, a_e = _planted(400, seed)
    c_h, o_h, a_h = _planted(400, seed + 1000)
    base = score_description(c_e, a_e, c_h, a_h, o_e, o_h, seed=1).to_json()
    moved = score_description(c_e, scale * a_e + shift, c_h, scale * a_h + shift, o_e, o_h, seed=1).to_json()
    for key, value in base.items():
        assert moved[key] == pytest.approx(value, abs=1e-9), key


@given(st.integers(0, 1000))
@settings(max_examples=25, deadline=None)
def test_balanced_accuracy_lies_in_the_unit_interval(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 30).astype(bool)
    y[0], y[1] = True, False
    assert 0.0 <= balanced_accuracy(y, rng.integers(0, 2, 30).astype(bool)) <= 1.0


def test_average_precision_hand_examples():
    assert average_precision(np.array([3.0, 2, 1, 0]), np.array([1, 1, 0, 0])) == pytest.approx(1.0)
    # ranking: pos, neg, pos -> precisions at hits 1/1 and 2/3 -> AP = (1 + 2/3) / 2
    assert average_precision(np.array([3.0, 2, 1]), np.array([1, 0, 1])) == pytest.approx(5 / 6)
    # tied scores form one threshold: precision 1/2 at recall 1
    assert average_precision(np.array([1.0, 1.0]), np.array([1, 0])) == pytest.approx(0.5)
    assert average_precision(np.array([2.0, 1.0, 1.0]), np.array([0, 1, 1])) == pytest.approx(2 / 3)


def test_average_precision_of_a_random_integer_ranking_is_near_chance():
    rng = np.random.default_rng(0)
    values = [average_precision(rng.integers(0, 3, 400).astype(float), rng.integers(0, 2, 400)) for _ in range(50)]
    assert abs(np.mean(values) - 0.5) < 0.02


def test_auprc_of_a_correct_description_is_high_and_of_shuffled_near_chance():
    c_e, o_e, a_e = _planted(3000, 0)
    c_h, o_h, a_h = _planted(3000, 1)
    s = score_description(c_e, a_e, c_h, a_h, o_e, o_h)
    assert s.detection_auprc > 0.95 and abs(s.shuffled_detection_auprc - 0.5) < 0.12


@given(st.lists(st.integers(-5, 5), min_size=4, max_size=40), st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_fitted_threshold_is_as_good_as_the_best_brute_force_threshold(values, seed):
    v = np.array(values, dtype=float)
    labels = np.random.default_rng(seed).integers(0, 2, len(v)).astype(bool)
    labels[0], labels[1] = True, False
    rule = fit_threshold(v, labels)
    # slow reference: every cut point and both directions
    cuts = np.concatenate([[v.min() - 1], np.unique(v) + 0.5])
    best = max(balanced_accuracy(labels, s * v > t) for s in (1.0, -1.0) for t in np.concatenate([cuts, -cuts]))
    assert balanced_accuracy(labels, rule.predict(v)) == pytest.approx(best)
