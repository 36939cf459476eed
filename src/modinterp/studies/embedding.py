"""The growth study: five conditions x seeds, from games to DIR/results.json and DIR/report.html.

    config = load_study_config("quick")
    run_embedding_study(config, "runs/quick", jobs=2)          # or resume=True after an interruption

Steps: games (generated into DIR/games.npz, or reused when their settings match), the fixed probe set, the
seeded initial weights of each seed (DIR/init/), the runs (small ones first; each embedded run starts once its
small source is done) in parallel worker processes, then results.json, report.html and manifest.json.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from modinterp.atomic import atomic_write_json
from modinterp.data.store import GameStore
from modinterp.studies.config import EmbeddingStudyConfig
from modinterp.studies.jobs import GAMES_FILE, PROBE_SET_FILE, RUNS_DIR, init_path, run_specs
from modinterp.studies.scheduler import execute_runs

STUDY_FILE = "study.json"


class StudyError(RuntimeError):
    """The study cannot start or continue as asked; the message says why and what to do."""


def _config_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return diffs


def prepare_directory(config: EmbeddingStudyConfig, out: Path, resume: bool) -> None:
    """Refuse to mix studies: a fresh study needs an unused DIR; a resumed one the same config as before."""
    study_file, data = out / STUDY_FILE, config.model_dump(mode="json")
    if study_file.exists():
        if not resume:
            raise StudyError(f"{out} already holds a study ({study_file}); pass --resume to continue it, or choose a new --out")
        diffs = _config_differences(json.loads(study_file.read_text(encoding="utf-8"))["config"], data)
        if diffs:
            raise StudyError(f"{study_file}: the study in {out} was started with another config; differences: "
                             + "; ".join(diffs[:6]) + ". Resume with the same preset and overrides, or choose a new --out")
        return
    if (out / RUNS_DIR).exists() and not resume:
        raise StudyError(f"{out / RUNS_DIR} exists but {study_file} does not; choose a new --out")
    atomic_write_json(study_file, {"config": data})


def games_mismatches(store: GameStore, config: EmbeddingStudyConfig) -> list[str]:
    """Differences between a stored game set's generation settings and the config's [board]/[data]."""
    d, b = config.data, config.board
    wanted = {"board": f"{b.rows}x{b.cols}", "first": 0 if d.first == "vertical" else 1, "seed": d.seed,
              "random": d.n_random, "guided": d.n_guided}
    sources = {s["name"]: s for s in store.generator.get("sources", [])}
    found = {"board": f"{store.spec.rows}x{store.spec.cols}", "first": int(store.first), "seed": store.seed,
             "random": sources.get("random", {}).get("n_games", 0), "guided": sources.get("guided", {}).get("n_games", 0)}
    diffs = [f"{k}: stored {found[k]!r}, config {wanted[k]!r}" for k in wanted if found[k] != wanted[k]]
    if d.n_guided and "guided" in sources:
        for key in ("opening_plies", "epsilon"):
            if sources["guided"].get(key) != getattr(d, key):
                diffs.append(f"guided {key}: stored {sources['guided'].get(key)!r}, config {getattr(d, key)!r}")
    return diffs


def prepare_games(config: EmbeddingStudyConfig, out: Path, console: Console) -> GameStore:
    """DIR/games.npz: copied from [data] games, reused when its settings match, else generated."""
    from modinterp.games import domineering as dom

    path, d = out / GAMES_FILE, config.data
    if d.games is not None:
        store = GameStore.load(d.games)
        if (store.spec.rows, store.spec.cols) != (config.board.rows, config.board.cols):
            raise StudyError(f"data.games={d.games} holds {store.spec} games but [board] is {config.board.rows}x{config.board.cols}")
        if not path.exists():
            store.save(path)
        return store
    if path.exists():
        store = GameStore.load(path)
        diffs = games_mismatches(store, config)
        if not diffs:
            console.print(f"reusing {store.n_games} games from {path}")
            return store
        if (out / RUNS_DIR).exists():
            raise StudyError(f"{path} was generated with other settings ({'; '.join(diffs)}) and runs already used it; "
                             "choose a new --out")
        console.print(f"regenerating {path}: {'; '.join(diffs)}")
    from modinterp.data.store import generate_store

    spec = dom.BoardSpec(config.board.rows, config.board.cols)
    first = dom.VERTICAL if d.first == "vertical" else dom.HORIZONTAL
    start = time.perf_counter()
    with game_progress(console, {"random": d.n_random, "guided": d.n_guided}) as progress:
        store = generate_store(spec, d.n_random, d.n_guided, d.seed, first=first, opening_plies=d.opening_plies,
                               epsilon=d.epsilon, progress=progress)
    store.save(path)
    console.print(f"generated {store.n_games} {spec} games into {path} in {time.perf_counter() - start:.1f} s")
    return store


@contextmanager
def game_progress(console: Console, totals: dict[str, int]) -> Iterator:
    """A rich bar per game source; yields `progress(name) -> callable(n_finished_games)` for generate_store."""
    with Progress(TextColumn("games {task.description:>7}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        tasks = {name: bar.add_task(name, total=total) for name, total in totals.items() if total}
        yield lambda name: (lambda n: bar.advance(tasks[name], n))


def prepare_probe_set(config: EmbeddingStudyConfig, out: Path, store: GameStore):
    from modinterp.probes import ProbeSet
    from modinterp.studies.probing import build_probe_set

    path = out / PROBE_SET_FILE
    if path.exists():
        return ProbeSet.load(path)
    probe_set = build_probe_set(config, store)
    probe_set.save(path)
    return probe_set


def prepare_initial_weights(config: EmbeddingStudyConfig, out: Path) -> None:
    """DIR/init/{small,large}-s<seed>.safetensors, drawn once per seed; every run of that size copies them."""
    from modinterp.studies.growth import large_init, small_init
    from modinterp.train.checkpoint import save_tensors

    for seed in config.seeds:
        for size, build in (("small", small_init), ("large", large_init)):
            path = init_path(out, size, seed)
            if not path.exists():
                save_tensors(path, build(config, seed).state_dict())


def run_embedding_study(config: EmbeddingStudyConfig, out: str | Path, jobs: int | None = None, resume: bool = False,
                        console: Console | None = None, report: bool = True) -> Path:
    """Run (or resume) the whole study into `out`; returns the path of results.json."""
    from modinterp.manifest import write_manifest
    from modinterp.report import parse_results
    from modinterp.studies.gap import analyse_study_gaps, write_gap_analysis
    from modinterp.studies.results import assemble_results

    console = console or Console()
    out, started = Path(out), time.time()
    out.mkdir(parents=True, exist_ok=True)
    jobs = config.jobs if jobs is None else int(jobs)
    if jobs < 1:
        raise StudyError(f"jobs={jobs}: expected at least 1 worker process")
    prepare_directory(config, out, resume)
    store = prepare_games(config, out, console)
    probe_set = prepare_probe_set(config, out, store)
    console.print(f"probe set: {probe_set.n_train} train / {probe_set.n_test} test positions "
                  f"({probe_set.n_dropped_duplicates} symmetric duplicates dropped)")
    prepare_initial_weights(config, out)
    timings = execute_runs(config, out, jobs, console)
    extra = {"probe_set": {"n_train": probe_set.n_train, "n_test": probe_set.n_test,
                           "n_dropped_duplicates": probe_set.n_dropped_duplicates,
                           "n_games": int(len(set(probe_set.game_ids.tolist())))},
             "games": {"n_games": store.n_games, "mean_length": round(float(store.lengths.mean()), 4)}}
    results = assemble_results(config, out, extra)
    parse_results(results, out / "results.json")  # the report's reader: fail here, not in the report
    path = atomic_write_json(out / "results.json", results)
    wall = round(time.time() - started, 1)
    run_times = {spec.name: json.loads((out / RUNS_DIR / spec.name / "run.json").read_text(encoding="utf-8"))["wall_time_s"]
                 for spec in run_specs(config)}
    write_manifest(out, config.model_dump(mode="json"), list(config.seeds), started, jobs=jobs, resumed=resume,
                   runs_executed_now=sorted(timings), run_wall_times_s=run_times,
                   outputs={"results": "results.json", "report": "report.html"})
    from modinterp.studies.summary import summary_table

    console.print(summary_table(results))
    console.print(probe_precision_line(results))
    if config.gap_n_boot > 0:
        with console.status("fitting the probe-R² gaps (modinterp.analysis)..."):
            write_gap_analysis(out, analyse_study_gaps(results, n_boot=config.gap_n_boot))
    if report:
        console.print(f"report: {build_study_report(out)}")
    console.print(f"results: {path} ({len(run_specs(config))} runs, {wall:.0f} s this invocation)")
    return path


def build_study_report(out: str | Path) -> Path:
    """Write `out/report.html` from results.json, with the gap-analysis sections when gap_analysis.json exists."""
    from modinterp.report import build_growth_report
    from modinterp.studies.gap import gap_sections, load_gap_analysis

    gap = load_gap_analysis(out)
    return build_growth_report(out, extra_sections=gap_sections(gap) if gap else ())


def probe_precision_line(results: dict, target: float = 0.01) -> str:
    """The largest bootstrap standard error of the final probe R² at the last embedded layer, against `target`."""
    layer = str(results["last_embedded_layer"])
    last_step: dict[tuple[str, int], int] = {}
    for r in results["probes"]:
        key = (r["condition"], r["seed"])
        last_step[key] = max(last_step.get(key, -1), r["step"])
    errors = [r["r2_se"] for r in results["probes"] if "r2_se" in r and r["layer"] == layer
              and r["step"] == last_step[(r["condition"], r["seed"])]]
    if not errors:
        return "probe R² standard error: not recorded"
    verdict = "meets" if max(errors) <= target else "exceeds"
    return (f"probe R² standard error at layer {layer} (final step, bootstrap over test games): largest "
            f"{max(errors):.3f}, {verdict} the {target} target; more probe-test games lower it")
