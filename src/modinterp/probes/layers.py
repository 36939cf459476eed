"""Probe every layer of a model on a `ProbeSet` and return results.json `probes` records.

For each layer: alpha by grouped K-fold CV on probe-train, refit, score on probe-test (uniform and pooled R^2);
the same at alpha = 1 (the original experiment's fixed value) for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from modinterp.probes.capture import capture_cls_residuals
from modinterp.probes.cv import DEFAULT_ALPHAS, AlphaSelection, fit_probe_grouped_cv
from modinterp.probes.probe_set import ProbeSet
from modinterp.probes.ridge import RidgeProbe
from modinterp.probes.sizing import probe_standard_error

PROBE_RECORD_KEYS = ("condition", "seed", "step", "layer", "r2", "r2_alpha1", "r2_pooled", "alpha", "r2_se", "n_train", "n_test")
SE_BOOTSTRAP = 200  # resamples of probe-test games per standard error: +-5% relative precision, a few ms


@dataclass(frozen=True)
class LayerProbeFit:
    """A fitted probe for one layer and its probe-test scores."""

    layer: str
    probe: RidgeProbe  # fitted at the CV-selected alpha
    selection: AlphaSelection
    r2: float  # uniform average over targets, at the selected alpha
    r2_pooled: float
    r2_alpha1: float  # uniform average, alpha = 1
    r2_se: float  # bootstrap (over probe-test games) standard error of r2: the study's sizing check

    def record(self, condition: str, seed: int, step: int, n_train: int, n_test: int) -> dict:
        return {"condition": condition, "seed": int(seed), "step": int(step), "layer": self.layer, "r2": self.r2,
                "r2_alpha1": self.r2_alpha1, "r2_pooled": self.r2_pooled, "alpha": self.selection.alpha,
                "r2_se": self.r2_se, "n_train": int(n_train), "n_test": int(n_test)}


def fit_layer(layer: str, activations: torch.Tensor, probe_set: ProbeSet, alphas=DEFAULT_ALPHAS, n_splits: int = 5,
              standardize: bool = False) -> LayerProbeFit:
    """Fit the probes of one layer on probe-train activations and score them on probe-test."""
    if len(activations) != len(probe_set.tokens):
        raise ValueError(f"layer {layer}: {len(activations)} activation rows for a probe set of {len(probe_set.tokens)} positions")
    X_train, X_test = activations[probe_set.train_index], activations[probe_set.test_index]
    probe, selection = fit_probe_grouped_cv(X_train, probe_set.y_train, probe_set.train_games, alphas, n_splits, standardize)
    alpha1 = RidgeProbe(alpha=1.0, standardize=standardize).fit(X_train, probe_set.y_train)
    return LayerProbeFit(layer, probe, selection, r2=probe.score(X_test, probe_set.y_test),
                         r2_pooled=probe.score_pooled(X_test, probe_set.y_test),
                         r2_alpha1=alpha1.score(X_test, probe_set.y_test),
                         r2_se=probe_standard_error(probe, X_test, probe_set.y_test, probe_set.test_games,
                                                    n_boot=SE_BOOTSTRAP).standard_error)


def fit_all_layers(activations: dict[str, torch.Tensor], probe_set: ProbeSet, alphas=DEFAULT_ALPHAS, n_splits: int = 5,
                   standardize: bool = False) -> dict[str, LayerProbeFit]:
    """`fit_layer` for every captured layer, keyed by layer label."""
    return {layer: fit_layer(layer, acts, probe_set, alphas, n_splits, standardize) for layer, acts in activations.items()}


def probe_all_layers(model: nn.Module, probe_set: ProbeSet, *, condition: str, seed: int, step: int,
                     alphas=DEFAULT_ALPHAS, n_splits: int = 5, standardize: bool = False, layers: list[str] | None = None,
                     batch_size: int = 1024, activations: dict[str, torch.Tensor] | None = None) -> list[dict]:
    """Capture the CLS residual at every layer (unless `activations` are given), probe each one, and return one
    `probes` record per layer.

    Records follow results.json: condition, seed, step, layer, r2 (CV alpha, uniform over targets),
    r2_alpha1, r2_pooled, alpha, n_train, n_test.
    """
    if activations is None:
        activations = capture_cls_residuals(model, probe_set.tokens, layers=layers, batch_size=batch_size)
    fits = fit_all_layers(activations, probe_set, alphas, n_splits, standardize)
    return [fit.record(condition, seed, step, probe_set.n_train, probe_set.n_test) for fit in fits.values()]
