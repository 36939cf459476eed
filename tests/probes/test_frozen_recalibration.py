"""The frozen control with a per-target affine recalibration: hand values, identity, affine distortion, other weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modinterp.models import BoardTransformer
from modinterp.probes.capture import capture_cls_residuals
from modinterp.probes.controls import (CONTROL_RECORD_KEYS, affine_recalibration, recalibrated_frozen_scores,
                                      recalibrated_r2)
from modinterp.probes.layers import fit_all_layers
from modinterp.probes.probe_set import make_domineering_probe_set

ALPHAS = (0.01, 1.0, 100.0)


@pytest.fixture
def planted(tiny_model, positions, spec):
    """Targets: a fixed linear read-out of the tiny model's layer-1 CLS residual plus noise; and its activations."""
    tokens, _, _, games = positions
    acts = capture_cls_residuals(tiny_model, torch.as_tensor(tokens))
    rng = np.random.default_rng(0)
    layer1 = acts["1"].double().numpy()
    targets = layer1 @ rng.normal(size=(layer1.shape[1], 3)) + 0.3 * rng.normal(size=(len(layer1), 3))
    return make_domineering_probe_set(spec, tokens, targets, games, test_fraction=0.25, seed=0), acts


def test_affine_recalibration_recovers_slope_and_intercept_by_hand():
    P = torch.tensor([[0.0, 4.0], [1.0, 4.0], [2.0, 4.0]], dtype=torch.float64)
    Y = torch.tensor([[1.0, 1.0], [3.0, 2.0], [5.0, 6.0]], dtype=torch.float64)
    slope, intercept = affine_recalibration(P, Y)
    assert slope.tolist() == [2.0, 0.0]  # a constant prediction column gets slope 0 ...
    assert intercept.tolist() == [1.0, 3.0]  # ... and the target's mean


def test_recalibrated_frozen_control_is_one_on_an_identical_model(planted):
    probe_set, acts = planted
    fits = fit_all_layers(acts, probe_set, ALPHAS)
    scores = recalibrated_frozen_scores(fits, acts, acts, probe_set)
    assert [s.retention for s in scores.values()] == [1.0, 1.0, 1.0]
    assert {layer: s.r2 for layer, s in scores.items()} == {layer: fit.r2 for layer, fit in fits.items()}
    assert scores["1"].r2_recalibrated > 0.7  # the planted read-out, with noise


def test_recalibration_forgives_a_rescaled_and_shifted_residual_stream(planted):
    probe_set, acts = planted
    fits = fit_all_layers(acts, probe_set, ALPHAS)
    shift = torch.as_tensor(np.random.default_rng(4).normal(size=acts["1"].shape[1]), dtype=torch.float32)
    distorted = {layer: -3.0 * a + 5.0 * shift for layer, a in acts.items()}
    score = recalibrated_frozen_scores(fits, acts, distorted, probe_set)["1"]
    assert score.r2 < -5  # raw: the same direction scored as lost
    assert score.retention == pytest.approx(1.0, abs=1e-6)  # recalibrated: the read-out is all there


def test_recalibration_does_not_rescue_a_model_with_other_weights(tiny_model, planted):
    probe_set, acts = planted
    fits = fit_all_layers(acts, probe_set, ALPHAS)
    other = capture_cls_residuals(BoardTransformer(tiny_model.config, seed=1), probe_set.tokens)
    score = recalibrated_frozen_scores(fits, acts, other, probe_set)["1"]
    assert score.retention < 0.5
    record = score.record("large-embed-aux", 1)
    assert tuple(record)[: len(CONTROL_RECORD_KEYS)] == CONTROL_RECORD_KEYS and record["control"] == "frozen"
    assert record["retention"] == score.retention


def test_recalibration_of_an_identical_model_equals_its_raw_score(tiny_model, positions, spec):
    """At step 0 an embedded layer equals its source, so its recalibrated frozen score must equal the raw one. Fitted
    onto the targets on probe-train (where the probe was fitted) the map undoes ridge's shrinkage of the in-sample
    predictions and, on few rows, amplifies noise on probe-test (the smoke study's step-0 frozen control read -0.07
    against a raw 0.11); fitted onto the source's own predictions it is the identity."""
    tokens, _, _, games = positions
    keep = games < 8  # a small probe set, as the smoke study's (about 100 probe-train rows)
    acts = capture_cls_residuals(tiny_model, torch.as_tensor(tokens[keep]))
    layer1 = acts["1"].double().numpy()
    rng = np.random.default_rng(3)
    targets = 0.05 * layer1 @ rng.normal(size=(layer1.shape[1], 6)) + rng.normal(size=(len(layer1), 6))
    probe_set = make_domineering_probe_set(spec, tokens[keep], targets, games[keep], test_fraction=0.3, seed=0)
    fits = fit_all_layers(acts, probe_set, (1.0,))
    score = recalibrated_frozen_scores(fits, acts, acts, probe_set)["1"]
    onto_targets = recalibrated_r2(fits["1"].probe, acts["1"], probe_set)
    assert onto_targets < score.r2 - 0.05  # the former fit: well below the raw score on an identical model
    assert score.r2_recalibrated == pytest.approx(score.r2, abs=1e-9)
    assert score.r2_source_recalibrated == pytest.approx(fits["1"].r2, abs=1e-9) and score.retention == 1.0
