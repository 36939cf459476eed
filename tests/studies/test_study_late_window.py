"""The study's late-window gap (studies/growth/gap.py) on a hand-computed case: per-seed window means of the paired
gap, their mean and Student-t interval, for each concept, pair and metric."""

from __future__ import annotations

import pytest

from modinterp.studies.growth.config import CONDITIONS
from modinterp.studies.growth.gap import late_window_gaps
from modinterp.studies.growth.schema import parse_results

KEYS = ("r2", "r2_board", "r2_board_layer", "r2_gain", "r2_linear_part", "r2_control_nonlinear", "selectivity",
        "nonlinear_share", "alpha", "alpha_nonlinear")


def record(condition: str, seed: int, step: int, r2_nonlinear: float) -> dict:
    return {"condition": condition, "seed": seed, "step": step, "layer": "0", "concept": "safe_moves",
            "r2_nonlinear": r2_nonlinear, **{k: 0.5 for k in KEYS}, "n_alphas_at_edge": 0, "n_alphas_at_open_edge": 0}


def results_with(passthrough: list[dict]):
    return parse_results({"schema_version": 1, "preset": "hand", "conditions": list(CONDITIONS), "seeds": [0, 1, 2],
                          "layers": ["0", "final_ln"], "last_embedded_layer": "0", "verification": {"max_abs_diff": 0.0},
                          "config": {}, "passthrough": passthrough})


def test_late_window_gap_is_the_mean_of_per_seed_window_means_with_a_t_interval():
    # Steps 0..10; the window (last 30%) is steps >= 7: 7, 8, 9, 10. embed-aux - embed-noaux is seed-constant
    # in the window: 0.1, 0.2, 0.3 -> mean 0.2, SD 0.1, SE 0.1/sqrt(3), t(0.975, 2) = 4.302653.
    gaps = {0: 0.1, 1: 0.2, 2: 0.3}
    records = []
    for seed, gap in gaps.items():
        for step in range(11):
            early = 0.5 if step < 7 else 0.0  # outside the window: must not count
            records.append(record("large-embed-noaux", seed, step, 0.1))
            records.append(record("large-embed-aux", seed, step, 0.1 + gap + early))
            records.append(record("large-baseline", seed, step, 0.05))
    answer = late_window_gaps(results_with(records))
    entry = next(e for e in answer["entries"] if e["subtracted"] == "large-embed-noaux" and e["metric"] == "r2_nonlinear")
    assert entry["window_steps"] == [7.0, 8.0, 9.0, 10.0]
    assert entry["per_seed"] == pytest.approx([0.1, 0.2, 0.3])
    half = 4.302653 * 0.1 / 3 ** 0.5
    assert entry["gap"]["mean"] == pytest.approx(0.2)
    assert (entry["gap"]["low"], entry["gap"]["high"]) == pytest.approx((0.2 - half, 0.2 + half), abs=1e-6)
    baseline = next(e for e in answer["entries"] if e["subtracted"] == "large-baseline" and e["metric"] == "r2_nonlinear")
    assert baseline["gap"]["mean"] == pytest.approx(0.25)
    assert {e["metric"] for e in answer["entries"]} == {"r2_nonlinear", "r2"}
    assert answer["skipped"] == []


def test_pairs_without_records_are_skipped_and_named():
    records = [record("large-embed-aux", 0, step, 0.1) for step in range(3)]
    answer = late_window_gaps(results_with(records))
    assert answer["entries"] == [] and len(answer["skipped"]) == 4
    assert "no seed has 'safe_moves' passthrough records" in answer["skipped"][0]
