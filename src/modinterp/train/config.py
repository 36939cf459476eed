"""`TrainConfig`: every knob of a training run, validated at the edge (TOML preset + overrides or keywords).

Defaults follow the original where it made a choice (lr 2.3e-4, weight decay 0.01, loss weights 1 / 0.2 / 0.8,
57 train and 20 validation positions per game from ply 16) and modern practice where it did not (no decay on
norms, biases and embeddings; warmup; gradient clipping). Presets live in `configs/train-NAME.toml`.
"""

from __future__ import annotations

import bisect
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modinterp.config import load_config
from modinterp.data.positions import PositionConfig


class ModelChoice(BaseModel):
    """Which model `modinterp.models.build_model` builds when the trainer is not handed one."""

    model_config = ConfigDict(extra="forbid")

    preset: str = "smoke"
    overrides: dict[str, Any] = Field(default_factory=dict)


class ModularitySettings(BaseModel):
    """Train with `modinterp.modularity.ModularityLoss` as an extra loss term (docs/modularity.md, section 5);
    e.g. `modinterp train ... --set modularity.lam=0.3 --set modularity.k=8`."""

    model_config = ConfigDict(extra="forbid")

    lam: float = Field(..., gt=0, description="weight of the cross-module penalty")
    k: int = Field(8, ge=2, description="modules the GH provider reads off the tree")
    refresh_every: int = Field(1000, ge=1, description="steps between partition refreshes (K)")
    top_k: int | None = Field(16, ge=1, description="edges per node and direction in the graph the provider sees")
    form: Literal["cross_fraction", "ncut"] = "cross_fraction"
    warmup_steps: int = Field(0, ge=0, description="steps before the first partition")
    warmup_l1: float = Field(0.0, ge=0, description="L1 weight during warm-up")
    ramp_steps: int = Field(0, ge=0, description="linear ramp of the penalty after warm-up")
    penalty_every: int = Field(1, ge=1, description="apply the penalty every N-th step, x N")
    graph: Literal["all", "adjacent"] = Field("all", description="unit pairs joined by an edge, in the tree and the "
                                              "penalty alike: every writer to every later reader, or to the next "
                                              "layer's readers only")
    canonical: bool = Field(False, description="graph and penalty from canonical weights (heads balanced, "
                                               "LayerNorm gains folded), so function-preserving rescalings cannot "
                                               "lower the penalty")
    match_previous: bool = Field(False, description="rename each new partition's modules after the previous "
                                                    "one's (Hungarian matching of overlaps)")
    accept_if_better: bool = Field(False, description="keep the previous partition unless the new one scores "
                                                      "better on the current graph (criterion: the form)")

    def build(self):
        """The configured `ModularityLoss` with its Gomory-Hu provider (accept-if-better scores by the loss's own
        form: cross fraction or normalised cut)."""
        from modinterp.modularity import ModularityLoss
        from modinterp.modularity.providers import GomoryHuProvider

        criterion = "normalized_cut" if self.form == "ncut" else "cross_fraction"
        provider = GomoryHuProvider(match_previous=self.match_previous, accept_if_better=self.accept_if_better,
                                    criterion=criterion)
        loss_options = self.model_dump(exclude={"graph", "match_previous", "accept_if_better"})
        return ModularityLoss(**loss_options, couplings=self.graph, provider=provider)


class InterfaceSettings(BaseModel):
    """Interface hardening for a model with per-module residual subspaces (models/subspace.py): an L1 penalty on
    the units' bus weights (`modularity.bus.BusPenalty`); e.g. `--set interface.bus_l1=1e-3` with
    `--set model.overrides.n_modules=4 --set model.overrides.bus_width=4`."""

    model_config = ConfigDict(extra="forbid")

    bus_l1: float = Field(..., gt=0, description="weight of sum |w| over the heads' and neurons' bus reads/writes")

    def build(self):
        """The configured `BusPenalty` loss term."""
        from modinterp.modularity.bus import BusPenalty

        return BusPenalty(self.bus_l1)


class PlaySettings(BaseModel):
    """Periodic play-strength evaluation (`modinterp.play.arena`): win rates and Elo against built-in players,
    written to metrics.jsonl (split "play") and TensorBoard; e.g. `--set play.every=500`."""

    model_config = ConfigDict(extra="forbid")

    every: int = Field(..., ge=1, description="steps between evaluations (and one at the end)")
    games: int = Field(100, ge=2, description="games per pairing (even: each opening with both colours)")
    modes: list[Literal["policy", "value"]] = Field(default_factory=lambda: ["policy", "value"])
    opponents: list[str] = Field(default_factory=lambda: ["random", "alphabeta:1"])
    opening_plies: int = Field(4, ge=0)
    seed: int = Field(0, ge=0, description="seed of the openings (the same at every evaluation)")

    @model_validator(mode="after")
    def _known_opponents(self) -> "PlaySettings":
        bad = [o for o in self.opponents if not re.fullmatch(r"random|alphabeta:([1-9]|1[0-2])", o)]
        if bad or self.games % 2:
            raise ValueError(f"play: opponents {bad} / games={self.games}: expected opponents 'random' or "
                             "'alphabeta:D' (D in 1..12) and an even number of games")
        return self


class TrainConfig(BaseModel):
    """One training run: data sampling, optimizer, schedule, loss weights, callback intervals, runtime options."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, description="model init, validation positions and quick-validation choice")
    batch_seed: int | None = Field(None, description="seed of the training batch stream (default: seed)")
    model: ModelChoice = Field(default_factory=ModelChoice)
    positions: PositionConfig = Field(default_factory=PositionConfig)
    val_positions: PositionConfig = Field(default_factory=lambda: PositionConfig(positions_per_game=20))

    steps: int = Field(60, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(2.3e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    decay_all: bool = Field(False, description="decay norms, biases and embeddings too (the original)")
    lr_multipliers: dict[str, float] = Field(default_factory=dict, description="fnmatch pattern of parameter names -> lr multiplier")

    schedule: Literal["cosine", "wsd", "constant"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    decay_steps: int = Field(0, ge=0, description="wsd only: length of the final cooldown")
    grad_clip: float | None = Field(1.0, ge=0, description="max global grad norm; 0 or None disables clipping")

    w_value: float = Field(1.0, ge=0)
    w_policy: float = Field(0.2, ge=0)
    w_concept: float = Field(0.8, ge=0)
    modularity: ModularitySettings | None = Field(None, description="add the GH modularity loss (off by default)")
    interface: InterfaceSettings | None = Field(None, description="L1 penalty on a modular model's bus (off by default)")
    play: PlaySettings | None = Field(None, description="periodic play-strength evaluation (off by default)")

    log_every: int = Field(10, ge=1, description="train-loss averaging window (steps)")
    quick_val_every: int = Field(0, ge=0, description="0 disables quick validation")
    quick_val_batches: int = Field(25, ge=1)
    full_val_every: int = Field(0, ge=0, description="0: full validation only at the end")
    val_batch_size: int = Field(200, ge=1)
    probe_every: int = Field(0, ge=0, description="call the probe hook every N steps (and at step 0); 0 disables")
    probe_steps: list[int] | None = Field(None, description="call the probe hook at exactly these steps (increasing, "
                                                            "0..steps; 0 is before training); replaces probe_every")
    checkpoint_every: int = Field(0, ge=0, description="0: checkpoint only at the end")
    keep_checkpoints: int = Field(2, ge=1)

    device: str | None = Field(None, description="cpu, cuda, cuda:1; None picks CUDA when present")
    amp: bool = Field(True, description="bf16 autocast on CUDA (never on CPU)")
    compile: bool = False
    prefetch: bool | None = Field(None, description="build batches ahead in `data_workers` processes; None: on CUDA only")
    data_workers: int = Field(1, ge=1, description="worker processes building batches when prefetch is on")
    tensorboard: bool = True
    progress: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> "TrainConfig":
        if self.warmup_steps > self.steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} exceeds steps={self.steps}; lower warmup_steps")
        if self.schedule == "wsd" and self.decay_steps > self.steps - self.warmup_steps:
            raise ValueError(f"decay_steps={self.decay_steps} exceeds steps - warmup_steps = {self.steps - self.warmup_steps}")
        if self.schedule != "wsd" and self.decay_steps:
            raise ValueError(f"decay_steps={self.decay_steps} is only used by schedule='wsd' (got schedule={self.schedule!r})")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas={self.betas}: each must be in [0, 1)")
        self._check_probe_steps()
        self._check_interface()
        return self

    def _check_interface(self) -> None:
        """interface.bus_l1 penalises a bus: refuse it before training when the chosen model has none."""
        if self.interface is None:
            return
        from modinterp.models.config import PRESETS

        fields = {**PRESETS.get(self.model.preset, {}), **self.model.overrides}
        n_modules, bus_width = fields.get("n_modules", 1), fields.get("bus_width", 0)
        if n_modules <= 1 or bus_width <= 0:
            raise ValueError(f"interface.bus_l1 needs a model with per-module subspaces and a bus (got model.preset="
                             f"{self.model.preset!r} with n_modules={n_modules}, bus_width={bus_width}); add e.g. "
                             "--set model.overrides.n_modules=4 --set model.overrides.bus_width=4, or drop interface")

    def _check_probe_steps(self) -> None:
        """probe_steps: increasing, within 0..steps, and not combined with probe_every (one cadence, one source)."""
        if self.probe_steps is None:
            return
        if self.probe_every:
            raise ValueError(f"probe_every={self.probe_every} and probe_steps are both set; give one probe cadence "
                             "(probe_every=0 with an explicit probe_steps list)")
        s = self.probe_steps
        if not s or s[0] < 0 or s[-1] > self.steps or any(b <= a for a, b in zip(s, s[1:])):
            shown = s if len(s) <= 12 else [*s[:6], "...", *s[-3:]]
            raise ValueError(f"probe_steps={shown}: expected a non-empty, strictly increasing list of steps in "
                             f"0..steps={self.steps}")

    def probes_at(self, step: int) -> bool:
        """Whether the probe hook runs at `step` (0: before the first update): a pure function of the step, so a
        resumed run probes exactly the steps an uninterrupted one does."""
        if self.probe_steps is not None:
            i = bisect.bisect_left(self.probe_steps, step)
            return i < len(self.probe_steps) and self.probe_steps[i] == step
        return bool(self.probe_every) and step % self.probe_every == 0

    @property
    def stream_seed(self) -> int:
        """The seed of the training batch stream."""
        return self.seed if self.batch_seed is None else self.batch_seed


def train_preset_name(preset: str | Path) -> str:
    """'cpu' -> 'train-cpu' (the preset configs/train-cpu.toml); a .toml path or a 'train-' name is kept."""
    name = str(preset)
    if not name.endswith(".toml") and not Path(name).is_file() and not name.startswith("train-"):
        name = f"train-{name}"
    return name


def load_train_config(preset: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """`configs/train-NAME.toml` (or an explicit .toml path) with `key=value` overrides, validated."""
    return load_config(TrainConfig, train_preset_name(preset), overrides)
