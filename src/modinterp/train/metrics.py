"""Metrics: one JSON object per line in `metrics.jsonl` (deterministic values only) plus TensorBoard scalars.

Lines carry `step` and `split` ("train", "val_quick", "val_full", "probe") and the numbers. Wall-clock
figures (speed, data wait) go to TensorBoard and the progress bar only, so that a resumed run's metrics file is
byte-identical to an uninterrupted run's. On resume, lines after the checkpoint's step are dropped first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modinterp.atomic import atomic_write_text
from modinterp.faults import kill_point


def truncate_metrics(path: str | Path, last_step: int) -> int:
    """Keep only complete lines with step <= last_step (atomically); return how many lines were kept."""
    path = Path(path)
    if not path.exists():
        return 0
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.endswith("\n"):
            break  # a line cut short by a kill
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            break
        if record.get("step", 0) <= last_step:
            kept.append(line)
    atomic_write_text(path, "".join(kept))
    return len(kept)


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All records of a metrics.jsonl file."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


class MetricsLog:
    """Append-only metrics writer (jsonl + optional TensorBoard); a no-op on non-writer DDP ranks."""

    def __init__(self, run_dir: Path | None, tensorboard: bool = True, purge_step: int | None = None):
        self.path = None if run_dir is None else Path(run_dir) / "metrics.jsonl"
        self._tb = None
        if run_dir is not None and tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(run_dir) / "tensorboard"), purge_step=purge_step)

    def write(self, step: int, split: str, values: dict[str, float]) -> dict[str, Any]:
        record = {"step": int(step), "split": split, **{k: float(v) for k, v in values.items()}}
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
                fh.flush()
            kill_point("step", step)
        self.scalars(step, split, values)
        return record

    def scalars(self, step: int, prefix: str, values: dict[str, float]) -> None:
        """TensorBoard only (for wall-clock figures that must stay out of metrics.jsonl)."""
        if self._tb is not None:
            for key, value in values.items():
                self._tb.add_scalar(f"{prefix}/{key}", float(value), int(step))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
            self._tb = None
