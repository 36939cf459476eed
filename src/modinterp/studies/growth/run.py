"""One run of the growth study (a condition and a seed), executable in a worker process or a cluster job.

A run directory `DIR/runs/<condition>-s<seed>/` holds the trainer's outputs (checkpoints/, metrics.jsonl,
final/, manifest.json) plus what the study adds: probes.jsonl (one probe record per layer and probed step,
including the last step), verification.json (embedded conditions), controls.json and run.json, written last,
which marks the run complete. An incomplete run resumes from its latest checkpoint; a complete one is skipped.
`run_specs` turns the study's runs into `modinterp.studies.runner.RunSpec`s for any executor.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modinterp.atomic import atomic_write_json
from modinterp.data.positions import TrainPositions, ValidationPositions
from modinterp.data.store import GameStore
from modinterp.grow import parameter_masks, verify_embedding
from modinterp.probes import ProbeSet
from modinterp.studies.growth.config import EMBEDDING_OF, SMALL_CONDITIONS, SOURCE_OF, GrowthStudyConfig
from modinterp.studies.growth.models import (ElementwiseLrScale, batch_seed, grow_large, large_init, small_init,
                                             untouched_values)
from modinterp.studies.growth.probing import StepProber, final_controls, make_probe_hook
from modinterp.studies.runner import RunSpec
from modinterp.train.checkpoint import load_model_weights
from modinterp.train.config import TrainConfig
from modinterp.train.trainer import Trainer

GAMES_FILE, PROBE_SET_FILE, INIT_DIR, RUNS_DIR = "games.npz", "probe_set.npz", "init", "runs"


@dataclass(frozen=True)
class GrowthRun:
    """One run of the study: a condition and a seed."""

    condition: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.condition}-s{self.seed}"

    @property
    def is_small(self) -> bool:
        return self.condition in SMALL_CONDITIONS

    @property
    def source(self) -> "GrowthRun | None":
        """The small run this one grows from (None for small runs and the baseline)."""
        if self.condition in SOURCE_OF:
            return GrowthRun(SOURCE_OF[self.condition], self.seed)
        return None

    @property
    def frozen_source(self) -> "GrowthRun | None":
        """The small run whose probes the frozen control applies to this run: its source (embedded runs only)."""
        return self.source

    @property
    def needs(self) -> list["GrowthRun"]:
        """Runs that must be complete before this one starts (the small source of the run and of its frozen probe)."""
        return sorted({s for s in (self.source, self.frozen_source) if s is not None}, key=lambda s: s.name)


def growth_runs(config: GrowthStudyConfig) -> list[GrowthRun]:
    """Every run in scheduling order: small runs first, then the baselines, then the embedded runs."""
    return [GrowthRun(c, s) for c in config.conditions for s in config.seeds]


def threads_per_job(config: GrowthStudyConfig) -> int:
    """Torch threads per run: the config's `threads`, else 1 (these models are too small to gain from intra-op
    threads, and on a busy machine extra threads wait on each other: a smoke study took 5x longer with 2)."""
    return config.threads if config.threads is not None else 1


def run_specs(config: GrowthStudyConfig, out: Path) -> list[RunSpec]:
    """The study's runs for `modinterp.studies.runner.run_all`: each calls `execute_run` on its condition and seed."""
    data, threads = config.model_dump(mode="json"), threads_per_job(config)
    return [RunSpec(run.name, execute_run, (str(out), data, run.condition, run.seed, threads),
                    needs=tuple(n.name for n in run.needs), log=run_dir(out, run) / "metrics.jsonl")
            for run in growth_runs(config)]


def run_dir(out: Path, spec: GrowthRun) -> Path:
    return Path(out) / RUNS_DIR / spec.name


def init_path(out: Path, size: str, seed: int) -> Path:
    return Path(out) / INIT_DIR / f"{size}-s{seed}.safetensors"


def is_complete(out: Path, name: str) -> bool:
    """Whether run `name` wrote its run.json (the last thing a run writes)."""
    path = Path(out) / RUNS_DIR / name / "run.json"
    return path.exists() and json.loads(path.read_text(encoding="utf-8")).get("status") == "complete"


def check_grown_as_named(out: Path, config: GrowthStudyConfig) -> None:
    """Refuse a finished embedded run whose verification.json says it was grown with another preserve_outputs than
    its condition's name (folders of versions that named the conditions differently): a resumed study trusts
    finished runs by name, so a mismatch would silently enter the wrong condition."""
    from modinterp.studies.growth.data import StudyError

    for run in growth_runs(config):
        path = run_dir(out, run) / "verification.json"
        if run.condition not in EMBEDDING_OF or not path.exists():
            continue
        recorded = json.loads(path.read_text(encoding="utf-8")).get("plan", {}).get("preserve_outputs")
        expected = EMBEDDING_OF[run.condition][1]
        if recorded is not None and bool(recorded) != expected:
            raise StudyError(f"{path}: run {run.name} was grown with preserve_outputs={recorded}, but its condition "
                             f"means preserve_outputs={expected} (made by a version that named conditions "
                             f"differently); move {run_dir(out, run)} away to train it again, or choose a new --out")


def positions_digest(train, steps: list[int]) -> str:
    """BLAKE2b of the (game, ply, symmetry) triples of the batches at `steps`: equal digests, equal batches."""
    h = hashlib.blake2b(digest_size=16)
    for step in steps:
        for array in train.positions(step):
            h.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return h.hexdigest()


def tensor_digest(t: torch.Tensor) -> str:
    return hashlib.blake2b(t.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).hexdigest()


def _load_model(model: torch.nn.Module, path: Path) -> torch.nn.Module:
    load_model_weights(model, path)
    return model


def _small_final(config: GrowthStudyConfig, out: Path, spec: GrowthRun):
    path = run_dir(out, spec) / "final" / "model.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"{path}: the small run {spec.name} has not finished; it must run first")
    return _load_model(small_init(config, spec.seed), path)


def _initial_model(config: GrowthStudyConfig, out: Path, spec: GrowthRun, probe_tokens: torch.Tensor):
    """(initial model of the run, its random init, extra run.json fields such as verification and digests)."""
    if spec.is_small:
        init = _load_model(small_init(config, spec.seed), init_path(out, "small", spec.seed))
        return copy.deepcopy(init), init, {}, None
    init = _load_model(large_init(config, spec.seed), init_path(out, "large", spec.seed))
    source = _small_final(config, out, spec.source) if spec.source else None
    model = grow_large(config, spec.condition, init, source)
    if source is None:
        return model, init, {}, None
    plan = model.embedding_plan
    tokens = probe_tokens[: config.verification.n_positions]
    report = verify_embedding(source, model, tokens, tolerance=config.verification.tolerance)
    copied, zeroed = parameter_masks(plan, source, model)
    extra = {"verification": report.to_dict(), "untouched_digest": tensor_digest(untouched_values(model, copied, zeroed)),
             "n_copied": int(sum(int(m.sum()) for m in copied.values())),
             "n_zeroed": int(sum(int(m.sum()) for m in zeroed.values()))}
    return model, init, extra, copied


def _in_loop_batches(in_worker: bool) -> dict[str, Any]:
    """Trainer fields that keep batch building inside a worker process (when the trainer offers the choice)."""
    return {"prefetch": False} if in_worker and "prefetch" in TrainConfig.model_fields else {}


def execute_run(out: str, config_data: dict[str, Any], condition: str, seed: int, threads: int = 1,
                progress: bool = False, in_worker: bool = False) -> dict[str, Any]:
    """Train, probe and control one run (resuming it if it has checkpoints); returns its run.json summary.

    `in_worker`: running inside a study worker process, which builds its batches itself (no nested processes).
    """
    started = time.time()
    torch.set_num_threads(max(1, int(threads)))
    config = GrowthStudyConfig.model_validate(config_data)
    out_path, spec = Path(out), GrowthRun(condition, seed)
    directory = run_dir(out_path, spec)
    store = GameStore.load(out_path / GAMES_FILE, validate=False)
    probe_set = ProbeSet.load(out_path / PROBE_SET_FILE)
    stage = config.small.train if spec.is_small else config.large.train
    train = TrainPositions(store, config.position_config("train"), stage.batch_size, batch_seed(seed))
    train_config = stage.resolve(train.steps_per_epoch, seed=seed, batch_seed=batch_seed(seed),
                                 w_concept=config.aux_weight if condition == "small-aux" else 0.0,
                                 probe_steps=config.probes.steps_for(stage.total_steps(train.steps_per_epoch)),
                                 quick_val_every=config.probes.every,
                                 progress=progress and stage.progress, **_in_loop_batches(in_worker))
    val = ValidationPositions(store, config.position_config("val"), train_config.val_batch_size, seed)
    model, init, extra, copied = _initial_model(config, out_path, spec, probe_set.tokens)
    if "verification" in extra:
        atomic_write_json(directory / "verification.json", extra["verification"])
    holder: dict[str, Trainer] = {}
    quick = val.quick_indices(0, train_config.quick_val_batches)
    source = _small_final(config, out_path, spec.frozen_source) if spec.frozen_source else None
    prober = StepProber(config, probe_set, condition, seed, directory, frozen_source=source)
    hook = make_probe_hook(prober, step0_validation=lambda m: holder["t"].validate(quick))
    trainer = holder["t"] = Trainer(train_config, model, train, val, directory, probe_hook=hook)
    if copied is not None:
        ElementwiseLrScale(trainer.model, copied, config.embedding.embedded_lr_multiplier).attach(trainer.optimizer)
    result = trainer.fit(resume=True)
    final = trainer.model.eval()
    atomic_write_json(directory / "controls.json", final_controls(config, probe_set, condition, seed, final, init, source))
    summary = {"status": "complete", "condition": condition, "seed": seed, "steps": result.step,
               "steps_per_epoch": train.steps_per_epoch, "batch_seed": batch_seed(seed),
               "batch_digest": positions_digest(train, [0, 1, train_config.steps - 1]),
               "lr_multiplier_embedded": config.embedding.embedded_lr_multiplier if copied is not None else None,
               **{k: v for k, v in extra.items() if k != "verification"},
               "wall_time_s": round(time.time() - started, 2), "steps_per_s": result.steps_per_s}
    atomic_write_json(directory / "run.json", summary)
    return summary
