"""The study's passthrough-free measures and controls over training: the smoke study with two probed concepts writes
a finite passthrough record for every condition, seed, layer, step and concept, the board reference is shared by
every condition, and the frozen control runs over training only for embedded conditions (exact at step 0)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from rich.console import Console

from modinterp.config import ConfigError
from modinterp.data.positions import PositionConfig
from modinterp.probes import ProbeSet
from modinterp.probes.passthrough import PASSTHROUGH_RECORD_KEYS
from modinterp.studies.growth.config import CONDITIONS, LARGE_CONDITIONS, load_study_config
from modinterp.studies.growth.probing import concept_probe_set
from modinterp.studies.growth.schema import load_results
from modinterp.studies.growth.study import run_growth_study

TWO_CONCEPTS = 'probes.concepts=[{name="sector_move_difference", kwargs={sector=[2,2]}}, {name="safe_moves"}]'
CONCEPT_NAMES = ("sector_move_difference", "safe_moves")
STEPS = (0, 6, 12)
EMBEDDED = ("large-embed-aux", "large-embed-noaux")


@pytest.fixture(scope="module")
def two_concept_study(tmp_path_factory):
    config = load_study_config("smoke", [TWO_CONCEPTS])
    out = tmp_path_factory.mktemp("smoke-two-concepts")
    run_growth_study(config, out, jobs=1, console=Console(quiet=True))
    return config, out, json.loads((out / "results.json").read_text())


def test_default_probes_the_study_concept_alone():
    config = load_study_config("smoke")
    assert [(c.name, c.kwargs) for c in config.probed_concepts] == [("sector_move_difference", {"sector": [2, 2]})]


def test_concepts_without_sectors_get_no_sector_kwargs():
    assert PositionConfig(concept="safe_moves").concept_kwargs == {}
    assert PositionConfig().concept_kwargs == {"sector": [4, 4]}


def test_unaccepted_concept_kwargs_are_named():
    with pytest.raises(ConfigError, match=r"concept 'safe_moves': kwargs \['sector'\] are not accepted"):
        load_study_config("smoke", ['probes.concepts=[{name="safe_moves", kwargs={sector=[2,2]}}]'])


def test_repeated_concepts_are_refused():
    with pytest.raises(ConfigError, match="each concept may appear once"):
        load_study_config("smoke", ['probes.concepts=[{name="safe_moves"}, {name="safe_moves"}]'])


def test_study_concept_recomputed_from_probe_boards_matches_the_probe_targets(two_concept_study):
    config, out, _ = two_concept_study
    probe_set = ProbeSet.load(out / "probe_set.npz")
    recomputed = concept_probe_set(config, probe_set, config.concept.name, config.concept.arguments())
    np.testing.assert_allclose(recomputed.targets * config.concept.scale, probe_set.targets, atol=1e-6)


def test_passthrough_records_cover_every_condition_seed_layer_step_and_concept(two_concept_study):
    _, out, results = two_concept_study
    records = results["passthrough"]
    found = {(r["condition"], r["seed"], r["layer"], r["step"], r["concept"]) for r in records}
    for condition in CONDITIONS:
        layers = ("0", "1", "final_ln") if condition in LARGE_CONDITIONS else ("0", "final_ln")
        for key in [(condition, s, layer, t, c) for s in (0, 1) for layer in layers for t in STEPS for c in CONCEPT_NAMES]:
            assert key in found
    assert len(found) == len(records)
    assert all(set(r) == set(PASSTHROUGH_RECORD_KEYS) for r in records)
    assert all(math.isfinite(v) for r in records for v in r.values() if isinstance(v, float))
    assert len(load_results(out / "results.json").passthrough) == len(records)


def test_raw_r2_of_passthrough_records_is_the_probe_records_r2(two_concept_study):
    _, _, results = two_concept_study
    raw = {(p["condition"], p["seed"], p["layer"], p["step"]): p["r2"] for p in results["probes"]}
    for r in results["passthrough"]:
        if r["concept"] == "sector_move_difference":
            assert r["r2"] == pytest.approx(raw[(r["condition"], r["seed"], r["layer"], r["step"])], abs=1e-9)


def test_board_reference_is_one_number_per_concept_across_conditions_seeds_and_steps(two_concept_study):
    _, _, results = two_concept_study
    for concept in CONCEPT_NAMES:
        records = [r for r in results["passthrough"] if r["concept"] == concept]
        assert len({r["r2_board"] for r in records}) == 1
        assert len({r["nonlinear_share"] for r in records}) == 1
        assert all(r["r2_gain"] == pytest.approx(r["r2_board_layer"] - r["r2_board"]) for r in records)


def test_frozen_control_runs_over_training_for_embedded_conditions_only(two_concept_study):
    _, _, results = two_concept_study
    frozen = results["frozen"]
    assert {(r["condition"], r["seed"], r["step"]) for r in frozen} == {(c, s, t) for c in EMBEDDED for s in (0, 1)
                                                                        for t in STEPS}
    assert {r["layer"] for r in frozen} == {"0"}
    # At step 0 the large model computes the small one's layers exactly: the recalibrated probe keeps all it had.
    assert all(r["retention"] == pytest.approx(1.0, abs=1e-6) for r in frozen if r["step"] == 0)
    assert all(math.isfinite(r["r2_recalibrated"]) for r in frozen)


@pytest.mark.parametrize("preset", ["quick", "regime", "paper"])
def test_quick_and_paper_probe_the_study_concept_and_two_others(preset):
    config = load_study_config(preset)
    names = [c.name for c in config.probed_concepts]
    assert names == ["sector_move_difference", "safe_moves", "sector_mobility"]
    assert config.probed_concepts[0].kwargs == config.concept.kwargs
