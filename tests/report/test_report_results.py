"""results.json is validated before anything is drawn, with errors that name the file, field and value."""

from __future__ import annotations

import json

import pytest

from modinterp.studies.growth.report import load_manifest
from modinterp.studies.growth.schema import ResultsError, load_results, parse_results


def test_synthetic_results_follow_the_schema(results_dict):
    results = parse_results(results_dict)
    assert results.conditions[2] == "large-baseline" and results.verification.max_abs_diff == pytest.approx(3.1e-7)
    assert len(results.probes) == len(results_dict["probes"])


def test_missing_top_level_field_is_named(results_dict):
    del results_dict["last_embedded_layer"]
    with pytest.raises(ResultsError, match="results.json: field last_embedded_layer"):
        parse_results(results_dict)


def test_record_with_an_undeclared_condition_is_named_with_its_index(results_dict):
    results_dict["probes"][7]["condition"] = "medium"
    with pytest.raises(ResultsError, match=r"probes\[7\].condition='medium'"):
        parse_results(results_dict)


def test_record_with_an_unknown_split_is_rejected(results_dict):
    results_dict["losses"][0]["split"] = "test"
    with pytest.raises(ResultsError, match=r"losses.0.split"):
        parse_results(results_dict)


def test_last_embedded_layer_must_be_a_declared_layer(results_dict):
    results_dict["last_embedded_layer"] = "9"
    with pytest.raises(ResultsError, match="last_embedded_layer='9'"):
        parse_results(results_dict)


def test_other_schema_versions_are_refused(results_dict):
    results_dict["schema_version"] = 2
    with pytest.raises(ResultsError, match="schema_version=2"):
        parse_results(results_dict)


def test_extra_keys_written_by_the_study_are_kept(results_dict):
    results_dict["probes"][0]["r2_per_target"] = [0.1, 0.2]
    results_dict["gap"] = {"note": "added later"}
    results = parse_results(results_dict)
    assert results.probes[0].r2_per_target == [0.1, 0.2] and results.gap == {"note": "added later"}


def test_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(ResultsError, match="not found; run the study"):
        load_results(tmp_path / "results.json")


def test_broken_json_names_the_file(tmp_path):
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ResultsError, match="results.json: not valid JSON"):
        load_results(tmp_path / "results.json")


def test_nan_values_are_accepted(tmp_path, results_dict):
    results_dict["probes"][0]["r2"] = float("nan")
    (tmp_path / "results.json").write_text(json.dumps(results_dict))
    assert load_results(tmp_path / "results.json").probes[0].r2 != load_results(tmp_path / "results.json").probes[0].r2


def test_manifest_is_optional(tmp_path):
    assert load_manifest(tmp_path) is None
