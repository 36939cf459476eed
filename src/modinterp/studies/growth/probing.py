"""The study's probing: one fixed probe set for every run, a trainer probe hook, its probe log, and the final controls.

Probe records go to the run's own `probes.jsonl` (one record per layer and probed step, in the results schema's
shape), not through metrics.jsonl; beside them `passthrough.jsonl` (per concept, layer and step: the measures a
copy of the board cannot earn) and, for embedded runs, `frozen.jsonl` (the frozen control at every step). Writes are keyed by step: the first write of a process drops every record at
or after its step, so a resumed run (or a run whose last probe is written again) keeps each record once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from modinterp.data.positions import build_positions, sample_positions
from modinterp.data.store import GameStore
from modinterp.games import domineering as dom
from modinterp.games.concepts import CONCEPTS, compute_concept
from modinterp.probes import (
    ProbeSet,
    RidgeProbe,
    capture_cls_residuals,
    fit_all_layers,
    init_control,
    make_domineering_probe_set,
    probe_all_layers,
    shuffled_control,
)
from modinterp.probes.controls import recalibrated_frozen_scores
from modinterp.probes.passthrough import BoardReference, domineering_board_reference, passthrough_all_concepts
from modinterp.studies.growth.config import GrowthStudyConfig
from modinterp.train.metrics import read_metrics, truncate_metrics

PROBES_FILE = "probes.jsonl"
PASSTHROUGH_FILE = "passthrough.jsonl"  # passthrough-free records, one per concept, layer and probed step
FROZEN_FILE = "frozen.jsonl"  # the frozen control of embedded runs over training, one per embedded layer and step
PROBE_FIELDS = ("r2", "r2_alpha1", "r2_pooled", "alpha", "r2_se")
_PROBE_SET_STREAM = 3  # keeps the probe set's positions apart from the validation positions of seed 0


def build_probe_set(config: GrowthStudyConfig, store: GameStore) -> ProbeSet:
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
    names = CONCEPTS[config.concept.name].output_names(store.spec, **positions.concept_arguments())
    return make_domineering_probe_set(store.spec, batch.tokens, batch.concepts.numpy(), batch.game_ids.numpy(),
                                      p.test_fraction, p.seed, target_names=tuple(names))


def probe_kwargs(config: GrowthStudyConfig) -> dict[str, Any]:
    p = config.probes
    return {"alphas": tuple(p.alphas), "n_splits": p.n_splits, "standardize": p.standardize, "batch_size": p.batch_size}


def probe_record(record: dict[str, Any]) -> dict[str, Any]:
    """One layer's probe result in the results schema's shape (`ProbeRecord`): the identifying fields, the
    metrics of PROBE_FIELDS as floats, and the probe-set sizes."""
    return {"condition": record["condition"], "seed": int(record["seed"]), "step": int(record["step"]),
            "layer": record["layer"], **{key: float(record[key]) for key in PROBE_FIELDS},
            "n_train": int(record["n_train"]), "n_test": int(record["n_test"])}


class ProbeLog:
    """A run's probes.jsonl (or passthrough.jsonl, frozen.jsonl): `write(step, records)` appends one line per record,
    keeping each step once; `shape` puts a record in the schema's shape (default: `probe_record`)."""

    def __init__(self, path: str | Path, shape: Callable[[dict], dict] | None = None):
        self.path, self._opened = Path(path), False
        self.shape = shape or probe_record

    def write(self, step: int, records: list[dict[str, Any]]) -> None:
        """Append the records of `step`; the first write of this log drops records at `step` or later (left by an
        interrupted attempt), so a resumed run writes each record once."""
        if not self._opened:
            truncate_metrics(self.path, step - 1)
            self._opened = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(self.shape(r), sort_keys=True) + "\n" for r in records)


def read_probe_log(path: str | Path) -> list[dict[str, Any]]:
    """The probe records of a run's probes.jsonl, in the order written."""
    return read_metrics(path) if Path(path).exists() else []


def concept_probe_set(config: GrowthStudyConfig, probe_set: ProbeSet, name: str, arguments: dict[str, Any]) -> ProbeSet:
    """The probe set with concept `name`'s values on its boards as targets (same positions, split and games)."""
    spec = dom.BoardSpec(config.board.rows, config.board.cols)
    boards = torch.as_tensor(probe_set.tokens)[:, : spec.rows * spec.cols].numpy().astype(np.uint8)
    return probe_set.with_targets(compute_concept(name, spec, boards, **arguments).astype(np.float64))


def board_references(config: GrowthStudyConfig, probe_set: ProbeSet) -> list[tuple[ProbeSet, BoardReference]]:
    """(probe set, board reference) of every probed concept: the input-only fits, made once per run."""
    spec, p = dom.BoardSpec(config.board.rows, config.board.cols), config.probes
    references = []
    for concept in config.probed_concepts:
        concept_set = concept_probe_set(config, probe_set, concept.name, concept.arguments())
        references.append((concept_set, domineering_board_reference(
            spec, concept_set, concept.name, control_seed=p.shuffle_seed, alphas=tuple(p.alphas), n_splits=p.n_splits,
            standardize=p.standardize, **concept.arguments())))
    return references


class StepProber:
    """Everything measured at one probe step of one run: raw probes of every layer, the passthrough-free records of
    every concept (when [probes] passthrough) and, for embedded runs, the frozen control over training."""

    def __init__(self, config: GrowthStudyConfig, probe_set: ProbeSet, condition: str, seed: int, directory: Path,
                 frozen_source: nn.Module | None = None):
        self.config, self.probe_set, self.condition, self.seed = config, probe_set, condition, seed
        self.kwargs = probe_kwargs(config)
        self.probes = ProbeLog(directory / PROBES_FILE)
        self.passthrough = ProbeLog(directory / PASSTHROUGH_FILE, shape=dict)
        self.frozen = ProbeLog(directory / FROZEN_FILE, shape=dict)
        self.references = board_references(config, probe_set) if config.probes.passthrough else []
        self.frozen_fits = frozen_fits(config, probe_set, frozen_source) if frozen_source is not None else None

    def __call__(self, step: int, model: nn.Module) -> None:
        """Probe `model` at `step` and append every record to the run's logs."""
        k = self.kwargs
        activations = capture_cls_residuals(model, self.probe_set.tokens, batch_size=k["batch_size"])
        self.probes.write(step, probe_all_layers(model, self.probe_set, condition=self.condition, seed=self.seed,
                                                 step=step, activations=activations, **k))
        if self.references:
            every = passthrough_all_concepts(activations, self.references, k["alphas"], k["n_splits"], k["standardize"])
            self.passthrough.write(step, [score.record(self.condition, self.seed, step, concept.name)
                                          for scores, concept in zip(every, self.config.probed_concepts)
                                          for score in scores.values()])
        if self.frozen_fits is not None:
            self.frozen.write(step, frozen_step_records(self, step, activations))


def frozen_fits(config: GrowthStudyConfig, probe_set: ProbeSet, source: nn.Module) -> tuple[dict, dict]:
    """(fits, activations) of the source small model's embedded layers, renamed to the large layers they fill."""
    kwargs = probe_kwargs(config)
    small_layers = [str(j) for j in config.embedded_small_layers]
    large_layers = [str(config.embedding.at_layer + k) for k in range(len(small_layers))]
    source_acts = capture_cls_residuals(source, probe_set.tokens, layers=small_layers, batch_size=kwargs["batch_size"])
    fits = fit_all_layers(source_acts, probe_set, kwargs["alphas"], kwargs["n_splits"], kwargs["standardize"])
    return ({large: fits[small] for small, large in zip(small_layers, large_layers)},
            {large: source_acts[small] for small, large in zip(small_layers, large_layers)})


def frozen_step_records(prober: StepProber, step: int, activations: dict[str, torch.Tensor]) -> list[dict]:
    """The frozen control at one step: the source's probes on the large model's matching layers, raw and recalibrated."""
    fits, source_acts = prober.frozen_fits
    scores = recalibrated_frozen_scores(fits, source_acts, {k: activations[k] for k in fits}, prober.probe_set)
    return [{**score.record(prober.condition, prober.seed), "step": int(step)} for score in scores.values()]


def make_probe_hook(prober: StepProber, step0_validation: Callable[[nn.Module], dict[str, float]] | None = None):
    """The trainer's probe hook: run `prober` at the step; at step 0 also quick-validate (the trainer starts at
    step 1) and return those numbers, which the trainer writes to metrics.jsonl as `val_quick/*` of split "probe"."""

    def hook(step: int, model: nn.Module) -> dict[str, float]:
        prober(step, model)
        if step == 0 and step0_validation is not None:
            return {f"val_quick/{k}": v for k, v in step0_validation(model).items()}
        return {}

    return hook


def final_controls(config: GrowthStudyConfig, probe_set: ProbeSet, condition: str, seed: int, final: nn.Module,
                   init: nn.Module, frozen_source: nn.Module | None) -> list[dict]:
    """Controls of one run: `init` (the condition's random initial weights, before any embedding), `shuffled`
    (final model, permuted targets) and, for embedded conditions, `frozen` (probes fitted on the source small
    model's embedded layers, applied unchanged to the final large model's matching layers, raw and recalibrated)."""
    kwargs = probe_kwargs(config)
    records = init_control(init, probe_set, condition=condition, seed=seed, **kwargs)
    final_acts = capture_cls_residuals(final, probe_set.tokens, batch_size=kwargs["batch_size"])
    records += shuffled_control(final, probe_set, condition=condition, seed=seed, shuffle_seed=config.probes.shuffle_seed,
                                activations=final_acts, **kwargs)
    if frozen_source is not None:
        records += frozen_records(config, probe_set, condition, seed, frozen_source, final_acts)
    return records


def frozen_records(config: GrowthStudyConfig, probe_set: ProbeSet, condition: str, seed: int, source: nn.Module,
                   target_activations: dict[str, torch.Tensor]) -> list[dict]:
    """Small layer j's probe scored on large layer at_layer + k, for the embedded small layers j (k-th of them)."""
    standardize = config.probes.standardize
    fits, source_acts = frozen_fits(config, probe_set, source)
    scores = recalibrated_frozen_scores(fits, source_acts, {k: target_activations[k] for k in fits}, probe_set)
    records = []
    for layer, score in scores.items():
        # Beside the CV-alpha probe: the original's alpha = 1, less sensitive to drift in low-variance directions.
        alpha1 = RidgeProbe(alpha=1.0, standardize=standardize).fit(source_acts[layer][probe_set.train_index],
                                                                    probe_set.y_train)
        r2_alpha1 = alpha1.score(target_activations[layer][probe_set.test_index], probe_set.y_test)
        records.append({**score.record(condition, seed), "r2_alpha1": float(r2_alpha1),
                        "alpha": float(fits[layer].selection.alpha)})
    return records
