"""The study's gap analysis: the three large-condition pairs, JSON round trip, report sections even for failed fits."""

from __future__ import annotations

import json

import numpy as np

from modinterp.report import FigureBlock, TableBlock, TextBlock
from modinterp.studies.growth.gap import analyse_study_gaps, gap_pairs, load_gap_analysis, write_gap_analysis
from modinterp.studies.growth.gap_report import best_forecaster, gap_sections
from modinterp.studies.growth.schema import GrowthResults, parse_results
from modinterp.studies.growth.summary import probe_precision_line

CONDITIONS = ["small-aux", "small-noaux", "large-baseline", "large-embed-aux", "large-embed-noaux"]


def _results(n_steps: int, seeds=(0, 1, 2)) -> GrowthResults:
    """Embed-aux starts 0.15 above baseline and decays to +0.04; embed-noaux sits 0.01 below baseline."""
    rng = np.random.default_rng(0)
    probes = []
    for condition in CONDITIONS[2:]:
        for seed in seeds:
            for k in range(n_steps):
                step = 100 * k
                r2 = 0.3 + {"large-embed-aux": 0.04 + 0.15 * np.exp(-step / 500), "large-embed-noaux": -0.01}.get(condition, 0.0)
                r2 += 0.002 * rng.standard_normal()
                probes.append({"condition": condition, "seed": seed, "step": step, "layer": "1", "r2": float(r2),
                               "r2_alpha1": float(r2), "r2_pooled": float(r2), "alpha": 1.0, "n_train": 80, "n_test": 20})
    return parse_results(_results_dict(probes, seeds))


def _results_dict(probes: list[dict], seeds) -> dict:
    return {"schema_version": 1, "preset": "test", "conditions": CONDITIONS, "seeds": list(seeds), "layers": ["0", "1"],
            "last_embedded_layer": "1", "verification": {"max_abs_diff": 0.0}, "config": {}, "probes": probes,
            "losses": [], "controls": []}


def test_the_three_large_pairs_are_analysed_with_the_minuend_first():
    gap = analyse_study_gaps(_results(16), n_boot=50)
    assert [a["label"] for a in gap["series"]] == [f"{later} - {earlier} @ layer 1" for earlier, later in gap_pairs(CONDITIONS)]
    aux_vs_baseline = gap["series"][0]["models"]["exponential"]
    assert abs(aux_vs_baseline["offset"] - 0.04) < 0.01  # the known limit of the planted gap


def test_gap_analysis_round_trips_through_json(tmp_path):
    gap = analyse_study_gaps(_results(16), n_boot=20)
    write_gap_analysis(tmp_path, gap)
    assert load_gap_analysis(tmp_path) == json.loads(json.dumps(gap))


def test_report_sections_survive_fits_that_fail_on_very_short_curves(tmp_path):
    write_gap_analysis(tmp_path, analyse_study_gaps(_results(4), n_boot=20))  # 4 points: prefix fits cannot work
    gap = load_gap_analysis(tmp_path)
    (section,) = gap_sections(gap)
    assert any(isinstance(b, TableBlock) and len(b.rows) == 9 for b in section.blocks)  # 3 pairs x 3 families
    # Fits are drawn only for a gap seen decaying from above; every other pair says why in words.
    decaying = [a for a in gap["series"] if a["late_window"]["decaying_from_above"]]
    texts = [b.text for b in section.blocks if isinstance(b, TextBlock) and "not seen decaying from above" in b.text]
    assert len(texts) == len(gap["series"]) - len(decaying)
    assert sum(isinstance(b, FigureBlock) for b in section.blocks) >= len(decaying)


def test_curve_fits_are_shown_for_a_gap_seen_decaying_from_above(tmp_path):
    gap = analyse_study_gaps(_results(4), n_boot=20)
    for analysis in gap["series"]:  # mark every pair decaying: each one's fit figures come back
        analysis["late_window"]["decaying_from_above"] = True
    (section,) = gap_sections(gap)
    assert sum(isinstance(b, FigureBlock) for b in section.blocks) >= len(gap["series"])


def test_probe_precision_line_reports_the_largest_final_standard_error_at_the_last_embedded_layer():
    probes = [r.model_dump() for r in _results(3).probes]
    for record in probes:
        record["r2_se"] = 0.5 if record["step"] < 200 else (0.02 if record["seed"] == 1 else 0.005)
    assert "largest 0.020, exceeds the 0.01 target" in probe_precision_line(parse_results(_results_dict(probes, (0, 1, 2))))
    for record in probes:
        record["r2_se"] = min(record["r2_se"], 0.008)
    assert "largest 0.008, meets the 0.01 target" in probe_precision_line(parse_results(_results_dict(probes, (0, 1, 2))))


def test_no_best_forecaster_is_named_where_no_family_was_validated():
    rows = [{"model": "exponential", "prefix_rmse_mean": None}, {"model": "power", "prefix_rmse_mean": None}]
    assert best_forecaster({"rows": rows, "best_prefix_cv": "exponential"}) == "– (no validation)"
    rows[1]["prefix_rmse_mean"] = 0.01
    assert best_forecaster({"rows": rows, "best_prefix_cv": "power"}) == "power"
