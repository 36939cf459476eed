"""The study's probing: one fixed probe set for every run, a trainer probe hook, and the final controls.

The hook's records travel through the trainer's metrics.jsonl (split "probe", flat keys such as
`r2/2`), so a resumed run keeps exactly the probe records of the steps before its checkpoint.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from modinterp.data.positions import build_positions, sample_positions
from modinterp.data.store import GameStore
from modinterp.probes import (
    ProbeSet,
    RidgeProbe,
    capture_cls_residuals,
    fit_all_layers,
    frozen_scores,
    init_control,
    make_domineering_probe_set,
    probe_all_layers,
    shuffled_control,
)
from modinterp.probes.controls import control_record
from modinterp.studies.config import EmbeddingStudyConfig

PROBE_FIELDS = ("r2", "r2_alpha1", "r2_pooled", "alpha", "r2_se")
_PROBE_SET_STREAM = 3  # keeps the probe set's positions apart from the validation positions of seed 0


def build_probe_set(config: EmbeddingStudyConfig, store: GameStore) -> ProbeSet:
    """Positions of validation games (one random symmetry each), split by game, symmetric duplicates dropped."""
    p = config.probes
    games = store.split_indices("val")
    if p.max_games is not None:
        games = games[: p.max_games]
    positions = config.position_config("probe")
    rng = np.random.default_rng([p.seed, _PROBE_SET_STREAM])
    game_ids, plies, syms = sample_positions(store.lengths, games, positions.positions_per_game, positions.min_ply, rng,
                                             positions.augment)
    batch = build_positions(store.spec, store.moves, store.winners, store.first, game_ids, plies, syms, positions)
    from modinterp.games.concepts import CONCEPTS

    names = CONCEPTS[config.concept.name].output_names(store.spec, **positions.concept_arguments())
    return make_domineering_probe_set(store.spec, batch.tokens, batch.concepts.numpy(), batch.game_ids.numpy(),
                                      p.test_fraction, p.seed, target_names=tuple(names))


def probe_kwargs(config: EmbeddingStudyConfig) -> dict[str, Any]:
    p = config.probes
    return {"alphas": tuple(p.alphas), "n_splits": p.n_splits, "standardize": p.standardize, "batch_size": p.batch_size}


def flatten_probe_records(records: list[dict]) -> dict[str, float]:
    """Per-layer probe records -> one flat dict of floats (`r2/0`, `alpha/final_ln`, ..., n_train, n_test)."""
    flat: dict[str, float] = {}
    for r in records:
        for key in PROBE_FIELDS:
            flat[f"{key}/{r['layer']}"] = float(r[key])
        flat["n_train"], flat["n_test"] = float(r["n_train"]), float(r["n_test"])
    return flat


def unflatten_probe_record(metrics: dict[str, Any], condition: str, seed: int) -> list[dict]:
    """A metrics.jsonl "probe" line -> results.json `probes` records, one per layer (inverse of the above)."""
    layers = [key.split("/", 1)[1] for key in metrics if key.startswith("r2/")]
    return [{"condition": condition, "seed": int(seed), "step": int(metrics["step"]), "layer": layer,
             **{key: float(metrics[f"{key}/{layer}"]) for key in PROBE_FIELDS if f"{key}/{layer}" in metrics},
             "n_train": int(metrics["n_train"]), "n_test": int(metrics["n_test"])} for layer in layers]


def make_probe_hook(config: EmbeddingStudyConfig, probe_set: ProbeSet, condition: str, seed: int,
                    step0_validation: Callable[[nn.Module], dict[str, float]] | None = None):
    """The trainer's probe hook: probe every layer; at step 0 also quick-validate (the trainer starts at step 1)."""
    kwargs = probe_kwargs(config)

    def hook(step: int, model: nn.Module) -> dict[str, float]:
        records = probe_all_layers(model, probe_set, condition=condition, seed=seed, step=step, **kwargs)
        flat = flatten_probe_records(records)
        if step == 0 and step0_validation is not None:
            flat.update({f"val_quick/{k}": v for k, v in step0_validation(model).items()})
        return flat

    return hook


def final_controls(config: EmbeddingStudyConfig, probe_set: ProbeSet, condition: str, seed: int, final: nn.Module,
                   init: nn.Module, frozen_source: nn.Module | None) -> list[dict]:
    """Controls of one run: `init` (the condition's random initial weights, before any embedding), `shuffled`
    (final model, permuted targets) and, for large conditions, `frozen` (probes fitted on the source small model's
    embedded layers, applied unchanged to the final large model's matching layers)."""
    kwargs = probe_kwargs(config)
    records = init_control(init, probe_set, condition=condition, seed=seed, **kwargs)
    final_acts = capture_cls_residuals(final, probe_set.tokens, batch_size=kwargs["batch_size"])
    records += shuffled_control(final, probe_set, condition=condition, seed=seed, shuffle_seed=config.probes.shuffle_seed,
                                activations=final_acts, **kwargs)
    if frozen_source is not None:
        records += frozen_records(config, probe_set, condition, seed, frozen_source, final_acts)
    return records


def frozen_records(config: EmbeddingStudyConfig, probe_set: ProbeSet, condition: str, seed: int, source: nn.Module,
                   target_activations: dict[str, torch.Tensor]) -> list[dict]:
    """Small layer j's probe scored on large layer at_layer + k, for the embedded small layers j (k-th of them)."""
    kwargs = probe_kwargs(config)
    small_layers = [str(j) for j in config.embedded_small_layers]
    large_layers = [str(config.embedding.at_layer + k) for k in range(len(small_layers))]
    source_acts = capture_cls_residuals(source, probe_set.tokens, layers=small_layers, batch_size=kwargs["batch_size"])
    fits = fit_all_layers(source_acts, probe_set, kwargs["alphas"], kwargs["n_splits"], kwargs["standardize"])
    renamed_fits = dict(zip(large_layers, (fits[layer] for layer in small_layers)))
    scores = frozen_scores(renamed_fits, {k: target_activations[k] for k in large_layers}, probe_set)
    records = []
    for small_layer, layer in zip(small_layers, large_layers):
        # Beside the CV-alpha probe: the original's alpha = 1, less sensitive to drift in low-variance directions.
        alpha1 = RidgeProbe(alpha=1.0, standardize=kwargs["standardize"]).fit(
            source_acts[small_layer][probe_set.train_index], probe_set.y_train)
        r2_alpha1 = alpha1.score(target_activations[layer][probe_set.test_index], probe_set.y_test)
        records.append({**control_record(condition, seed, layer, "frozen", scores[layer]), "r2_alpha1": float(r2_alpha1),
                        "alpha": float(fits[small_layer].selection.alpha)})
    return records
