"""`GrowthStudyConfig`: every choice of the growth study, validated at the edge (configs/study-NAME.toml).

One object holds the board and data, the concept (auxiliary loss of small-aux and probe target of every
condition), the two model sizes with their training settings, the embedding, the probes and the
verification. The study owns the fields that make the design paired (seeds, batch streams, the concept
weight of each condition, probe and quick-validation cadence), so the per-size `train` tables may not set them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modinterp.analysis.late_window import DEFAULT_FRACTION
from modinterp.config import CONFIG_DIR, ConfigError, load_config, preset_path, read_toml
from modinterp.data.positions import PositionConfig, concept_call_kwargs, resolve_concept_kwargs
from modinterp.games.concepts import known_concept
from modinterp.models import PRESETS
from modinterp.probes import DEFAULT_ALPHAS
from modinterp.studies.growth.schedule import probe_schedule
from modinterp.train.config import TrainConfig, load_train_config, train_preset_name

SMALL_CONDITIONS = ("small-aux", "small-noaux")
BASELINE = "large-baseline"
PRESERVE_SUFFIX = "-preserve"  # embedded conditions grown with preserve_outputs = true


def embedded_condition(source: str, preserve: bool) -> str:
    """The embedded condition grown from small condition `source`: 'large-embed-aux' (preserve_outputs = false) or
    'large-embed-aux-preserve' (true)."""
    return f"large-embed-{source.removeprefix('small-')}" + (PRESERVE_SUFFIX if preserve else "")


def study_conditions(preserve_settings: list[bool] | tuple[bool, ...] = (False,)) -> tuple[str, ...]:
    """Every condition of a study, in scheduling order: the small pair, the baseline, then per preserve_outputs
    setting (in the config's order) the embedded pair."""
    embedded = [embedded_condition(source, p) for p in preserve_settings for source in SMALL_CONDITIONS]
    return (*SMALL_CONDITIONS, BASELINE, *embedded)


# The default study (preserve_outputs = false): five conditions.
CONDITIONS = study_conditions()
LARGE_CONDITIONS = CONDITIONS[2:]
# Which small model each embedded condition grows from and with which preserve_outputs (the frozen control applies
# that small model's probes; the baseline never contained a small model, so it has neither).
EMBEDDING_OF = {embedded_condition(s, p): (s, p) for p in (False, True) for s in SMALL_CONDITIONS}
SOURCE_OF = {condition: source for condition, (source, _) in EMBEDDING_OF.items()}
# TrainConfig fields the study sets itself, per condition and seed (setting them in a [*.train] table is an error).
STUDY_OWNED_TRAIN_FIELDS = ("seed", "batch_seed", "model", "positions", "val_positions", "w_concept", "probe_every",
                            "probe_steps", "quick_val_every")


def even_games(field: str, n: int) -> int:
    """`n` if even, else the error a games count gets: every opening is played with both colours."""
    if n % 2:
        raise ValueError(f"{field}={n}: expected an even number (each opening is played with both colours)")
    return n


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BoardChoice(_Strict):
    rows: int = Field(8, ge=2, le=16)
    cols: int = Field(8, ge=2, le=16)


# TrainConfig fields of a [data.selfplay] train table that follow from data.seed (setting them is an error), and
# the runtime-only fields left out of the settings recorded with the games (changing them regenerates nothing).
SELFPLAY_OWNED_TRAIN_FIELDS = ("seed", "batch_seed")
RUNTIME_TRAIN_FIELDS = ("progress", "tensorboard")


def resolve_train_table(value: str | dict[str, Any]) -> TrainConfig:
    """A train preset name (configs/train-NAME.toml) or a table, optionally `preset = NAME` plus fields over it."""
    if isinstance(value, str):
        return load_train_config(value)
    table = dict(value)
    preset = table.pop("preset", None)
    if preset is not None and not isinstance(preset, str):
        raise ValueError(f"preset = {preset!r}: expected a train preset name such as 'cpu'")
    base = read_toml(preset_path(train_preset_name(preset))) if preset is not None else {}
    merged = _merge_tables(base, table)
    try:
        return TrainConfig.model_validate(merged)
    except ValidationError as err:
        raise ValueError("; ".join(map(_train_problem, err.errors()))) from None


def _train_problem(error: dict[str, Any]) -> str:
    """One TrainConfig problem: 'field = value: why', or just why for a check across fields."""
    if not error["loc"]:
        return error["msg"]
    return f"{'.'.join(map(str, error['loc']))} = {error.get('input')!r}: {error['msg']}"


def _merge_tables(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, nested tables merged key by key."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge_tables(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _check_train(resolve: Callable[[], TrainConfig]) -> None:
    """A train table resolves to a valid TrainConfig that leaves the seeds to the stage, else a ValueError."""
    try:
        config = resolve()
    except (ConfigError, ValueError) as err:
        raise ValueError(f"not a valid train config: {err}") from None
    owned = [name for name in SELFPLAY_OWNED_TRAIN_FIELDS if getattr(config, name) != getattr(TrainConfig(), name)]
    if owned:
        raise ValueError(f"{owned} follow from data.seed (the self-play stage derives them); remove them")


class SelfPlayChoice(_Strict):
    """[data.selfplay]: self-play games of a value network with 1-ply lookahead, bootstrapped from the study's random
    + guided games as the original's data were (docs/study.md, "Self-play data"); added to DIR/games.npz."""

    games: int = Field(..., ge=1, description="self-play games added to the random + guided games")
    bootstrap_train: str | dict[str, Any] = Field(..., description="train preset name or table (`preset = NAME` plus "
                                                  "fields over it): the value network trained on the random + guided games")
    rounds: int = Field(0, ge=0, description="gated improvement rounds before generating (0: the bootstrap model plays)")
    games_per_round: int = Field(2000, ge=1, description="self-play games of each round (its retraining data)")
    gate_games: int = Field(200, ge=2, description="candidate vs current games per round (even: both colours)")
    alpha: float = Field(0.05, gt=0, lt=1, description="accept a round's candidate when the one-sided p-value is below")
    round_train: str | dict[str, Any] | None = Field(None, description="retraining of each round: a preset name, a "
                                                     "table with `preset`, or fields over bootstrap_train (default: "
                                                     "bootstrap_train itself)")
    opening_plies: int = Field(4, ge=0, description="uniformly random plies at the start of every self-play game")
    epsilon: float = Field(0.05, ge=0, le=1, description="chance of a uniformly random move after the opening")
    temperature: float = Field(0.0, ge=0, description="softmax temperature over child win probabilities; 0: greedy")

    @field_validator("bootstrap_train")
    @classmethod
    def _bootstrap_resolves(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        _check_train(lambda: resolve_train_table(value))
        return value

    @model_validator(mode="after")
    def _round_train_resolves(self) -> "SelfPlayChoice":
        try:
            _check_train(self.round_config)
        except ValueError as err:
            raise ValueError(f"data.selfplay.round_train: {err}") from None
        round_config = self.round_config()
        extra = [name for name in ("modularity", "interface") if getattr(round_config, name) is not None]
        if self.rounds and extra:
            raise ValueError(f"data.selfplay.round_train sets {extra}, but the rounds' retraining "
                             "(modinterp.studies.selfplay.improve) adds no extra loss terms; remove them from "
                             "round_train (or set round_train apart from bootstrap_train)")
        return self

    @field_validator("gate_games")
    @classmethod
    def _even(cls, n: int) -> int:
        return even_games("gate_games", n)

    def bootstrap_config(self) -> TrainConfig:
        """The bootstrap value network's TrainConfig (seeds still to be set by the stage)."""
        return resolve_train_table(self.bootstrap_train)

    def round_config(self) -> TrainConfig:
        """The TrainConfig of each round's retraining: round_train's preset, or its fields over bootstrap_train."""
        value = self.round_train
        if value is None:
            return self.bootstrap_config()
        if isinstance(value, str) or "preset" in value:
            return resolve_train_table(value)
        return resolve_train_table(_merge_tables(self.bootstrap_config().model_dump(), value))

    def recorded_settings(self) -> dict[str, Any]:
        """The settings recorded with the self-play games and compared on reuse: the train configs resolved (so an
        edited preset file counts) without runtime-only fields, the round settings only when there are rounds."""
        def train(config: TrainConfig) -> dict[str, Any]:
            return config.model_dump(mode="json", exclude=set(RUNTIME_TRAIN_FIELDS))

        out: dict[str, Any] = {"games": self.games, "rounds": self.rounds, "opening_plies": self.opening_plies,
                               "epsilon": self.epsilon, "temperature": self.temperature,
                               "bootstrap_train": train(self.bootstrap_config())}
        if self.rounds:
            out.update(games_per_round=self.games_per_round, gate_games=self.gate_games, alpha=self.alpha,
                       round_train=train(self.round_config()))
        return out


class DataChoice(_Strict):
    """The games: generated into DIR/games.npz (reused when these settings match), or an existing file."""

    games: str | None = Field(None, description="path of an existing games .npz to use instead of generating")
    n_random: int = Field(3000, ge=0)
    n_guided: int = Field(0, ge=0)
    seed: int = Field(0, ge=0)
    first: Literal["vertical", "horizontal"] = "vertical"
    opening_plies: int = Field(16, ge=0, description="random opening plies of guided games")
    epsilon: float = Field(0.25, ge=0, le=1, description="random-move probability of guided games")
    selfplay: SelfPlayChoice | None = Field(None, description="[data.selfplay]: add self-play games of a value "
                                            "network bootstrapped from the random + guided games (default: none)")

    @model_validator(mode="after")
    def _some_games(self) -> "DataChoice":
        if self.games is None and self.n_random + self.n_guided == 0:
            raise ValueError("n_random + n_guided is 0 and no games file is given; generate some games or set games=PATH")
        if self.games is not None and self.selfplay is not None:
            raise ValueError(f"data.selfplay adds to generated games, but data.games={self.games!r} is given; remove "
                             "one of them")
        return self


class ProbedConcept(_Strict):
    """A concept the probes read (`[[probes.concepts]]`): its name in `modinterp.games.concepts.CONCEPTS` and kwargs."""

    name: str
    kwargs: dict[str, Any] | None = Field(None, description="the concept's keyword arguments (default: 4x4 sectors "
                                                            "for sector concepts, none otherwise)")

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return known_concept(name)

    @model_validator(mode="after")
    def _kwargs_accepted(self) -> "ProbedConcept":
        object.__setattr__(self, "kwargs", resolve_concept_kwargs(self.name, self.kwargs))
        return self

    def arguments(self) -> dict[str, Any]:
        return concept_call_kwargs(self.kwargs)


class ConceptChoice(ProbedConcept):
    """The concept: auxiliary target of small-aux and, unless [[probes.concepts]] says otherwise, the probed one."""

    name: str = "sector_move_difference"
    scale: float = Field(0.1, gt=0, description="targets are multiplied by this (original: sector counts / 10)")


class PositionSampling(_Strict):
    """How positions are drawn (the fields of `PositionConfig` except the concept, which [concept] sets)."""

    positions_per_game: int = Field(57, ge=1, description="plies sampled (with replacement) per game and epoch")
    min_ply: int = Field(16, ge=0, description="earliest ply sampled")
    augment: bool = Field(True, description="apply a random board symmetry to each position")
    side_to_move_token: bool = False


class StageTrain(TrainConfig):
    """A TrainConfig without the study-owned fields, plus `epochs` and `decay_fraction` (resolved per run)."""

    epochs: float | None = Field(None, gt=0, description="train for this many epochs of the batch stream (replaces steps)")
    decay_fraction: float | None = Field(None, gt=0, le=1, description="wsd: cooldown as a fraction of the steps")

    @model_validator(mode="after")
    def _no_study_owned_fields(self) -> "StageTrain":
        default = TrainConfig()
        owned = [name for name in STUDY_OWNED_TRAIN_FIELDS if getattr(self, name) != getattr(default, name)]
        if owned:
            raise ValueError(f"{owned} are set by the study (per condition and seed); remove them from the train table "
                             "([probes] sets the probe steps and the quick-validation cadence)")
        if self.decay_fraction is not None and self.schedule != "wsd":
            raise ValueError(f"decay_fraction={self.decay_fraction} is only used with schedule='wsd' (got {self.schedule!r})")
        return self

    def total_steps(self, steps_per_epoch: int) -> int:
        """The run's length: from `epochs` when set, else `steps`."""
        return math.ceil(self.epochs * steps_per_epoch) if self.epochs is not None else self.steps

    def resolve(self, steps_per_epoch: int, **study_fields: Any) -> TrainConfig:
        """The TrainConfig of one run: steps from epochs (or steps), the wsd cooldown, the study's fields."""
        steps = self.total_steps(steps_per_epoch)
        data = self.model_dump(exclude={"epochs", "steps", "decay_fraction", *STUDY_OWNED_TRAIN_FIELDS})
        if self.decay_fraction is not None:
            data["decay_steps"] = min(max(1, round(self.decay_fraction * steps)), steps - self.warmup_steps)
        return TrainConfig(**{**data, "steps": steps, **study_fields})


class ModelSize(_Strict):
    """One model size: a preset of `modinterp.models` with overrides, and how it is trained."""

    preset: str
    overrides: dict[str, Any] = Field(default_factory=dict)
    train: StageTrain = Field(default_factory=StageTrain)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, name: str) -> str:
        if name not in PRESETS:
            raise ValueError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
        return name

    @field_validator("overrides")
    @classmethod
    def _no_shape_owned_fields(cls, overrides: dict[str, Any]) -> dict[str, Any]:
        owned = sorted({"rows", "cols", "n_concepts", "side_to_move"} & set(overrides))
        if owned:
            raise ValueError(f"overrides {owned} follow from [board], [concept] and [positions]; remove them")
        return overrides


class EmbeddingChoice(_Strict):
    """Where and how the small model is embedded (see `modinterp.grow.embed`)."""

    at_layer: int = Field(0, ge=0)
    layers: list[int] | None = Field(None, description="small-model layers to embed (default all)")
    preserve_outputs: bool | list[bool] = Field(False, description="also silence the large model's later blocks (whole "
                                                "function kept); a list such as [false, true] runs both settings")
    copy_heads: bool = True
    embedded_lr_multiplier: float = Field(1.0, ge=0, description="lr multiplier of the copied weights (element-wise)")

    @field_validator("preserve_outputs")
    @classmethod
    def _distinct_settings(cls, value: bool | list[bool]) -> bool | list[bool]:
        if isinstance(value, list) and (not value or len(set(value)) != len(value)):
            raise ValueError(f"preserve_outputs={value}: expected true, false or a list of distinct settings such as "
                             "[false, true]")
        return value

    @property
    def preserve_settings(self) -> list[bool]:
        """The preserve_outputs settings the study runs, in the config's order."""
        return list(self.preserve_outputs) if isinstance(self.preserve_outputs, list) else [self.preserve_outputs]


class ProbeChoice(_Strict):
    """The fixed probe set (positions of validation games) and the probe protocol."""

    every: int = Field(50, ge=1, description="quick-validate every this many steps, and probe so with schedule='linear'")
    schedule: Literal["linear", "log"] = Field("linear", description="probe steps: every `every` steps, or log-spaced "
                                                                     "(see modinterp.studies.growth.schedule)")
    n_log: int = Field(10, ge=1, description="log schedule: geometrically spaced steps from `first` to the end")
    first: int = Field(10, ge=1, description="log schedule: the first step after 0")
    late_points: int = Field(4, ge=1, description="log schedule: evenly spaced steps over the late window")
    late_fraction: float = Field(DEFAULT_FRACTION, gt=0, le=1, description="the late window: this last share of "
                                 "training (probed evenly by the log schedule; the late-window gap averages over it)")
    positions_per_game: int = Field(8, ge=1)
    min_ply: int | None = Field(None, ge=0, description="default: positions.min_ply")
    max_games: int | None = Field(None, ge=2, description="use at most this many validation games")
    test_fraction: float = Field(0.25, gt=0, lt=1)
    alphas: list[float] = Field(default_factory=lambda: list(DEFAULT_ALPHAS))
    concepts: list[ProbedConcept] | None = Field(None, description="concepts probed beyond passthrough (default: the "
                                                                   "[concept] alone)")
    passthrough: bool = Field(True, description="score every probe step beyond input passthrough (passthrough.jsonl)")

    @field_validator("concepts")
    @classmethod
    def _distinct_concepts(cls, concepts: list[ProbedConcept] | None) -> list[ProbedConcept] | None:
        names = [c.name for c in concepts or []]
        if len(set(names)) != len(names):
            raise ValueError(f"probes.concepts names {names}: each concept may appear once (its name labels its records)")
        return concepts
    n_splits: int = Field(5, ge=2)
    standardize: bool = False

    def steps_for(self, total: int) -> list[int]:
        """The probe steps of a run of `total` steps (step 0 and the last step included)."""
        return probe_schedule(total, self.schedule, self.every, self.n_log, self.first, self.late_points,
                              self.late_fraction)
    seed: int = Field(0, ge=0)
    batch_size: int = Field(1024, ge=1)
    shuffle_seed: int = Field(0, ge=0, description="seed of the shuffled-target control")


class VerificationChoice(_Strict):
    n_positions: int = Field(1000, ge=1, description="probe-set positions run through both models")
    tolerance: float = Field(1e-5, gt=0)


class SourceMatchChoice(_Strict):
    """[source_match]: at the study's end each embedded run plays its small source head to head (DIR/sources.json),
    so the report can say whether the grown models end better than the models they grew from."""

    games: int = Field(200, ge=2, description="games per match (even: each opening with both colours)")
    mode: Literal["value", "policy"] = Field("value", description="how both networks play: 1-ply lookahead on the "
                                             "value head, or the policy head greedily")
    opening_plies: int = Field(4, ge=0, description="random opening plies of every game")
    seed: int = Field(0, ge=0, description="master seed of the openings (a run's match uses seed + the run's seed)")

    @field_validator("games")
    @classmethod
    def _even(cls, games: int) -> int:
        return even_games("games", games)


class GrowthStudyConfig(_Strict):
    """The whole growth study (five conditions x seeds, seven with both preserve_outputs settings)."""

    preset: str = "custom"
    seeds: list[int] = Field(default_factory=lambda: [0, 1])
    jobs: int = Field(1, ge=1, description="runs at once: worker processes or cluster jobs (the CLI's --jobs overrides)")
    threads: int | None = Field(None, ge=1, description="torch threads per run (default 1: parallelism comes from jobs)")
    aux_weight: float = Field(0.8, gt=0, description="weight of the concept loss for small-aux (original 0.8)")
    gap_n_boot: int = Field(500, ge=0, description="bootstrap replicates of the gap analysis after training (0: skip it)")
    board: BoardChoice = Field(default_factory=BoardChoice)
    data: DataChoice = Field(default_factory=DataChoice)
    concept: ConceptChoice = Field(default_factory=ConceptChoice)
    positions: PositionSampling = Field(default_factory=PositionSampling)
    val_positions: PositionSampling = Field(default_factory=lambda: PositionSampling(positions_per_game=20))
    small: ModelSize = Field(default_factory=lambda: ModelSize(preset="small"))
    large: ModelSize = Field(default_factory=lambda: ModelSize(preset="large"))
    embedding: EmbeddingChoice = Field(default_factory=EmbeddingChoice)
    probes: ProbeChoice = Field(default_factory=ProbeChoice)
    verification: VerificationChoice = Field(default_factory=VerificationChoice)
    source_match: SourceMatchChoice | None = Field(None, description="[source_match]: each embedded run against its "
                                                   "small source, head to head, after the runs (default: not played)")
    baseline: bool = Field(True, description="train the large-baseline condition; false leaves it out (the answer, "
                           "the gap against the compute-matched control, does not need it) when compute is short")

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise ValueError(f"seeds={seeds}: expected a non-empty list of distinct non-negative ints")
        return seeds

    @model_validator(mode="after")
    def _models_fit(self) -> "GrowthStudyConfig":
        small = {**PRESETS[self.small.preset], **self.small.overrides}
        large = {**PRESETS[self.large.preset], **self.large.overrides}
        for name in ("d_model", "d_head"):
            if small.get(name) != large.get(name):
                raise ValueError(f"small.{name}={small.get(name)} differs from large.{name}={large.get(name)}; "
                                 "the embedding needs equal d_model and d_head")
        n_small = len(self.embedding.layers) if self.embedding.layers else small["n_layers"]
        if self.embedding.at_layer + n_small > large["n_layers"]:
            raise ValueError(f"embedding.at_layer={self.embedding.at_layer} with {n_small} small layer(s) needs "
                             f"{self.embedding.at_layer + n_small} large layers, large.n_layers={large['n_layers']}")
        return self

    # Derived -------------------------------------------------------------------------------------------------
    @property
    def conditions(self) -> tuple[str, ...]:
        """The study's conditions (`study_conditions` of the embedding's preserve_outputs settings), without the
        baseline when `baseline` is false."""
        return tuple(c for c in study_conditions(self.embedding.preserve_settings) if self.baseline or c != BASELINE)

    def position_config(self, which: Literal["train", "val", "probe"] = "train") -> PositionConfig:
        """Positions with the study's concept; `probe` is the probe set's sampling (no augmentation)."""
        concept = {"concept": self.concept.name, "concept_kwargs": dict(self.concept.kwargs),
                   "concept_scale": self.concept.scale}
        if which == "train":
            return PositionConfig(**self.positions.model_dump(), **concept)
        if which == "val":
            return PositionConfig(**self.val_positions.model_dump(), **concept)
        min_ply = self.probes.min_ply if self.probes.min_ply is not None else self.positions.min_ply
        return PositionConfig(positions_per_game=self.probes.positions_per_game, min_ply=min_ply, augment=True,
                              side_to_move_token=self.positions.side_to_move_token, **concept)

    @property
    def probed_concepts(self) -> list[ProbedConcept]:
        """[[probes.concepts]], or the [concept] alone; names must be distinct (each names its records)."""
        return list(self.probes.concepts) if self.probes.concepts else [ProbedConcept(name=self.concept.name,
                                                                                       kwargs=self.concept.kwargs)]

    @property
    def n_small_layers(self) -> int:
        return int({**PRESETS[self.small.preset], **self.small.overrides}["n_layers"])

    @property
    def n_large_layers(self) -> int:
        return int({**PRESETS[self.large.preset], **self.large.overrides}["n_layers"])

    @property
    def embedded_small_layers(self) -> list[int]:
        return list(self.embedding.layers) if self.embedding.layers else list(range(self.n_small_layers))

    @property
    def last_embedded_layer(self) -> str:
        return str(self.embedding.at_layer + len(self.embedded_small_layers) - 1)


def load_study_config(preset: str | Path, overrides: list[str] | None = None) -> GrowthStudyConfig:
    """`configs/study-NAME.toml` (or a .toml path) with `key.sub=value` overrides, validated; the name is kept."""
    name = str(preset)
    if not name.endswith(".toml") and not Path(name).is_file():
        name = name if name.startswith("study-") else f"study-{name}"
        if not (CONFIG_DIR / f"{name}.toml").exists():
            known = sorted(p.stem.removeprefix("study-") for p in CONFIG_DIR.glob("study-*.toml"))
            raise ConfigError(f"unknown study preset {str(preset)!r}: no file {CONFIG_DIR / (name + '.toml')}; "
                              f"choose one of {', '.join(known)} or pass the path of a .toml file")
    return load_config(GrowthStudyConfig, name, overrides)
