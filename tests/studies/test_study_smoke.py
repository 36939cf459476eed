"""The smoke study end to end: results.json follows the schema, the embedding is verified on real positions,
every condition/seed/layer/step has probe records, the paired runs share their batches, the report renders,
and an interrupted study resumed to the end writes the same results.json."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from modinterp.studies.growth.results import assemble_results, write_results
from modinterp.studies.growth.schema import ResultsError, load_results, parse_results, repeated_records
from modinterp.studies.growth.config import CONDITIONS, LARGE_CONDITIONS, load_study_config
from modinterp.studies.growth.data import StudyError
from modinterp.studies.growth.study import run_growth_study

SCHEMA_KEYS = {"schema_version", "preset", "conditions", "seeds", "layers", "last_embedded_layer", "verification",
               "config", "probes", "losses", "controls"}


def quiet() -> Console:
    return Console(quiet=True)


@pytest.fixture(scope="module")
def smoke_config():
    return load_study_config("smoke")


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory, smoke_config):
    out = tmp_path_factory.mktemp("smoke-study")
    run_growth_study(smoke_config, out, jobs=1, console=quiet())
    return out, json.loads((out / "results.json").read_text())


def test_results_have_the_schema_keys_and_pass_the_report_reader(smoke_study):
    out, results = smoke_study
    assert SCHEMA_KEYS <= set(results)
    assert results["conditions"] == list(CONDITIONS) and results["seeds"] == [0, 1]
    assert load_results(out / "results.json").last_embedded_layer == "0"


def test_results_with_a_measurement_twice_are_not_written(tmp_path, smoke_study):
    _, results = smoke_study
    probes = results["probes"]
    with pytest.raises(ResultsError, match=r"1 records repeat .* probes\[1\] repeats probes\[0\].*'condition': 'small-aux'"):
        write_results(tmp_path, {**results, "probes": [probes[0], *probes]})
    assert not (tmp_path / "results.json").exists()
    assert repeated_records(results) == []
    parse_results({**results, "probes": [probes[0], *probes]})  # an older file with a repeat still reads


def test_records_labelled_with_another_run_than_their_folder_are_refused(tmp_path, smoke_study, smoke_config):
    out, _ = smoke_study
    copy = tmp_path / "study"
    shutil.copytree(out, copy)
    log = copy / "runs" / "small-aux-s1" / "probes.jsonl"
    log.write_text(log.read_text().replace('"seed": 1', '"seed": 0'))  # as a folder copied from seed 0 and renamed
    with pytest.raises(ResultsError, match=r"small-aux-s1: a probes record is labelled condition='small-aux', seed=0"):
        assemble_results(smoke_config, copy)


def test_embedding_is_verified_on_real_positions_for_every_embedded_run(smoke_study):
    _, results = smoke_study
    verification = results["verification"]
    assert verification["max_abs_diff"] < 1e-5 and verification["passed"]
    runs = {(r["condition"], r["seed"]) for r in verification["runs"]}
    assert runs == {(c, s) for c in ("large-embed-aux", "large-embed-noaux") for s in (0, 1)}
    assert all(r["resid_diffs"] and r["start"] == "small embedding" for r in verification["runs"])


def test_probe_records_cover_every_condition_seed_layer_and_step(smoke_study):
    _, results = smoke_study
    found = {(p["condition"], p["seed"], p["layer"], p["step"]) for p in results["probes"]}
    steps = (0, 6, 12)
    large_layers, small_layers = ("0", "1", "final_ln"), ("0", "final_ln")
    for condition in CONDITIONS:
        layers = large_layers if condition in LARGE_CONDITIONS else small_layers
        expected = {(condition, s, layer, step) for s in (0, 1) for layer in layers for step in steps}
        assert expected <= found, condition
    assert len(found) == len(results["probes"])  # no duplicate records


def test_quick_validation_is_logged_at_the_probe_steps_for_every_run(smoke_study):
    _, results = smoke_study
    quick = {(r["condition"], r["seed"], r["step"]) for r in results["losses"] if r["split"] == "val_quick"}
    assert quick == {(c, s, step) for c in CONDITIONS for s in (0, 1) for step in (0, 6, 12)}


def test_embedded_runs_start_from_the_small_models_probe_scores(smoke_study):
    _, results = smoke_study
    r2 = {(p["condition"], p["seed"], p["layer"], p["step"]): p["r2"] for p in results["probes"]}
    for seed in (0, 1):
        assert r2[("large-embed-aux", seed, "0", 0)] == pytest.approx(r2[("small-aux", seed, "0", 12)], abs=1e-6)


def test_controls_cover_init_shuffled_and_frozen(smoke_study):
    _, results = smoke_study
    kinds = {(c["condition"], c["control"]) for c in results["controls"]}
    for condition in CONDITIONS:
        assert {(condition, "init"), (condition, "shuffled")} <= kinds
    # The frozen control only where the large model grew from the small one (the baseline never contained its probe).
    assert {c for c, kind in kinds if kind == "frozen"} == {"large-embed-aux", "large-embed-noaux"}
    frozen = [c for c in results["controls"] if c["control"] == "frozen"]
    assert {c["layer"] for c in frozen} == {"0"}
    assert all("r2_alpha1" in c and c["alpha"] > 0 and math.isfinite(c["r2_recalibrated"]) for c in frozen)


def test_every_condition_of_a_seed_saw_the_same_batches_and_seeds_differ(smoke_study):
    _, results = smoke_study
    digests = {(r["condition"], r["seed"]): r["batch_digest"] for r in results["runs"].values()}
    for seed in (0, 1):
        assert len({digests[(c, seed)] for c in CONDITIONS}) == 1
    assert digests[("large-baseline", 0)] != digests[("large-baseline", 1)]


def test_embedded_conditions_of_a_seed_share_their_untouched_initial_weights(smoke_study):
    _, results = smoke_study
    runs = results["runs"]
    for seed in (0, 1):
        assert runs[f"large-embed-aux-s{seed}"]["untouched_digest"] == runs[f"large-embed-noaux-s{seed}"]["untouched_digest"]


def test_report_is_written(smoke_study):
    out, _ = smoke_study
    html = (out / "report.html").read_text()
    assert "Embedding verification" in html and "large-embed-aux" in html


def test_a_second_fresh_start_in_the_same_folder_is_refused(smoke_study, smoke_config):
    out, _ = smoke_study
    with pytest.raises(StudyError, match="--resume"):
        run_growth_study(smoke_config, out, jobs=1, console=quiet())


def test_resuming_with_another_config_is_refused(smoke_study):
    out, _ = smoke_study
    other = load_study_config("smoke", ["probes.every=4"])
    with pytest.raises(StudyError, match="probes.every: 6 -> 4"):
        run_growth_study(other, out, jobs=1, resume=True, console=quiet())


def test_resuming_a_finished_study_rewrites_the_same_results(smoke_study, smoke_config):
    out, results = smoke_study
    run_growth_study(smoke_config, out, jobs=1, resume=True, console=quiet(), report=False)
    assert json.loads((out / "results.json").read_text()) == results


class _Interrupt(KeyboardInterrupt):
    pass


def test_an_interrupted_study_resumed_gives_the_same_results(tmp_path, smoke_study, smoke_config, monkeypatch):
    from modinterp.train import trainer as trainer_module

    original, calls = trainer_module.Trainer.train_step, {"n": 0}

    def interrupting(self, batch):
        calls["n"] += 1
        if calls["n"] == 31:  # inside the third run (12 steps each), after its step-4 checkpoint
            raise _Interrupt()
        return original(self, batch)

    monkeypatch.setattr(trainer_module.Trainer, "train_step", interrupting)
    with pytest.raises(_Interrupt):
        run_growth_study(smoke_config, tmp_path, jobs=1, console=quiet(), report=False)
    monkeypatch.setattr(trainer_module.Trainer, "train_step", original)
    assert not (tmp_path / "results.json").exists()
    run_growth_study(smoke_config, tmp_path, jobs=1, resume=True, console=quiet(), report=False)
    assert json.loads(Path(tmp_path / "results.json").read_text()) == smoke_study[1]


def test_a_study_extended_on_resume_gives_the_results_of_the_whole_study(tmp_path, smoke_study, smoke_config):
    """Seeds and the baseline added on resume: the runs already done are kept, and results.json is the one the
    whole study writes in one go (no run's settings depend on which other runs exist)."""
    part = load_study_config("smoke", ["seeds=[0]", "baseline=false"])
    run_growth_study(part, tmp_path, jobs=1, console=quiet(), report=False)
    done = {p.parent.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/run.json")}
    assert len(done) == 4
    run_growth_study(smoke_config, tmp_path, jobs=1, resume=True, console=quiet(), report=False)
    assert json.loads((tmp_path / "results.json").read_text()) == smoke_study[1]
    assert all((tmp_path / "runs" / name / "run.json").stat().st_mtime_ns == t for name, t in done.items())  # kept
    recorded = json.loads((tmp_path / "study.json").read_text())["config"]
    assert recorded["seeds"] == [0, 1] and recorded["baseline"] is True


@pytest.mark.slow
def test_a_study_extended_with_preserve_outputs_gives_the_results_of_the_whole_study(tmp_path):
    whole = load_study_config("smoke", ["seeds=[0]", "embedding.preserve_outputs=[false, true]"])
    run_growth_study(whole, tmp_path / "whole", jobs=1, console=quiet(), report=False)
    part = load_study_config("smoke", ["seeds=[0]"])
    run_growth_study(part, tmp_path / "part", jobs=1, console=quiet(), report=False)
    run_growth_study(whole, tmp_path / "part", jobs=1, resume=True, console=quiet(), report=False)
    assert (json.loads((tmp_path / "part" / "results.json").read_text())
            == json.loads((tmp_path / "whole" / "results.json").read_text()))


def test_a_run_grown_otherwise_than_its_name_says_is_refused_on_resume(tmp_path):
    config = load_study_config("smoke", ["seeds=[0]", "baseline=false"])
    run_growth_study(config, tmp_path, jobs=1, console=quiet(), report=False)
    path = tmp_path / "runs" / "large-embed-aux-s0" / "verification.json"
    record = json.loads(path.read_text())
    record["plan"]["preserve_outputs"] = True  # as a folder of a version without the '-preserve' suffix
    path.write_text(json.dumps(record))
    with pytest.raises(StudyError, match="grown with preserve_outputs=True, but its condition means preserve_outputs=False"):
        run_growth_study(config, tmp_path, jobs=1, resume=True, console=quiet(), report=False)


@pytest.mark.parametrize("overrides, field", [(["seeds=[0]"], "seeds"), (["baseline=false"], "baseline"),
                                              (["embedding.preserve_outputs=[true]"], "embedding.preserve_outputs"),
                                              (["aux_weight=0.5"], "aux_weight")])
def test_a_resumed_study_may_not_drop_runs_or_change_their_settings(tmp_path, overrides, field):
    from modinterp.studies.growth.study import prepare_directory

    prepare_directory(load_study_config("smoke"), tmp_path, resume=False)
    with pytest.raises(StudyError, match=field.replace(".", r"\.")):
        prepare_directory(load_study_config("smoke", overrides), tmp_path, resume=True)


@pytest.mark.slow
def test_parallel_workers_give_the_same_results_as_one_process(tmp_path, smoke_study, smoke_config):
    run_growth_study(smoke_config, tmp_path, jobs=2, console=quiet(), report=False)
    assert json.loads((tmp_path / "results.json").read_text()) == smoke_study[1]


@pytest.mark.slow
def test_submitit_jobs_give_the_same_results_as_one_process(tmp_path, smoke_study, smoke_config):
    pytest.importorskip("submitit")  # without sbatch on PATH: submitit's local executor, one process per run
    run_growth_study(smoke_config, tmp_path, jobs=2, console=quiet(), report=False, executor="submitit")
    assert json.loads((tmp_path / "results.json").read_text()) == smoke_study[1]
    assert json.loads((tmp_path / "gap_analysis.json").read_text()) == json.loads((smoke_study[0] / "gap_analysis.json").read_text())
    assert len(list((tmp_path / "submitit").glob("*_result.pkl"))) == 10  # one job per run


def test_each_run_keeps_its_probe_records_in_its_own_file(smoke_study):
    out, results = smoke_study
    run = out / "runs" / "large-embed-aux-s1"
    lines = [json.loads(line) for line in (run / "probes.jsonl").read_text().splitlines()]
    assert {(r["step"], r["layer"]) for r in lines} == {(s, layer) for s in (0, 6, 12) for layer in ("0", "1", "final_ln")}
    assert lines == [p for p in results["probes"] if (p["condition"], p["seed"]) == ("large-embed-aux", 1)]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert not any(k.startswith("r2") for m in metrics for k in m)  # no probe numbers flattened into metrics.jsonl


def test_a_deeper_function_preserving_embedding_is_verified_end_to_end(tmp_path):
    config = load_study_config("smoke", ["seeds=[0]", "embedding.at_layer=1", "embedding.preserve_outputs=true"])
    run_growth_study(config, tmp_path, jobs=1, console=quiet(), report=False)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["last_embedded_layer"] == "1"
    for run in results["verification"]["runs"]:
        assert run["start"] == "small embedding" and set(run["resid_diffs"]) == {"1"}
        assert set(run["output_diffs"]) == {"value", "policy", "concepts"} and run["max_abs_diff"] < 1e-5
    frozen = {c["layer"] for c in results["controls"] if c["control"] == "frozen"}
    assert frozen == {"1"}
