"""Gap series: read from a CSV, or built by the growth study from its typed results; clear errors on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modinterp.analysis.series import cumulative_lr, read_csv_series
from modinterp.analysis.synth import synthetic_gap, write_series_csv
from modinterp.studies.growth.gap import study_gap, study_pairs
from modinterp.studies.growth.schema import ResultsError, load_results

from analysis_fixtures import STEPS, condition_r2, make_results


def test_csv_round_trip_preserves_seeds_steps_and_values(tmp_path):
    series = synthetic_gap(n_seeds=3, seed=4)
    write_series_csv(series, tmp_path / "g.csv")
    back = read_csv_series(tmp_path / "g.csv")
    assert back.seeds == ["0", "1", "2"]
    np.testing.assert_array_equal(back.steps, series.steps)
    np.testing.assert_allclose(back.values, series.values, atol=5e-7)


def test_csv_rows_in_any_order_are_sorted_by_seed_and_step(tmp_path):
    (tmp_path / "g.csv").write_text("value,step,seed\n0.3,20,10\n0.1,10,10\n0.4,20,9\n0.2,10,9\n0.5,30,9\n0.6,30,10\n")
    series = read_csv_series(tmp_path / "g.csv")
    assert series.seeds == ["9", "10"]
    np.testing.assert_array_equal(series.values, [[0.2, 0.4, 0.5], [0.1, 0.3, 0.6]])


@pytest.mark.parametrize("content, message", [
    pytest.param("seed,step,val\n0,1,0.1\n", r"bad\.csv.*missing column.*'value'", id="missing-column-names-file-and-column"),
    pytest.param("seed,step,value\n0,1,0.1\n0,2,abc\n", r"bad\.csv: row 3: column 'value' = 'abc' is not a number",
                 id="non-numeric-value-names-row-and-column"),
    pytest.param("seed,step,value\n0,1.5,0.1\n", r"row 2: column 'step'", id="non-integer-step"),
    pytest.param("seed,step,value\n0,1,0.1\n0,2,0.2\n1,1,0.1\n1,3,0.2\n",
                 r"seed 1 has different steps.*only in 1: \[3\].*only in 0: \[2\]", id="mismatched-steps-across-seeds"),
    pytest.param("seed,step,value\n0,1,0.1\n0,1,0.2\n", r"row 3: duplicate \(seed=0, step=1\)", id="duplicate-seed-step"),
])
def test_bad_csv_is_rejected_with_a_message_naming_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_csv_series(path)


def test_study_gap_is_b_minus_a_per_matched_seed(results_path):
    results = load_results(results_path)
    series = study_gap(results, "large-baseline", "large-embed-aux", "2")
    assert series.seeds == ["42", "123", "456"]
    np.testing.assert_array_equal(series.steps, STEPS)
    expected = [condition_r2("large-embed-aux", 42, s, "2") - condition_r2("large-baseline", 42, s, "2") for s in STEPS]
    np.testing.assert_allclose(series.values[0], expected, atol=0.03)  # fixture noise sd 0.005 per record


def test_study_pairs_cover_all_pairs_with_data_and_report_the_rest(results_path):
    series, skipped = study_pairs(load_results(results_path))
    labels = [s.label for s in series]
    assert labels == [
        "large-embed-aux - large-baseline @ layer 2",
        "large-embed-noaux - large-baseline @ layer 2",
        "large-embed-noaux - large-embed-aux @ layer 2",
    ]
    assert len(skipped) == 7  # every pair involving a small model has no probe series in the fixture


def test_study_results_missing_field_names_file_and_field(tmp_path):
    data = make_results()
    del data["probes"][5]["step"]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match=r"results\.json: field probes\.5\.step: Field required"):
        load_results(path)


def test_study_results_non_numeric_metric_names_record(tmp_path):
    data = make_results()
    data["probes"][0]["r2"] = "high"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match=r"results\.json: field probes\.0\.r2: .*\(got 'high'\)"):
        load_results(path)


def test_a_non_finite_metric_names_the_record(results_path):
    results = load_results(results_path)
    record = results.probes[0].model_copy(update={"r2": float("inf")})
    results = results.model_copy(update={"probes": [record, *results.probes[1:]]})
    with pytest.raises(ValueError, match=r"probes\[0\]\.r2 = inf is not a finite number"):
        study_gap(results, record.condition, "large-embed-aux", record.layer)


def test_study_results_mismatched_steps_across_seeds_is_an_error(tmp_path):
    data = make_results()
    data["probes"] = [p for p in data["probes"] if not (p["seed"] == 123 and p["step"] == 5000)]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"seed 123 has different steps"):
        study_gap(load_results(path), "large-baseline", "large-embed-aux", "2")


def test_study_results_wrong_schema_version_is_rejected(tmp_path):
    data = make_results()
    data["schema_version"] = 2
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match="schema_version=2"):
        load_results(path)


def test_cumulative_lr_sums_the_schedule_before_each_step():
    schedule = np.array([1.0, 0.5, 0.25, 0.25, 0.1])
    np.testing.assert_allclose(cumulative_lr(np.array([1, 3, 5]), schedule), [1.0, 1.75, 2.1])


def test_cumulative_lr_rejects_a_schedule_shorter_than_the_series():
    with pytest.raises(ValueError, match="schedule has 2 entries"):
        cumulative_lr(np.array([1, 3]), np.ones(2))


def test_repeated_probe_records_keep_the_first_and_are_reported(tmp_path):
    data = make_results()
    extra = dict(data["probes"][0], r2=0.99)  # same condition, seed, step and layer as the first record
    data["probes"].append(extra)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    series = study_gap(load_results(path), data["probes"][0]["condition"], "large-embed-aux", data["probes"][0]["layer"])
    assert series.values.max() < 0.5
    assert any("1 repeated" in note for note in series.notes)
