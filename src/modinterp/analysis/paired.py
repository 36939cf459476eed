"""Paired comparisons over seeds: one measure of a condition against its reference, seed by seed.

The simplest statistic that answers "is A better than B": the per-seed differences (A and B share each seed), their
mean with a Student-t interval, and for win rates the games pooled over seeds with Newcombe's interval beside it.
The growth study compares grown models with their sources this way (`studies.growth.sources`), the carve study
modular runs with their unconstrained baselines (`studies.carve.costs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from modinterp.analysis.late_window import seed_interval

__all__ = ["PairedMeasure", "newcombe_interval"]


@dataclass(frozen=True)
class PairedMeasure:
    """One measure of a condition against its reference condition: the per-seed values and their mean with a
    t-interval. `better` says which sign favours the condition: -1 for losses, +1 for win rates; `reference` is the value that
    means "no better" (0 for differences, 0.5 for a head-to-head win rate). `pooled_interval`, for win rates: the 95%
    interval of the games pooled over seeds (Wilson, or Newcombe's for a difference of two rates); the verdict needs
    it on the same side too, so that seeds with equal small-sample rates (a zero-width t-interval) are not a result."""

    name: str
    per_seed: dict[int, float]
    better: int
    reference: float = 0.0
    pooled_interval: tuple[float, float] | None = None

    @property
    def interval(self):
        return seed_interval(list(self.per_seed.values()))

    def _side(self, low: float, high: float) -> int:
        """+1 when [low, high] lies on the condition's better side of the reference, -1 on its worse side, else 0."""
        above, below = low > self.reference, high < self.reference
        return (1 if above else -1 if below else 0) * self.better

    @property
    def verdict(self) -> str:
        """'better', 'worse' or 'no difference shown' (an interval contains the reference); 'one seed' without one."""
        interval = self.interval
        if interval.n < 2:
            return "one seed"
        sides = {self._side(interval.low, interval.high)}
        if self.pooled_interval is not None:
            sides.add(self._side(*self.pooled_interval))
        side = sides.pop() if len(sides) == 1 else 0
        return {1: "better", -1: "worse", 0: "no difference shown"}[side]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "per_seed": {str(s): v for s, v in self.per_seed.items()},
                "reference": self.reference, **self.interval.to_dict(),
                "pooled_interval": list(self.pooled_interval) if self.pooled_interval else None, "verdict": self.verdict}


def newcombe_interval(wins_a: int, games_a: int, wins_b: int, games_b: int) -> tuple[float, float]:
    """95% interval of the difference of two independent rates a - b (Newcombe's method 10, from Wilson intervals)."""
    from modinterp.play.arena import wilson_interval

    pa, pb = wins_a / games_a, wins_b / games_b
    (la, ua), (lb, ub) = wilson_interval(wins_a, games_a), wilson_interval(wins_b, games_b)
    diff = pa - pb
    return diff - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2), diff + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)
