"""The smoke study with preserve_outputs as a factor ([false, true]) and log-spaced probe steps, end to end: every
embedded condition runs under both settings, each setting gets its late-window gaps, and everything downstream
(frozen control, passthrough records, seed aggregation, report) works on the uneven probe steps."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from modinterp.studies.growth.config import load_study_config
from modinterp.studies.growth.gap import late_window_gaps
from modinterp.studies.growth.schema import load_results
from modinterp.studies.growth.study import run_growth_study

FACTOR = ["embedding.preserve_outputs=[false, true]", "probes.schedule='log'", "probes.first=2", "probes.n_log=3"]
LOG_STEPS = [0, 2, 5, 9, 10, 11, 12]  # 12 steps: geometric 2, 4.9 (9.8 falls in the late window), window 9..12
EMBEDDED = ("large-embed-aux", "large-embed-noaux", "large-embed-aux-preserve", "large-embed-noaux-preserve")


@pytest.fixture(scope="module")
def factor_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("factor-study")
    run_growth_study(load_study_config("smoke", FACTOR), out, jobs=1, console=Console(quiet=True))
    return out, load_results(out / "results.json")


def test_every_embedded_condition_runs_under_both_settings(factor_study):
    _, results = factor_study
    assert results.conditions == ["small-aux", "small-noaux", "large-baseline", *EMBEDDED]
    verified = {(r["condition"], r["seed"]) for r in results.verification.model_dump()["runs"]}
    assert verified == {(c, s) for c in EMBEDDED for s in (0, 1)}
    assert results.verification.max_abs_diff < 1e-5


def test_preserve_setting_changes_the_grown_model_but_not_the_small_source(factor_study):
    _, results = factor_study
    r2 = {(p.condition, p.seed, p.layer, p.step): p.r2 for p in results.probes}
    for seed in (0, 1):
        # the embedded layer starts as the small model's in both settings; the later blocks differ
        assert r2[("large-embed-aux", seed, "0", 0)] == pytest.approx(r2[("large-embed-aux-preserve", seed, "0", 0)], abs=1e-6)
        assert r2[("large-embed-aux", seed, "final_ln", 0)] != r2[("large-embed-aux-preserve", seed, "final_ln", 0)]


def test_every_run_is_probed_on_the_log_schedule(factor_study):
    _, results = factor_study
    for field in ("probes", "passthrough"):
        steps = {}
        for r in getattr(results, field):
            steps.setdefault((r.condition, r.seed), set()).add(r.step)
        assert set(steps) == {(c, s) for c in results.conditions for s in (0, 1)}, field
        assert all(sorted(v) == LOG_STEPS for v in steps.values()), field
    frozen = {(r.condition, r.seed, r.step) for r in results.frozen}
    assert frozen == {(c, s, t) for c in EMBEDDED for s in (0, 1) for t in LOG_STEPS}


def test_late_window_gap_is_computed_for_each_setting(factor_study):
    _, results = factor_study
    answer = late_window_gaps(results)
    keys = {(e["setting"], e["minuend"], e["subtracted"]) for e in answer["entries"]}
    assert keys == {("preserve_outputs=false", "large-embed-aux", "large-embed-noaux"),
                    ("preserve_outputs=false", "large-embed-aux", "large-baseline"),
                    ("preserve_outputs=true", "large-embed-aux-preserve", "large-embed-noaux-preserve"),
                    ("preserve_outputs=true", "large-embed-aux-preserve", "large-baseline")}
    assert all(e["window_steps"] == [9, 10, 11, 12] and e["gap"]["n"] == 2 for e in answer["entries"])


def test_gap_analysis_and_report_name_both_settings(factor_study):
    out, _ = factor_study
    gap = json.loads((out / "gap_analysis.json").read_text())
    assert len(gap["series"]) == 6
    assert any("large-embed-aux-preserve - large-embed-noaux-preserve" in s["label"] for s in gap["series"])
    html = (out / "report.html").read_text()
    assert "With preserve_outputs=false" in html and "With preserve_outputs=true" in html
    assert "<td>preserve_outputs=true</td>" in html
