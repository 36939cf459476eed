"""The growth study's probe steps: linear (every `every` steps) or log-spaced with an evenly probed late window.

    probe_schedule(600, schedule="log", n_log=8, first=10, late_points=4, late_fraction=0.3)
    # [0, 10, 18, 32, 58, 104, 186, 334, 420, 480, 540, 600]

The log schedule resolves the fast early change of a probe curve without spending most probes on its slow tail:
step 0, `n_log` geometrically spaced steps from `first` to the end, and `late_points` evenly spaced steps over
the late window (the last `late_fraction` of training, the window of the late-window gap statistic,
`modinterp.analysis.late_window`). Geometric steps that fall inside that window are dropped, so the window holds
only the evenly spaced steps and the late-window mean over its probe steps is an even time average.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from modinterp.analysis.late_window import window_start


def late_window_first_step(total: int, late_fraction: float) -> int:
    """The first integer step inside the late window of a run probed from 0 to `total`: the statistic's own
    `window_start`, rounded up, so every late step counts in the window."""
    return math.ceil(window_start(np.array([0.0, float(total)]), late_fraction))


def probe_schedule(total: int, schedule: Literal["linear", "log"] = "linear", every: int = 50, n_log: int = 10,
                   first: int = 10, late_points: int = 4, late_fraction: float = 0.3) -> list[int]:
    """The sorted, distinct probe steps of a run of `total` steps; always holds step 0 and the final step."""
    if total < 1 or every < 1 or n_log < 1 or first < 1 or late_points < 1 or not 0 < late_fraction <= 1:
        raise ValueError(f"probe schedule: total={total}, every={every}, n_log={n_log}, first={first}, "
                         f"late_points={late_points}, late_fraction={late_fraction}: expected positive counts and "
                         "late_fraction in (0, 1]")
    if schedule == "linear":
        return sorted({*range(0, total + 1, every), total})
    if schedule != "log":
        raise ValueError(f"probe schedule {schedule!r}: expected 'linear' or 'log'")
    start = late_window_first_step(total, late_fraction)
    late = np.rint(np.linspace(start, total, late_points)) if late_points > 1 else np.array([total])
    early = np.rint(np.geomspace(first, total, n_log)) if first < total else np.array([])
    return sorted({0, total, *(int(s) for s in late), *(int(s) for s in early if s < start)})
