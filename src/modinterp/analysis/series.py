"""Gap series: per-seed curves on a shared time axis, read from a CSV or built from {seed: {step: value}} rows.

A `GapSeries` holds `values` (n_seeds, n_steps) on `steps` (n_steps,). The analysis sees only these series;
a study turns its own results into them (the growth study: `modinterp.studies.growth.gap.study_gap`).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CSV_COLUMNS = ("seed", "step", "value")


@dataclass
class GapSeries:
    """Per-seed curves of one quantity; `time` is the axis used for fitting (steps or cumulative LR)."""

    label: str
    seeds: list[str]
    steps: np.ndarray  # (T,) training steps
    values: np.ndarray  # (S, T)
    time: np.ndarray | None = None  # (T,) fitting axis; defaults to steps
    time_label: str = "step"
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.steps = np.asarray(self.steps, dtype=float)
        self.values = np.atleast_2d(np.asarray(self.values, dtype=float))
        if self.values.shape != (len(self.seeds), self.steps.size):
            raise ValueError(f"{self.label}: values shape {self.values.shape} != (n_seeds={len(self.seeds)}, n_steps={self.steps.size})")
        self.time = self.steps.copy() if self.time is None else np.asarray(self.time, dtype=float)

    @property
    def mean(self) -> np.ndarray:
        return self.values.mean(axis=0)

    def points_within(self, fraction: float) -> int:
        """How many leading points lie in the first `fraction` of the step range [steps[0], steps[-1]] (at least
        one): prefixes are shares of training, not of the probe points, which crowd the start on a log schedule."""
        span = self.steps[-1] - self.steps[0]
        cutoff = self.steps[0] + fraction * span + 1e-9 * span  # a step on the boundary (up to rounding) is inside
        return max(1, int(np.searchsorted(self.steps, cutoff, side="right")))

    def points_after(self, fraction: float) -> int:
        """How many trailing points lie in the last `fraction` of the step range (at least one)."""
        span = self.steps[-1] - self.steps[0]
        start = self.steps[0] + (1 - fraction) * span - 1e-9 * span
        return max(1, int(self.steps.size - np.searchsorted(self.steps, start, side="left")))

    def prefix(self, n_points: int) -> "GapSeries":
        """The first `n_points` time points (for prefix cross-validation and horizon stability)."""
        return GapSeries(self.label, list(self.seeds), self.steps[:n_points], self.values[:, :n_points], self.time[:n_points], self.time_label)

    def with_cumulative_lr(self, schedule: np.ndarray) -> "GapSeries":
        """Same curves on the axis S1(step) = sum of the learning rate over steps [0, step)."""
        return GapSeries(self.label, list(self.seeds), self.steps, self.values, cumulative_lr(self.steps, schedule), "cumulative_lr", list(self.notes))


def cumulative_lr(steps: np.ndarray, schedule: np.ndarray) -> np.ndarray:
    """S1 at each step from a per-step learning-rate array (schedule[i] = LR used at step i)."""
    schedule = np.asarray(schedule, dtype=float).ravel()
    steps = np.asarray(steps)
    if steps.size and (np.any(steps < 0) or np.max(steps) > schedule.size):
        raise ValueError(f"LR schedule has {schedule.size} entries but the series reaches step {int(np.max(steps))}; pass a schedule covering every step")
    if np.any(~np.isfinite(schedule)) or np.any(schedule < 0):
        raise ValueError("LR schedule must be finite and non-negative")
    csum = np.concatenate([[0.0], np.cumsum(schedule)])
    axis = csum[np.asarray(steps, dtype=int)]
    if np.any(np.diff(axis) <= 0):
        raise ValueError("cumulative LR does not increase between some checkpoints (LR is zero there); fit on steps instead")
    return axis


def read_csv_series(path: str | Path, label: str | None = None) -> GapSeries:
    """Read `seed,step,value` rows (any order, extra columns ignored); every seed must have the same steps."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in CSV_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; found {header}; expected a header with {list(CSV_COLUMNS)}")
        rows: dict[str, dict[int, float]] = {}
        for line_no, raw in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
            seed = row["seed"]
            if not seed:
                raise ValueError(f"{path}: row {line_no}: column 'seed' is empty")
            step = _parse_number(path, line_no, "step", row["step"])
            value = _parse_number(path, line_no, "value", row["value"])
            if step != int(step) or step < 0:
                raise ValueError(f"{path}: row {line_no}: column 'step' = {row['step']!r} is not a non-negative integer")
            per_seed = rows.setdefault(seed, {})
            if int(step) in per_seed:
                raise ValueError(f"{path}: row {line_no}: duplicate (seed={seed}, step={int(step)})")
            per_seed[int(step)] = value
    if not rows:
        raise ValueError(f"{path}: no data rows")
    return series_from_rows(rows, label or path.stem, source=str(path))


def _parse_number(path: Path, line_no: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}: row {line_no}: column {column!r} = {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{path}: row {line_no}: column {column!r} = {text!r} is not finite")
    return value


def series_from_rows(rows: dict[str, dict[int, float]], label: str, source: str) -> GapSeries:
    """{seed: {step: value}} -> a GapSeries, after checking that all seeds share steps (`source` names the input
    in errors); seeds are sorted numerically when possible."""
    seeds = sorted(rows, key=seed_key)
    reference = sorted(rows[seeds[0]])
    for seed in seeds[1:]:
        steps = set(rows[seed])
        if steps != set(reference):
            only_here = sorted(steps - set(reference))[:5]
            only_ref = sorted(set(reference) - steps)[:5]
            raise ValueError(
                f"{source}: seed {seed} has different steps from seed {seeds[0]} "
                f"(only in {seed}: {only_here}, only in {seeds[0]}: {only_ref}); every seed needs the same steps"
            )
    values = np.array([[rows[s][k] for k in reference] for s in seeds])
    return GapSeries(label, seeds, np.array(reference, dtype=float), values)


def seed_key(seed: str):
    """Sort key of seed labels: numbers in numeric order, then other labels."""
    try:
        return (0, int(seed), "")
    except ValueError:
        return (1, 0, seed)
