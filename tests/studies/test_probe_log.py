"""A run's probes.jsonl keeps each probed step once, however often a resumed run writes it again."""

from __future__ import annotations

import json

from modinterp.studies.growth.probing import ProbeLog, read_probe_log


def layer_record(step: int, layer: str, r2: float) -> dict:
    return {"condition": "small-aux", "seed": 0, "step": step, "layer": layer, "r2": r2, "r2_alpha1": r2,
            "r2_pooled": r2, "alpha": 1.0, "r2_se": 0.01, "n_train": 80.0, "n_test": 20.0, "extra": [1, 2]}


def steps_and_values(path) -> list[tuple[int, str, float]]:
    return [(r["step"], r["layer"], r["r2"]) for r in read_probe_log(path)]


def test_records_are_written_in_the_schema_shape(tmp_path):
    ProbeLog(tmp_path / "probes.jsonl").write(0, [layer_record(0, "0", 0.5)])
    (record,) = [json.loads(line) for line in (tmp_path / "probes.jsonl").read_text().splitlines()]
    assert record == {"condition": "small-aux", "seed": 0, "step": 0, "layer": "0", "r2": 0.5, "r2_alpha1": 0.5,
                      "r2_pooled": 0.5, "alpha": 1.0, "r2_se": 0.01, "n_train": 80, "n_test": 20}


def test_a_resumed_run_drops_records_at_and_after_its_first_step(tmp_path):
    path = tmp_path / "probes.jsonl"
    first = ProbeLog(path)
    for step in (0, 6, 12):
        first.write(step, [layer_record(step, "0", step / 100), layer_record(step, "final_ln", step / 50)])
    resumed = ProbeLog(path)  # e.g. killed after step 12 was probed, resumed from the step-4 checkpoint
    resumed.write(6, [layer_record(6, "0", 0.9), layer_record(6, "final_ln", 0.8)])
    resumed.write(12, [layer_record(12, "0", 0.7), layer_record(12, "final_ln", 0.6)])
    assert steps_and_values(path) == [(0, "0", 0.0), (0, "final_ln", 0.0), (6, "0", 0.9), (6, "final_ln", 0.8),
                                      (12, "0", 0.7), (12, "final_ln", 0.6)]


def test_a_missing_log_reads_as_no_records(tmp_path):
    assert read_probe_log(tmp_path / "probes.jsonl") == []
