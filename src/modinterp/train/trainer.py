"""The training loop: AdamW + schedule, AMP, optional compile and DDP, callbacks, atomic checkpoints, exact resume.

    trainer = Trainer(config, model, train_data, val_data, run_dir="runs/x", probe_hook=probe)
    result = trainer.fit(resume=True)

`model` is any module returning a ModelOutput (value, policy, concepts) from tokens; the trainer never builds
it, so studies can hand in grown or embedded models. `train_data.batch(step, rank, world_size)` must be a pure
function of the step (see `modinterp.data.positions.TrainPositions`): that, the step-indexed schedule and the
saved optimizer/RNG state are what make a killed-and-resumed run end bit for bit where an uninterrupted one does.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from modinterp.atomic import atomic_write_json
from modinterp.data.batch import PositionBatch
from modinterp.device import autocast
from modinterp.manifest import write_manifest
from modinterp.train import checkpoint as ckpt
from modinterp.train.config import TrainConfig
from modinterp.train.distributed import DistInfo, mean_across_ranks, wrap_model
from modinterp.train.evaluate import evaluate
from modinterp.train.interfaces import LossTerm, StepBatches, TrainBatches, ValidationBatches
from modinterp.train.loss import LossWeights, compute_loss
from modinterp.train.metrics import MetricsLog, truncate_metrics
from modinterp.train.optim import build_optimizer, resolve_lr_multipliers, set_learning_rate
from modinterp.train.progress import TrainProgress
from modinterp.train.schedule import lr_factor

ProbeHook = Callable[[int, nn.Module], "Mapping[str, float] | None"]
StepCallback = Callable[[int, "Trainer"], None]
_TRAIN_KEYS = ("loss", "value_loss", "policy_loss", "concept_loss", "grad_norm")


class NonFiniteLossError(FloatingPointError):
    """The loss (or gradient norm) became NaN or infinite; the run stopped before applying that step."""


@dataclass
class TrainResult:
    """Summary of `fit`. Timing excludes the first step (worker start-up, first batch): see `first_batch_s`."""

    step: int
    final_val: dict[str, float] | None
    data_wait_fraction: float
    steps_per_s: float
    run_dir: Path | None
    first_batch_s: float = float("nan")


class Trainer:
    """Trains a model on a step-indexed batch stream, with validation, probes, checkpoints and exact resume."""

    def __init__(self, config: TrainConfig, model: nn.Module, train_data: TrainBatches,
                 val_data: ValidationBatches | None = None, run_dir: str | Path | None = None, *,
                 probe_hook: ProbeHook | None = None, callbacks: Sequence[StepCallback] = (),
                 lr_multipliers: Mapping[str, float] | None = None, dist: DistInfo | None = None,
                 loss_terms: Sequence[LossTerm] = (), games_digest: str | None = None):
        """`lr_multipliers` maps exact parameter names to a multiplier of the scheduled lr (beside the config's
        fnmatch patterns); `callbacks` run after every optimizer step, before logging and checkpointing;
        `loss_terms` are added to the task loss (the logged "loss" is the sum; each term logs its own values);
        `games_digest` (`GameStore.digest()`) goes into manifest.json, so runs can be checked to share their games."""
        from modinterp.device import pick_device, reuse_freed_memory

        self.config = config
        self.dist = dist or DistInfo.single(pick_device(config.device))
        self.device = self.dist.device
        if self.device.type == "cpu":
            reuse_freed_memory()  # large CPU tensors otherwise re-fault their pages every step (modinterp.device)
        self.model = model.to(self.device)
        self.train_data, self.val_data = train_data, val_data
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.probe_hook, self.callbacks = probe_hook, list(callbacks)
        self.loss_terms = list(loss_terms)
        self.games_digest = games_digest
        self.weights = LossWeights(config.w_value, config.w_policy, config.w_concept)
        multipliers = resolve_lr_multipliers(self.model, names=lr_multipliers, patterns=config.lr_multipliers)
        self.optimizer = build_optimizer(self.model, config.lr, config.weight_decay, tuple(config.betas), config.eps,
                                         config.decay_all, multipliers)
        wrapped = wrap_model(self.model, self.dist)
        self._forward = torch.compile(wrapped) if config.compile else wrapped
        self.step = 0
        self._log_sums = [0.0] * len(_TRAIN_KEYS)
        self._log_count = 0
        self._wait_s = self._busy_s = 0.0
        self._steps_timed = 0
        self.first_batch_s = float("nan")

    # ------------------------------------------------------------------------------------------------ paths
    @property
    def writes(self) -> bool:
        return self.run_dir is not None and self.dist.is_writer

    @property
    def checkpoint_dir(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / "checkpoints"

    # ------------------------------------------------------------------------------------------------ state
    def trainer_state(self) -> dict[str, Any]:
        """Everything besides weights and optimizer needed to continue exactly: step, RNG, log window, sampler."""
        state: dict[str, Any] = {
            "step": self.step,
            "complete": self.step >= self.config.steps,
            "torch_rng": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode("ascii"),
            "log_sums": list(self._log_sums),
            "log_count": self._log_count,
            "sampler": {"seed": self._stream_seed, "step": self.step,
                        "steps_per_epoch": int(self.train_data.steps_per_epoch)},
            "world_size": self.dist.world_size,
        }
        terms = {str(i): term.state_dict() for i, term in enumerate(self.loss_terms) if hasattr(term, "state_dict")}
        if terms:
            state["loss_terms"] = terms
        if self.device.type == "cuda":
            state["cuda_rng"] = base64.b64encode(torch.cuda.get_rng_state(self.device).numpy().tobytes()).decode("ascii")
        return state

    def load_trainer_state(self, state: dict[str, Any], source: Path) -> None:
        sampler = state["sampler"]
        expected = {"seed": self._stream_seed, "steps_per_epoch": int(self.train_data.steps_per_epoch)}
        for key, value in expected.items():
            if sampler.get(key) != value:
                raise ckpt.CheckpointError(f"{source}: sampler {key} is {sampler.get(key)}, this run has {value}; "
                                           "resume with the same games, batch size and batch seed")
        self.step = int(state["step"])
        self._log_sums = [float(x) for x in state["log_sums"]]
        self._log_count = int(state["log_count"])
        torch.set_rng_state(_bytes_tensor(state["torch_rng"]))
        for i, term in enumerate(self.loss_terms):
            saved = state.get("loss_terms", {}).get(str(i))
            if hasattr(term, "load_state_dict"):
                if saved is None:
                    raise ckpt.CheckpointError(f"{source}: no state for loss term {i} ({term.name}); resume with the "
                                               "loss terms the run was started with")
                term.load_state_dict(saved, self.model)
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(_bytes_tensor(state["cuda_rng"]), self.device)

    @property
    def _stream_seed(self) -> int:
        """The seed the batch stream was really built with (a study may pass its own to make_positions)."""
        return int(getattr(self.train_data, "seed", self.config.stream_seed))

    def save_checkpoint(self) -> Path | None:
        if not self.writes:
            return None
        return ckpt.write_checkpoint(self.checkpoint_dir, self.step, self.model, self.optimizer, self.trainer_state(),
                                     self._run_config(), keep=self.config.keep_checkpoints)

    def _restore(self, resume: bool) -> bool:
        """Load the latest checkpoint when resuming; returns whether the run was already complete."""
        found = ckpt.latest_checkpoint(self.checkpoint_dir) if self.checkpoint_dir else None
        if self.writes:
            ckpt.clean_partial_checkpoints(self.checkpoint_dir)
        if not resume:
            if found is not None:
                raise FileExistsError(f"{self.run_dir} already holds checkpoints (latest step {found[0]}); "
                                      "pass resume=True (--resume) to continue it, or choose a new run directory")
            if self.writes:
                truncate_metrics(self.run_dir / "metrics.jsonl", -1)
            return False
        if found is None:
            if self.writes:
                truncate_metrics(self.run_dir / "metrics.jsonl", -1)
            return False
        step, path = found
        self._check_same_model(path)
        self.load_trainer_state(ckpt.read_checkpoint(path, self.model, self.optimizer), path)
        if self.writes:
            truncate_metrics(self.run_dir / "metrics.jsonl", step)
        return step >= self.config.steps

    def _check_same_model(self, path: Path) -> None:
        """Refuse to resume a checkpoint written for another model config: the weights would load (same shapes),
        but masks and routing follow from the config (e.g. bus_writer, module_shares), so the run would change
        function silently."""
        saved = json.loads((path / "config.json").read_text(encoding="utf-8")).get("model")
        current = self._run_config().get("model")
        if saved is None or current is None:
            return
        current = json.loads(json.dumps(current))  # tuples as the JSON lists the checkpoint holds
        config = self.model.config  # fields added since the checkpoint was written count at their defaults
        defaults = {f.name: f.default for f in dataclasses.fields(config)} if dataclasses.is_dataclass(config) else {}
        diffs = [f"{k}: {saved.get(k, defaults.get(k))!r} -> {current.get(k)!r}" for k in sorted(set(saved) | set(current))
                 if saved.get(k, defaults.get(k)) != current.get(k)]
        if diffs:
            raise ckpt.CheckpointError(f"{path}: written for another model config ({'; '.join(diffs)}); resume with "
                                       "the model settings the run was started with, or choose a new run directory")

    def _run_config(self) -> dict[str, Any]:
        out = {"train": self.config.model_dump(mode="json")}
        model_config = getattr(self.model, "config", None)
        if hasattr(model_config, "to_dict"):
            out["model"] = model_config.to_dict()
        return out

    # ------------------------------------------------------------------------------------------------ steps
    def train_step(self, batch: PositionBatch) -> list[float]:
        """One optimizer step on `batch`; returns the (rank-averaged) loss terms and grad norm.

        Raises NonFiniteLossError before the update is applied, so the model stays at its last good state.
        """
        cfg = self.config
        self.model.train()
        set_learning_rate(self.optimizer, cfg.lr, self._lr_factor(self.step))
        batch = batch.to(self.device, non_blocking=True)
        with autocast(self.device, enabled=cfg.amp):
            output = self._forward(batch.tokens)
        parts = compute_loss(output, batch, self.weights)
        total = parts.total
        for term in self.loss_terms:
            value = term(self.model, self.step)
            if value.requires_grad:  # a term that skips this step returns a constant zero
                total = total + value
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip or math.inf)
        task = parts.detached()
        task[0] = total.detach().float()
        stats = torch.cat([task, grad_norm.detach().float().reshape(1)])
        values = mean_across_ranks(stats, self.dist).tolist()
        if not all(math.isfinite(v) for v in values):
            self.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteLossError(self._non_finite_message(values))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        for term in self.loss_terms:
            term.after_step(self.model)
        return values

    def _lr_factor(self, step: int) -> float:
        c = self.config
        return lr_factor(step, c.steps, c.schedule, c.warmup_steps, c.min_lr_ratio, c.decay_steps)

    def _non_finite_message(self, values: list[float]) -> str:
        terms = ", ".join(f"{k}={v}" for k, v in zip(_TRAIN_KEYS, values))
        last = ckpt.latest_checkpoint(self.checkpoint_dir) if self.checkpoint_dir else None
        kept = f"the last good checkpoint {last[1]} is kept" if last else "no checkpoint had been written yet"
        return (f"non-finite loss at step {self.step} ({terms}); the run stopped without applying this step and "
                f"{kept}. Lower the learning rate, enable grad_clip, or check the data")

    # ------------------------------------------------------------------------------------------------ callbacks
    def validate(self, indices: Sequence[int] | None = None) -> dict[str, float]:
        """Mean validation metrics over the given validation batches (all of them by default)."""
        if self.val_data is None:
            raise ValueError("this trainer has no validation data")
        chosen = range(self.val_data.n_batches) if indices is None else indices
        return evaluate(self.model, (self.val_data.batch(i) for i in chosen), self.weights, self.device, self.config.amp)

    def _after_step(self, log: MetricsLog, values: list[float]) -> None:
        cfg, s = self.config, self.step
        self._log_sums = [a + b for a, b in zip(self._log_sums, values)]
        self._log_count += 1
        for callback in self.callbacks:
            callback(s, self)
        if s % cfg.log_every == 0 or s == cfg.steps:
            means = {k: v / self._log_count for k, v in zip(_TRAIN_KEYS, self._log_sums)}
            values, seconds = self._loss_term_log()
            log.write(s, "train", {**means, "lr": cfg.lr * self._lr_factor(s - 1), **values})
            log.scalars(s, "time", seconds)
            self._log_sums, self._log_count = [0.0] * len(_TRAIN_KEYS), 0
        if self.dist.is_writer and self.val_data is not None:
            if cfg.quick_val_every and s % cfg.quick_val_every == 0:
                log.write(s, "val_quick", self.validate(self.val_data.quick_indices(s, cfg.quick_val_batches)))
            if cfg.full_val_every and s % cfg.full_val_every == 0 and s < cfg.steps:
                log.write(s, "val_full", self.validate())
        if cfg.probes_at(s):
            self._probe(log)
        if cfg.play is not None and (s % cfg.play.every == 0 or s == cfg.steps):
            self._play(log)
        if cfg.checkpoint_every and s % cfg.checkpoint_every == 0 and s < cfg.steps:
            self.save_checkpoint()

    def _loss_term_log(self) -> tuple[dict[str, float], dict[str, float]]:
        """Each loss term's latest values and refresh count (for metrics.jsonl), and its total refresh time
        (wall clock: TensorBoard's "time" group only, so that metrics.jsonl stays reproducible)."""
        values: dict[str, float] = {}
        seconds: dict[str, float] = {}
        for term in self.loss_terms:
            values.update({k: v for k, v in term.last_log.items() if not k.endswith("seconds")})
            refreshes = getattr(term, "refresh_seconds_", None)
            if refreshes is not None:
                values[f"{term.name}/refreshes"] = float(len(refreshes))
                seconds[f"{term.name}/refresh_seconds_total"] = float(sum(refreshes))
        return values, seconds

    def _in_eval_mode(self, evaluate_model: Callable[[], Any]) -> Any:
        """Run `evaluate_model()` with the model in eval mode, restoring its mode afterwards."""
        was_training = self.model.training
        self.model.eval()
        try:
            return evaluate_model()
        finally:
            self.model.train(was_training)

    def _probe(self, log: MetricsLog) -> None:
        if self.probe_hook is None or not self.dist.is_writer:
            return
        result = self._in_eval_mode(lambda: self.probe_hook(self.step, self.model))
        if result:
            log.write(self.step, "probe", dict(result))

    def _play(self, log: MetricsLog) -> None:
        """Play-strength evaluation (config.play) into metrics.jsonl (split "play") and TensorBoard."""
        if not self.dist.is_writer:
            return
        from modinterp.train.play_eval import play_metrics  # compiled game players: loaded only when configured

        values, seconds = self._in_eval_mode(lambda: play_metrics(self.model, self.config.play))
        log.write(self.step, "play", values)
        log.scalars(self.step, "time", seconds)

    # ------------------------------------------------------------------------------------------------ loop
    def fit(self, resume: bool = False) -> TrainResult:
        """Train to `config.steps` (continuing from the latest checkpoint with `resume`); returns a summary."""
        cfg, started = self.config, time.time()
        complete = self._restore(resume)
        log = MetricsLog(self.run_dir if self.writes else None, cfg.tensorboard and self.writes,
                         purge_step=self.step + 1 if self.step else None)
        if self.writes:
            write_manifest(self.run_dir, self._run_config(), [cfg.seed, self._stream_seed], started, status="running",
                           games_digest=self.games_digest)
        final_val = None
        try:
            if not complete:
                if self.step == 0 and cfg.probes_at(0):
                    self._probe(log)
                self._loop(log)
                if self.dist.is_writer and self.val_data is not None:
                    final_val = self.validate()
                    log.write(self.step, "val_full", final_val)
                self.save_checkpoint()
            self._write_final(started)
        finally:
            log.close()
        busy = self._busy_s or float("nan")
        return TrainResult(self.step, final_val, self._wait_s / busy, self._steps_timed / busy, self.run_dir,
                           self.first_batch_s)

    def _batches(self) -> Iterator[PositionBatch]:
        """This rank's batches from the current step to the end; with `prefetch`, built ahead in `data_workers`
        worker processes (processes, not threads: NumPy indexing holds the GIL and would stall the loop)."""
        cfg, cuda = self.config, self.device.type == "cuda"
        steps = StepBatches(self.train_data, self.step, cfg.steps, self.dist.rank, self.dist.world_size)
        prefetch = cuda if cfg.prefetch is None else cfg.prefetch  # on a busy CPU a worker only steals cycles
        if not prefetch:
            return (steps[i].pin_memory() if cuda else steps[i] for i in range(len(steps)))
        loader = DataLoader(steps, batch_size=None, shuffle=False, num_workers=cfg.data_workers, pin_memory=cuda,
                            prefetch_factor=4, multiprocessing_context="forkserver")
        return iter(loader)

    def _loop(self, log: MetricsLog) -> None:
        cfg, world = self.config, self.dist.world_size
        batches = self._batches()
        progress = TrainProgress(cfg.steps, self.step, enabled=cfg.progress and self.dist.is_writer)
        first = True
        try:
            while self.step < cfg.steps:
                t0 = time.perf_counter()
                batch = next(batches)
                t1 = time.perf_counter()
                values = self.train_step(batch)
                self.step += 1
                t2 = time.perf_counter()
                if first:  # worker start-up and the first batch: reported apart from the steady state
                    self.first_batch_s, first = t1 - t0, False
                else:
                    self._wait_s += t1 - t0
                    self._busy_s += t2 - t0
                    self._steps_timed += 1
                progress.update(self.step, values[0], len(batch) * world / max(t2 - t0, 1e-9))
                self._after_step(log, values)
                if self.step % cfg.log_every == 0 and self._busy_s > 0:
                    log.scalars(self.step, "time", {"data_wait_fraction": self._wait_s / self._busy_s,
                                                    "positions_per_s": len(batch) * world * self._steps_timed / self._busy_s})
        finally:
            progress.close()
            del batches  # stops the worker processes

    def _write_final(self, started: float) -> None:
        if not self.writes:
            return
        ckpt.save_tensors(self.run_dir / "final" / "model.safetensors", self.model.state_dict())
        atomic_write_json(self.run_dir / "final" / "config.json", self._run_config())
        busy = self._busy_s or float("nan")
        write_manifest(self.run_dir, self._run_config(), [self.config.seed, self._stream_seed], started,
                       status="complete", steps=self.step, data_wait_fraction=self._wait_s / busy,
                       games_digest=self.games_digest)


def _bytes_tensor(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)
