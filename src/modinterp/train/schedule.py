"""Learning-rate schedules as pure functions of the step, so a resumed run needs only the step to continue.

`lr_factor(step, ...)` returns the multiplier of the base learning rate used for the optimizer step that
turns `step` completed steps into `step + 1`:
- warmup: linear from 1/warmup_steps to 1 over the first `warmup_steps` steps (none if 0);
- `cosine`: after warmup, half a cosine from 1 down to `min_lr_ratio` at the last step;
- `wsd` (warmup-stable-decay): constant 1 until the last `decay_steps` steps, then linear down to `min_lr_ratio`
  (the growth study compares conditions at any step of the stable phase and cools down only at the end);
- `constant`: 1 after warmup.
"""

from __future__ import annotations

import math
from typing import Literal

ScheduleName = Literal["cosine", "wsd", "constant"]


def lr_factor(
    step: int,
    total_steps: int,
    schedule: ScheduleName = "cosine",
    warmup_steps: int = 0,
    min_lr_ratio: float = 0.0,
    decay_steps: int = 0,
) -> float:
    """Multiplier of the base learning rate at `step` (0-based) of a `total_steps`-step run."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= step < total_steps:
        raise ValueError(f"step {step} is outside the run's steps [0, {total_steps})")
    if warmup_steps < 0 or warmup_steps > total_steps:
        raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        span = total_steps - warmup_steps
        progress = (step - warmup_steps) / max(span - 1, 1)
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "wsd":
        if not 0 <= decay_steps <= total_steps - warmup_steps:
            raise ValueError(f"decay_steps must be in [0, total_steps - warmup_steps = {total_steps - warmup_steps}], got {decay_steps}")
        decay_start = total_steps - decay_steps
        if step < decay_start:
            return 1.0
        progress = (step - decay_start + 1) / decay_steps
        return 1.0 - (1.0 - min_lr_ratio) * progress
    raise ValueError(f"unknown schedule {schedule!r}; expected 'cosine', 'wsd' or 'constant'")
