"""probe_all_layers records and the three controls (init, shuffled, frozen) on a tiny real model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modinterp.models import BoardTransformer
from modinterp.probes.capture import capture_cls_residuals
from modinterp.probes.controls import CONTROL_RECORD_KEYS, frozen_control, init_control, permute_targets, shuffled_control
from modinterp.probes.layers import PROBE_RECORD_KEYS, probe_all_layers
from modinterp.probes.probe_set import make_domineering_probe_set

ALPHAS = (0.01, 1.0, 100.0)


@pytest.fixture
def planted(tiny_model, positions, spec):
    """A probe set whose 3 targets are a fixed linear read-out of the model's layer-1 CLS residual plus small noise."""
    tokens, _, _, games = positions
    acts = capture_cls_residuals(tiny_model, torch.as_tensor(tokens), layers=["1"])["1"].double().numpy()
    rng = np.random.default_rng(0)
    targets = acts @ rng.normal(size=(acts.shape[1], 3)) + 0.01 * rng.normal(size=(len(acts), 3))
    return make_domineering_probe_set(spec, tokens, targets, games, test_fraction=0.25, seed=0)


def test_probe_records_have_the_results_schema(tiny_model, planted):
    records = probe_all_layers(tiny_model, planted, condition="large-baseline", seed=3, step=100, alphas=ALPHAS)
    assert [r["layer"] for r in records] == ["0", "1", "final_ln"]
    for record in records:
        assert tuple(record) == PROBE_RECORD_KEYS
        assert (record["condition"], record["seed"], record["step"]) == ("large-baseline", 3, 100)
        assert (record["n_train"], record["n_test"]) == (planted.n_train, planted.n_test)
        assert record["alpha"] in ALPHAS
        assert all(isinstance(record[k], float) for k in ("r2", "r2_alpha1", "r2_pooled"))


def test_record_carries_the_bootstrap_standard_error_of_its_r2(tiny_model, planted):
    from modinterp.probes.layers import SE_BOOTSTRAP, fit_layer
    from modinterp.probes.sizing import r2_standard_error

    acts = capture_cls_residuals(tiny_model, torch.as_tensor(planted.tokens), layers=["0"])["0"]
    fit = fit_layer("0", acts, planted, alphas=ALPHAS)
    predictions = fit.probe.predict(acts[planted.test_index])
    expected = r2_standard_error(planted.y_test, predictions, planted.test_games, n_boot=SE_BOOTSTRAP)
    assert fit.r2_se == expected.standard_error > 0
    assert fit.record("c", 0, 0, planted.n_train, planted.n_test)["r2_se"] == fit.r2_se


def test_planted_linear_concept_is_recovered_at_its_layer(tiny_model, planted):
    records = {r["layer"]: r for r in probe_all_layers(tiny_model, planted, condition="c", seed=0, step=0, alphas=ALPHAS)}
    assert records["1"]["r2"] > 0.99
    assert records["1"]["r2"] >= records["0"]["r2"]


def test_shuffled_targets_leave_nothing_to_decode(tiny_model, planted):
    records = shuffled_control(tiny_model, planted, condition="c", seed=0, shuffle_seed=1, alphas=ALPHAS)
    assert all(tuple(r) == CONTROL_RECORD_KEYS and r["control"] == "shuffled" for r in records)
    assert max(r["r2"] for r in records) < 0.05


def test_permute_targets_keeps_the_rows_and_is_seeded():
    targets = np.arange(20.0).reshape(10, 2)
    permuted = permute_targets(targets, seed=4)
    assert sorted(map(tuple, permuted)) == sorted(map(tuple, targets))
    assert np.array_equal(permuted, permute_targets(targets, seed=4))
    assert not np.array_equal(permuted, targets)


def test_frozen_probe_on_the_same_model_scores_like_the_refit_probe(tiny_model, planted):
    refit = {r["layer"]: r["r2"] for r in probe_all_layers(tiny_model, planted, condition="c", seed=0, step=0, alphas=ALPHAS)}
    frozen = {r["layer"]: r["r2"] for r in frozen_control(tiny_model, tiny_model, planted, condition="c", seed=0, alphas=ALPHAS)}
    assert frozen == pytest.approx(refit, abs=1e-12)


def test_frozen_probe_fails_on_a_model_with_other_weights(tiny_model, planted):
    other = BoardTransformer(tiny_model.config, seed=1)
    frozen = {r["layer"]: r["r2"] for r in frozen_control(tiny_model, other, planted, condition="c", seed=0, alphas=ALPHAS)}
    refit = {r["layer"]: r["r2"] for r in probe_all_layers(other, planted, condition="c", seed=0, step=0, alphas=ALPHAS)}
    assert frozen["1"] < refit["1"] - 0.2  # the concept may still be decodable, but not along the same direction


def test_frozen_probe_uses_only_layers_both_models_have(tiny_model, planted):
    deeper = BoardTransformer(type(tiny_model.config)(**{**tiny_model.config.__dict__, "n_layers": 3}), seed=2)
    records = frozen_control(tiny_model, deeper, planted, condition="c", seed=0, alphas=ALPHAS)
    assert [r["layer"] for r in records] == ["0", "1", "final_ln"]


def test_init_control_marks_every_layer(tiny_model, planted):
    records = init_control(tiny_model, planted, condition="large-embed-aux", seed=2, alphas=ALPHAS)
    assert [(r["layer"], r["control"], r["seed"]) for r in records] == [("0", "init", 2), ("1", "init", 2), ("final_ln", "init", 2)]
