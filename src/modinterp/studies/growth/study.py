"""The growth study: five conditions x seeds, from games to DIR/results.json and DIR/report.html.

    config = load_study_config("quick")
    run_growth_study(config, "runs/quick", jobs=2)                 # or resume=True after an interruption
    run_growth_study(config, "runs/quick", executor="submitit",    # one SLURM job per run
                     cluster=ClusterSettings(partition="gpu", gpus_per_job=1))

Steps, while the study holds DIR's lock (`modinterp.lock.FolderLock`: a second live study on DIR is refused,
a killed one's stale lock taken over): games (generated into DIR/games.npz, or reused when their settings
match), the fixed probe set, the seeded initial weights of each seed (DIR/init/), the runs (small ones first; each embedded run starts once its
small source is done) through an executor (`modinterp.studies.runner`), then results.json (rebuilt from the
runs' final files), with `[source_match]` DIR/sources.json (each embedded run against its small source, head to
head), gap_analysis.json, report.html and manifest.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

from rich.console import Console

from modinterp.atomic import atomic_write_json
from modinterp.faults import kill_point, mark_study_process
from modinterp.lock import FolderLock
from modinterp.manifest import write_manifest
from modinterp.studies.executors import ClusterSettings, Executor, make_executor
from modinterp.studies.growth.config import GrowthStudyConfig
from modinterp.studies.growth.data import StudyError, prepare_games, prepare_initial_weights, prepare_probe_set
from modinterp.studies.growth.gap import analyse_study_gaps, write_gap_analysis
from modinterp.studies.growth.gap_report import build_study_report
from modinterp.studies.growth.results import assemble_results, write_results
from modinterp.studies.growth.run import (RUNS_DIR, check_grown_as_named, growth_runs, is_complete, run_specs,
                                          threads_per_job)
from modinterp.studies.growth.schema import GrowthResults
from modinterp.studies.growth.sources import (comparison_sentence, load_source_matches, source_comparison,
                                              write_source_matches)
from modinterp.studies.growth.summary import probe_precision_line, summary_table
from modinterp.studies.runner import run_all

STUDY_FILE = "study.json"


def _config_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return diffs


# Settings used only after the runs: a resumed study may change them (sources.json keys its matches on them).
POST_RUN_FIELDS = ("source_match",)


def _added_runs_only(recorded: dict, new: dict) -> list[str]:
    """Why `new` does more than add runs to `recorded` (empty when it only adds): a resumed study may add seeds,
    preserve_outputs settings and the baseline, since no run's own settings depend on which others exist."""
    def as_list(value):  # preserve_outputs is a bool or a list of bools
        return [value] if isinstance(value, bool) else list(value or [])

    problems = []
    for label, old_v, new_v in (("seeds", recorded.get("seeds"), new.get("seeds")),
                                ("embedding.preserve_outputs", recorded.get("embedding", {}).get("preserve_outputs"),
                                 new.get("embedding", {}).get("preserve_outputs"))):
        if not set(as_list(old_v)) <= set(as_list(new_v)):
            problems.append(f"{label}: {old_v!r} -> {new_v!r} drops {sorted(set(as_list(old_v)) - set(as_list(new_v)))!r} "
                            "(a resumed study may add values, not remove them)")
    if recorded.get("baseline", True) and not new.get("baseline", True):
        problems.append("baseline: True -> False (a resumed study may add the baseline, not remove it)")
    return problems


def _without_run_set(data: dict) -> dict:
    """`data` without the fields that only say which runs exist (compared by `_added_runs_only`)."""
    data = {k: v for k, v in data.items() if k not in POST_RUN_FIELDS + ("seeds", "baseline")}
    if isinstance(data.get("embedding"), dict):
        data["embedding"] = {k: v for k, v in data["embedding"].items() if k != "preserve_outputs"}
    return data


def _as_current(recorded: dict) -> dict:
    """A recorded config as this version reads it (fields added since, at their defaults), else as recorded."""
    try:
        return GrowthStudyConfig.model_validate(recorded).model_dump(mode="json")
    except ValueError:
        return recorded


def prepare_directory(config: GrowthStudyConfig, out: Path, resume: bool) -> None:
    """Refuse to mix studies: a fresh study needs an unused DIR; a resumed one the same config as before (fields
    added to the config since it started count at their defaults). A resumed study may add runs (seeds,
    preserve_outputs settings, the baseline) and change post-run settings; the new config is recorded."""
    study_file, data = out / STUDY_FILE, config.model_dump(mode="json")
    if study_file.exists():
        if not resume:
            raise StudyError(f"{out} already holds a study ({study_file}); pass --resume to continue it, or choose a new --out")
        recorded = _as_current(json.loads(study_file.read_text(encoding="utf-8"))["config"])
        diffs = _config_differences(_without_run_set(recorded), _without_run_set(data)) + _added_runs_only(recorded, data)
        if diffs:
            raise StudyError(f"{study_file}: the study in {out} was started with another config; differences: "
                             + "; ".join(diffs[:6]) + ". Resume with the same preset and overrides, or choose a new --out")
        if recorded != data:
            atomic_write_json(study_file, {"config": data})  # so that `--resume` alone repeats the added runs and settings
        return
    if (out / RUNS_DIR).exists() and not resume:
        raise StudyError(f"{out / RUNS_DIR} exists but {study_file} does not; choose a new --out")
    atomic_write_json(study_file, {"config": data})


def recorded_config(out: str | Path) -> GrowthStudyConfig:
    """The config a study in `out` was started with (DIR/study.json): `--resume` alone continues it as it was."""
    study_file = Path(out) / STUDY_FILE
    if not study_file.exists():
        raise StudyError(f"{study_file} does not exist: {out} holds no study to resume; pass --preset (and any --set) "
                         "to start one, or check --out")
    return GrowthStudyConfig.model_validate(json.loads(study_file.read_text(encoding="utf-8"))["config"])


def run_growth_study(config: GrowthStudyConfig, out: str | Path, jobs: int | None = None, resume: bool = False,
                     console: Console | None = None, report: bool = True,
                     executor: Literal["local", "submitit"] = "local", cluster: ClusterSettings | None = None) -> Path:
    """Run (or resume) the whole study into `out`; returns the path of results.json.

    `jobs`: runs at once (default: the config's); `executor`: where they run (`local` processes or `submitit`
    cluster jobs, configured by `cluster`). The results do not depend on either.
    """
    console = console or Console()
    out, started = Path(out), time.time()
    out.mkdir(parents=True, exist_ok=True)
    jobs = config.jobs if jobs is None else int(jobs)
    if jobs < 1:
        raise StudyError(f"jobs={jobs}: expected at least 1 worker process")
    mark_study_process()
    with FolderLock(out, what="modinterp study", report=console.print):
        return _run_locked(config, out, started, jobs, resume, console, report, executor, cluster)


def _run_locked(config: GrowthStudyConfig, out: Path, started: float, jobs: int, resume: bool, console: Console,
                report: bool, executor: Literal["local", "submitit"], cluster: ClusterSettings | None) -> Path:
    """The study's steps, while this process holds the study folder's lock."""
    prepare_directory(config, out, resume)
    check_grown_as_named(out, config)
    store = prepare_games(config, out, console)
    kill_point("games")
    probe_set = prepare_probe_set(config, out, store)
    console.print(f"probe set: {probe_set.n_train} train / {probe_set.n_test} test positions "
                  f"({probe_set.n_dropped_duplicates} symmetric duplicates dropped)")
    prepare_initial_weights(config, out)
    cluster = (cluster or ClusterSettings()).model_copy(update={"cpus_per_job": threads_per_job(config)})
    runner = make_executor(executor, jobs, out / "submitit", cluster)
    executed = run_all(run_specs(config, out), runner, lambda name: is_complete(out, name), console)
    extra = {"probe_set": {"n_train": probe_set.n_train, "n_test": probe_set.n_test,
                           "n_dropped_duplicates": probe_set.n_dropped_duplicates,
                           "n_games": int(len(set(probe_set.game_ids.tolist())))},
             "games": {"n_games": store.n_games, "mean_length": round(float(store.lengths.mean()), 4)}}
    kill_point("results")
    path, results = write_results(out, assemble_results(config, out, extra))
    if executed or not (out / "manifest.json").exists():  # a rerun of a finished study keeps its original record
        _write_study_manifest(config, out, started, jobs, resume, executor, sorted(executed))
    console.print(summary_table(results))
    console.print(probe_precision_line(results))
    if config.source_match is not None:
        play_source_matches(config, out, results, console, runner)
    if config.gap_n_boot > 0:
        with console.status("fitting the probe-R² gaps (modinterp.analysis)..."):
            write_gap_analysis(out, analyse_study_gaps(results, n_boot=config.gap_n_boot))
    if report:
        console.print(f"report: {build_study_report(out)}")
    wall = round(time.time() - started, 1)
    console.print(f"results: {path} ({len(growth_runs(config))} runs, {wall:.0f} s this invocation)")
    return path


def play_source_matches(config: GrowthStudyConfig, out: Path, results: GrowthResults, console: Console,
                        executor: Executor | None = None) -> Path:
    """Each embedded run against its source, head to head (DIR/sources.json; the matches through `executor`, default
    this process), and the paired comparison printed."""
    settings = config.source_match
    console.print(f"head-to-head matches, {settings.games} games each ({settings.mode} players):")
    path = write_source_matches(config, out, executor, console)
    for m in load_source_matches(out):
        console.print(f"  {m['condition']}-s{m['seed']} vs {m['source']}: {m['wins']}/{m['n_games']} ({m['win_rate']:.3f})")
    for row in source_comparison(results, load_source_matches(out)):
        console.print(comparison_sentence(row))
    return path


def _write_study_manifest(config: GrowthStudyConfig, out: Path, started: float, jobs: int, resume: bool,
                          executor: str, executed_now: list[str]) -> None:
    """DIR/manifest.json: the config, seeds, how the runs were executed and each run's wall time."""
    run_times = {run.name: json.loads((out / RUNS_DIR / run.name / "run.json").read_text(encoding="utf-8"))["wall_time_s"]
                 for run in growth_runs(config)}
    write_manifest(out, config.model_dump(mode="json"), list(config.seeds), started, jobs=jobs, resumed=resume,
                   executor=executor, runs_executed_now=executed_now, run_wall_times_s=run_times,
                   outputs={"results": "results.json", "report": "report.html"})
