"""The carve study's lambda sweep: runs are plain functions of their spec, rows relative to their seed's baseline."""

import pytest

from modinterp.studies.carve.sweep import SweepRun, run_planted, run_sweep, summarise, sweep_runs

TIMING = {"seconds", "seconds_in_loss", "seconds_refresh", "overhead", "tree_seconds", "task_loss_ratio"}


def test_sweep_runs_put_every_seeds_baseline_first():
    runs = sweep_runs({"gh": [0.1, 0.3], "l1": [1e-4]}, seeds=[0, 1], steps=10, n_shuffles=2)
    assert [(r.loss, r.lam, r.seed) for r in runs] == [
        ("none", 0.0, 0), ("none", 0.0, 1), ("gh", 0.1, 0), ("gh", 0.1, 1), ("gh", 0.3, 0), ("gh", 0.3, 1),
        ("l1", 1e-4, 0), ("l1", 1e-4, 1)]
    assert {(r.steps, r.n_shuffles) for r in runs} == {(10, 2)}


def test_rows_are_relative_to_the_baseline_of_their_seed_and_a_run_depends_on_its_spec_alone():
    runs = [SweepRun("none", 0.0, 0, 20, 2, hidden=(8, 8)), SweepRun("gh", 0.3, 0, 20, 2, hidden=(8, 8))]
    seen = []
    rows = run_sweep(runs, on_row=seen.append)
    assert seen == rows
    base, gh = rows
    assert (base["task_loss_ratio"], base["overhead"]) == (1.0, 0.0)
    assert gh["task_loss_ratio"] == gh["task_loss"] / base["task_loss"]
    assert gh["overhead"] == pytest.approx(gh["seconds"] / base["seconds"] - 1.0)
    assert list(gh)[:10] == ["loss", "lam", "seed", "task_loss", "task_loss_ratio", "seconds", "overhead",
                             "seconds_in_loss", "seconds_refresh", "n_refreshes"]
    assert gh["n_refreshes"] == 1  # warm-up 6 steps, then one refresh (refresh_every 1000)
    summary = summarise(rows, {"gh": [0.3]})
    assert summary["gh"]["chosen_lam"] == 0.3 and summary["none"]["chosen"]["task_loss_ratio"] == 1.0
    again = run_planted(runs[1])  # alone, after other runs: the same figures
    flat = {**{k: v for k, v in again.items() if k != "metrics"}, **again["metrics"]}
    assert {k: v for k, v in gh.items() if k not in TIMING} == {k: v for k, v in flat.items() if k not in TIMING}
