"""The growth study's results schema: `DIR/results.json` as typed records (docs/results-schema.md).

The study's writer (`modinterp.studies.growth.results`) validates through `parse_results` before it writes;
the report, the gap analysis and the summary table read only through `load_results` / `parse_results`.
Errors name the file, the field (with the record index) and what was expected, so a broken study output is
caught before any plot is drawn. Unknown extra keys are kept (e.g. `r2_se`), so writers may add fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from modinterp.errors import ModinterpError

SCHEMA_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ProbeRecord(_Record):
    condition: str
    seed: int
    step: int
    layer: str
    r2: float
    r2_alpha1: float
    r2_pooled: float
    alpha: float
    n_train: int
    n_test: int
    r2_se: float | None = None  # bootstrap standard error over probe-test games (absent in older files)


class LossRecord(_Record):
    condition: str
    seed: int
    step: int
    split: Literal["train", "val_quick", "val_full"]
    loss: float


class ControlRecord(_Record):
    condition: str
    seed: int
    layer: str
    control: Literal["init", "shuffled", "frozen"]
    r2: float


class PassthroughRecord(_Record):
    """One concept's passthrough-free scores at one layer and step (`modinterp.probes.passthrough.PASSTHROUGH_RECORD_KEYS`)."""

    condition: str
    seed: int
    step: int
    layer: str
    concept: str
    r2: float
    r2_board: float
    r2_board_layer: float
    r2_gain: float
    r2_linear_part: float
    r2_nonlinear: float
    r2_control_nonlinear: float
    selectivity: float
    nonlinear_share: float
    alpha: float
    alpha_nonlinear: float
    n_alphas_at_edge: int
    n_alphas_at_open_edge: int


class FrozenRecord(_Record):
    """The frozen control of an embedded run at one step: the source's probe on the matching large layer."""

    condition: str
    seed: int
    step: int
    layer: str
    r2: float
    r2_recalibrated: float
    r2_source_recalibrated: float
    retention: float


class PlayRecord(_Record):
    """One run-end (or periodic) play evaluation of the trainer: a mode against one built-in opponent."""

    condition: str
    seed: int
    step: int
    mode: str
    opponent: str
    games: int
    win_rate: float
    win_ci_low: float
    win_ci_high: float


# what identifies one record in each list: no two records of a list share these fields
RECORD_KEYS = {"probes": ("condition", "seed", "step", "layer"), "losses": ("condition", "seed", "step", "split"),
               "controls": ("condition", "seed", "layer", "control"),
               "passthrough": ("condition", "seed", "step", "layer", "concept"),
               "frozen": ("condition", "seed", "step", "layer", "control"),
               "play": ("condition", "seed", "step", "mode", "opponent")}


class Verification(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    max_abs_diff: float


class GrowthResults(BaseModel):
    """The parsed results.json; records are lists of the typed records above."""

    model_config = ConfigDict(extra="allow", frozen=True)
    schema_version: int
    preset: str
    conditions: list[str]
    seeds: list[int]
    layers: list[str]
    last_embedded_layer: str
    verification: Verification
    config: dict[str, Any]
    probes: list[ProbeRecord] = []
    losses: list[LossRecord] = []
    controls: list[ControlRecord] = []
    passthrough: list[PassthroughRecord] = []  # absent in older files
    frozen: list[FrozenRecord] = []  # absent in older files
    play: list[PlayRecord] = []  # absent in older files and in studies whose training plays no games

    @model_validator(mode="after")
    def _records_use_declared_names(self) -> "GrowthResults":
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"schema_version={self.schema_version}: this reader understands version {SCHEMA_VERSION}")
        if self.last_embedded_layer not in self.layers:
            raise ValueError(f"last_embedded_layer={self.last_embedded_layer!r}: expected one of layers {self.layers}")
        for field in ("probes", "losses", "controls", "passthrough", "frozen", "play"):
            for i, record in enumerate(getattr(self, field)):
                if record.condition not in self.conditions:
                    raise ValueError(f"{field}[{i}].condition={record.condition!r}: expected one of conditions {self.conditions}")
                layer = getattr(record, "layer", None)
                if layer is not None and layer not in self.layers:
                    raise ValueError(f"{field}[{i}].layer={layer!r}: expected one of layers {self.layers}")
        return self


def repeated_records(results: dict[str, Any]) -> list[str]:
    """Each record that repeats an earlier one of its list (same RECORD_KEYS), as a readable line. A new results.json
    has none (`results.write_results` refuses them); readers of older files keep the first (`gap.study_gap` notes it)."""
    found = []
    for field, keys in RECORD_KEYS.items():
        seen: dict[tuple, int] = {}
        for i, record in enumerate(results.get(field) or []):
            key = tuple(record.get(name) for name in keys)
            if key in seen:
                found.append(f"{field}[{i}] repeats {field}[{seen[key]}]: both are {dict(zip(keys, key))}")
            seen.setdefault(key, i)
    return found


class ResultsError(ModinterpError, ValueError):
    """results.json is missing or does not follow the schema; the message says where and what was expected."""


def _describe_errors(path: Path, error: ValidationError) -> str:
    lines = []
    for item in error.errors()[:5]:
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        value = item.get("input")
        shown = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
        lines.append(f"{path}: field {where}: {item['msg']}{shown}")
    more = len(error.errors()) - 5
    return "\n".join(lines + ([f"... and {more} more problems"] if more > 0 else []))


def parse_results(data: dict[str, Any], source: str | Path = "results.json") -> GrowthResults:
    """Validate an in-memory results dict (e.g. before the study writes it)."""
    try:
        return GrowthResults.model_validate(data)
    except ValidationError as error:
        raise ResultsError(_describe_errors(Path(source), error)) from None


def load_results(path: str | Path) -> GrowthResults:
    """Read and validate results.json (NaN/Infinity allowed, as `atomic_write_json` may write them)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: not found; run the study first (modinterp study growth --out DIR)") from None
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object at the top level, got {type(data).__name__}")
    return parse_results(data, path)
