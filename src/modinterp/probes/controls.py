"""Probe controls, each returning results.json `controls` records {condition, seed, layer, control, r2}.

- "init": the same probe on the model at initialisation (how much is decodable from random weights);
- "shuffled": the same probe on targets whose rows are permuted (seeded), so any R^2 above ~0 is overfitting;
- "frozen": a probe fitted on one model's layer and applied unchanged to another model's same layer, which
  asks whether the *same direction* survives, not only whether the concept is still decodable.
  `recalibrated_frozen_scores` adds a per-target affine recalibration (slope and intercept mapping the target's
  probe-train predictions onto the source's), so a direction that survives with another scale or offset is not
  scored as lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from modinterp.probes.capture import capture_cls_residuals, model_layers
from modinterp.probes.cv import DEFAULT_ALPHAS
from modinterp.probes.layers import LayerProbeFit, fit_all_layers, probe_all_layers
from modinterp.probes.probe_set import ProbeSet
from modinterp.probes.ridge import r2_uniform

CONTROL_RECORD_KEYS = ("condition", "seed", "layer", "control", "r2")


def control_record(condition: str, seed: int, layer: str, control: str, r2: float) -> dict:
    return {"condition": condition, "seed": int(seed), "layer": layer, "control": control, "r2": float(r2)}


def permute_targets(targets: np.ndarray, seed: int) -> np.ndarray:
    """Rows of `targets` permuted by `np.random.default_rng(seed)`: same marginals, no link to the inputs."""
    targets = np.asarray(targets)
    return targets[np.random.default_rng(seed).permutation(len(targets))]


def init_control(init_model: nn.Module, probe_set: ProbeSet, *, condition: str, seed: int, alphas=DEFAULT_ALPHAS,
                 n_splits: int = 5, standardize: bool = False, batch_size: int = 1024) -> list[dict]:
    """The full probe protocol on the model's initial weights."""
    records = probe_all_layers(init_model, probe_set, condition=condition, seed=seed, step=0, alphas=alphas,
                               n_splits=n_splits, standardize=standardize, batch_size=batch_size)
    return [control_record(condition, seed, r["layer"], "init", r["r2"]) for r in records]


def shuffled_control(model: nn.Module, probe_set: ProbeSet, *, condition: str, seed: int, shuffle_seed: int = 0,
                     alphas=DEFAULT_ALPHAS, n_splits: int = 5, standardize: bool = False, batch_size: int = 1024,
                     activations: dict[str, torch.Tensor] | None = None) -> list[dict]:
    """The full probe protocol with the rows of the targets permuted (over the whole probe set, seeded).

    Pass `activations` (from `capture_cls_residuals`) to reuse a capture of the same model.
    """
    if activations is None:
        activations = capture_cls_residuals(model, probe_set.tokens, batch_size=batch_size)
    shuffled = probe_set.with_targets(permute_targets(probe_set.targets, shuffle_seed))
    fits = fit_all_layers(activations, shuffled, alphas, n_splits, standardize)
    return [control_record(condition, seed, layer, "shuffled", fit.r2) for layer, fit in fits.items()]


def frozen_scores(source_fits: dict[str, LayerProbeFit], target_activations: dict[str, torch.Tensor],
                  probe_set: ProbeSet) -> dict[str, float]:
    """Probe-test R^2 of each source-layer probe applied unchanged to the target's activations of the same layer."""
    shared = [layer for layer in source_fits if layer in target_activations]
    if not shared:
        raise ValueError(f"frozen probe: no layer in common between source {list(source_fits)} and target {list(target_activations)}")
    scores = {}
    for layer in shared:
        X_test = target_activations[layer][probe_set.test_index]
        scores[layer] = source_fits[layer].probe.score(X_test, probe_set.y_test)
    return scores


def frozen_control(source_model: nn.Module, target_model: nn.Module, probe_set: ProbeSet, *, condition: str, seed: int,
                   layers: list[str] | None = None, alphas=DEFAULT_ALPHAS, n_splits: int = 5, standardize: bool = False,
                   batch_size: int = 1024) -> list[dict]:
    """Fit probes on `source_model` (e.g. the small model at embedding time), score them on `target_model`.

    Layers default to those both models have (e.g. "0".."2" and "final_ln" for a 3-layer source). The models
    must share d_model, as an embedded pair does.
    """
    if layers is None:
        target_layers = set(model_layers(target_model))
        layers = [layer for layer in model_layers(source_model) if layer in target_layers]
    source = capture_cls_residuals(source_model, probe_set.tokens, layers=layers, batch_size=batch_size)
    target = capture_cls_residuals(target_model, probe_set.tokens, layers=layers, batch_size=batch_size)
    widths = {layer: (source[layer].shape[1], target[layer].shape[1]) for layer in layers}
    mismatched = {layer: w for layer, w in widths.items() if w[0] != w[1]}
    if mismatched:
        raise ValueError(f"frozen probe: source and target widths differ at layers {mismatched} (d_model must match)")
    fits = fit_all_layers(source, probe_set, alphas, n_splits, standardize)
    return [control_record(condition, seed, layer, "frozen", r2) for layer, r2 in frozen_scores(fits, target, probe_set).items()]


def affine_recalibration(P_train: torch.Tensor, Y_train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-target (slope, intercept) of the least-squares fit Y[:, j] ~ slope_j * P[:, j] + intercept_j.

    A constant prediction column gets slope 0 (the fit is then the target's mean).
    """
    P_c, Y_c = P_train - P_train.mean(dim=0), Y_train - Y_train.mean(dim=0)
    var = (P_c ** 2).sum(dim=0)
    slope = torch.where(var > 0, (P_c * Y_c).sum(dim=0) / torch.where(var > 0, var, torch.ones_like(var)), torch.zeros_like(var))
    return slope, Y_train.mean(dim=0) - slope * P_train.mean(dim=0)


def recalibrated_r2(probe, X: torch.Tensor, probe_set: ProbeSet, reference: torch.Tensor | None = None) -> float:
    """Probe-test R^2 of `probe` on activations X (N, d) after a per-target affine map fitted on probe-train: onto
    `reference` (the source's own probe-train predictions, as the frozen control uses it) when given, else onto the
    targets (right only for a probe that was not fitted on probe-train)."""
    Y = torch.as_tensor(probe_set.targets, dtype=torch.float64)
    train, test = torch.as_tensor(probe_set.train_index), torch.as_tensor(probe_set.test_index)
    P = probe.predict_tensor(X).to(torch.float64).cpu()
    goal = Y[train] if reference is None else reference.to(torch.float64).cpu()
    slope, intercept = affine_recalibration(P[train], goal)
    return float(r2_uniform(Y[test], P[test] * slope + intercept))


@dataclass(frozen=True)
class FrozenScore:
    """One layer's frozen-probe scores: raw, recalibrated, and retention relative to the source on itself."""

    layer: str
    r2: float  # source probe applied unchanged to the target's activations (frozen_scores)
    r2_recalibrated: float  # the same after a per-target slope and intercept onto the source's probe-train predictions
    r2_source_recalibrated: float  # the source probe on the source's own activations, recalibrated the same way (an
    # identity map: the source's own probe-test R^2)
    retention: float  # r2_recalibrated / r2_source_recalibrated: 1.0 when the target carries the source's read-out

    def record(self, condition: str, seed: int) -> dict:
        """A `controls` record ("frozen") with the recalibrated scores beside the raw one."""
        return {**control_record(condition, seed, self.layer, "frozen", self.r2), "r2_recalibrated": self.r2_recalibrated,
                "r2_source_recalibrated": self.r2_source_recalibrated, "retention": self.retention}


def recalibrated_frozen_scores(source_fits: dict[str, LayerProbeFit], source_activations: dict[str, torch.Tensor],
                               target_activations: dict[str, torch.Tensor], probe_set: ProbeSet) -> dict[str, FrozenScore]:
    """`frozen_scores` plus the affine-recalibrated R^2 and the retention ratio, per layer both sides share.

    The recalibration maps the target's probe-train predictions onto the source's own (per target, least squares),
    then scores on probe-test: a read-out that survives with another scale or offset scores as the source does, an
    identical model exactly its raw score. Fitted onto the targets instead, it undid ridge's shrinkage of the probe's
    own in-sample predictions (slopes 1.1-8.8 on the smoke study's 68 probe-train rows) and amplified noise on
    probe-test: the step-0 recalibrated score fell below the raw one (-0.07 against 0.11) where the grown model's
    embedded layer equals its source.

    Keys of the three dicts must name matching layers (rename the source's, as the study does for embedded layers).
    """
    raw = frozen_scores(source_fits, target_activations, probe_set)
    scores = {}
    for layer, r2 in raw.items():
        probe = source_fits[layer].probe
        reference = probe.predict_tensor(source_activations[layer][torch.as_tensor(probe_set.train_index)])
        own = recalibrated_r2(probe, source_activations[layer], probe_set, reference)
        carried = recalibrated_r2(probe, target_activations[layer], probe_set, reference)
        scores[layer] = FrozenScore(layer, r2, carried, own, carried / own if own != 0 else float("nan"))
    return scores
