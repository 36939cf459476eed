"""Grown models against their small sources: does a large model end better than the model it grew from?

The question of the growth study's regime (issue 16, target b): a concept's fate in a large model matters only if
the large model outgrows its source. Per embedded condition and seed, three paired differences (large minus its
own source, same seed): the final full-validation value loss and policy loss (negative = the large model is
better), and the win rate of the run-end play evaluation against each built-in opponent; beside them a head-to-head
match of the two networks (`[source_match]`, DIR/sources.json; the large model's win rate, 0.5 = even). Each is a
mean over seeds with its Student-t interval: the simplest statistic that answers the question.

    write_source_matches(config, "runs/regime", LocalExecutor(2))  # DIR/sources.json, 2 matches at once (resumable)
    source_comparison(load_results(...), load_source_matches("runs/regime"))
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modinterp.analysis.paired import PairedMeasure, newcombe_interval
from modinterp.atomic import atomic_write_json
from modinterp.studies.growth.aggregate import final_values
from modinterp.studies.growth.config import GrowthStudyConfig, SourceMatchChoice
from modinterp.studies.growth.run import GrowthRun, growth_runs, run_dir
from modinterp.studies.growth.schema import GrowthResults, ResultsError

if TYPE_CHECKING:
    from rich.console import Console

    from modinterp.studies.executors import Executor

SOURCES_FILE, MATCHES_DIR = "sources.json", "matches"
MATCH_KEYS = ("condition", "seed", "source", "n_games", "wins", "win_rate")


def embedded_runs(config: GrowthStudyConfig) -> list[GrowthRun]:
    """Every run that grew from a small source, in scheduling order."""
    return [run for run in growth_runs(config) if run.source is not None]


def play_source_match(out: Path, run: GrowthRun, settings: SourceMatchChoice) -> dict[str, Any]:
    """One head-to-head match: the run's final model against its source's, both played by `settings.mode`."""
    from modinterp.games import domineering as dom  # the compiled players: loaded only when a match is played
    from modinterp.play.arena import network_agent, play_match
    from modinterp.train.checkpoint import load_trained_model

    large, _ = load_trained_model(run_dir(out, run))
    small, _ = load_trained_model(run_dir(out, run.source))
    spec = dom.BoardSpec(large.config.rows, large.config.cols)
    result = play_match(spec, network_agent(large, settings.mode, run.condition),
                        network_agent(small, settings.mode, run.source.condition), settings.games,
                        settings.seed + run.seed, settings.opening_plies)
    summary = result.to_dict()
    del summary["seconds"]  # wall clock: kept out so a rerun writes the same file
    return {"condition": run.condition, "seed": run.seed, "source": run.source.condition, **summary,
            "weights": models_digest(out, run)}


def match_path(out: Path, run: GrowthRun) -> Path:
    """DIR/matches/<run>.json: one match, with the settings it was played with (what makes matches resumable)."""
    return Path(out) / MATCHES_DIR / f"{run.name}.json"


def play_match_job(out: str, condition: str, seed: int, settings: dict[str, Any], threads: int = 1,
                   progress: bool = False, in_worker: bool = False) -> dict[str, Any]:
    """A match as an executor job (`modinterp.studies.runner.RunSpec`): plays it, writes DIR/matches/<run>.json and
    returns the match with its wall time."""
    import time

    import torch

    started = time.time()
    if in_worker:
        torch.set_num_threads(max(1, int(threads)))
    run = GrowthRun(condition, seed)
    match = play_source_match(Path(out), run, SourceMatchChoice(**settings))
    atomic_write_json(match_path(Path(out), run), {"settings": settings, "match": match})
    return {**match, "wall_time_s": round(time.time() - started, 2)}


def stored_match(out: Path, run: GrowthRun, wanted: dict[str, Any]) -> dict[str, Any] | None:
    """The run's match in DIR/matches/ if it was played with `wanted` settings and the current weights, else None
    (a run or source trained again since is played again)."""
    path = match_path(out, run)
    if not path.exists():
        return None
    stored = json.loads(path.read_text(encoding="utf-8"))
    match = stored.get("match", {})
    return match if stored.get("settings") == wanted and match.get("weights") == models_digest(out, run) else None


def _adopt_sources_file(out: Path, runs: list[GrowthRun], wanted: dict[str, Any]) -> None:
    """Matches a study played before DIR/matches/ existed (only in DIR/sources.json): kept, one file each."""
    path = out / SOURCES_FILE
    if not path.exists():
        return
    stored = json.loads(path.read_text(encoding="utf-8"))
    if stored.get("settings") != wanted:
        return
    by_name = {f"{m.get('condition')}-s{m.get('seed')}": m for m in stored.get("matches", [])}
    for run in runs:
        if run.name in by_name and not match_path(out, run).exists():
            atomic_write_json(match_path(out, run), {"settings": wanted, "match": by_name[run.name]})


def write_source_matches(config: GrowthStudyConfig, out: str | Path, executor: "Executor | None" = None,
                         console: "Console | None" = None) -> Path:
    """Play every embedded run against its source (config.source_match) into DIR/sources.json, the matches through
    `executor` (default: this process; `LocalExecutor(jobs)` plays `jobs` at once). Each match is written to
    DIR/matches/ as it ends, and matches played with the same settings and weights are kept: an interrupted call
    resumes."""
    from rich.console import Console

    from modinterp.studies.executors import LocalExecutor
    from modinterp.studies.runner import RunSpec, run_all

    settings = config.source_match
    if settings is None:
        raise ValueError("config.source_match is not set: add a [source_match] table (games, mode) to the study config")
    out, console = Path(out), console or Console(quiet=True)
    wanted, runs = settings.model_dump(mode="json"), embedded_runs(config)
    _adopt_sources_file(out, runs, wanted)
    specs = [RunSpec(f"match-{run.name}", play_match_job, (str(out), run.condition, run.seed, wanted, 1))
             for run in runs]
    by_spec = dict(zip((spec.name for spec in specs), runs))
    run_all(specs, executor or LocalExecutor(1), lambda name: stored_match(out, by_spec[name], wanted) is not None,
            console)
    matches = [stored_match(out, run, wanted) for run in runs]
    return atomic_write_json(out / SOURCES_FILE, {"settings": wanted, "matches": matches})


def models_digest(out: Path, run: GrowthRun) -> dict[str, str]:
    """The state digests of the two final models a match was played with (a retrained run is played again)."""
    from modinterp.digest import state_digest
    from modinterp.train.checkpoint import load_tensors

    return {name: state_digest(load_tensors(run_dir(out, r) / "final" / "model.safetensors"))
            for name, r in (("grown", run), ("source", run.source))}


def load_source_matches(out: str | Path) -> list[dict[str, Any]]:
    """The head-to-head matches in DIR/sources.json, or [] when the study played none."""
    path = Path(out) / SOURCES_FILE
    if not path.exists():
        return []
    try:
        matches = list(json.loads(path.read_text(encoding="utf-8"))["matches"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ResultsError(f"{path}: expected {{'settings': ..., 'matches': [...]}} as written by "
                           f"write_source_matches ({err}); delete it and play the matches again") from None
    for i, match in enumerate(matches):
        missing = [k for k in MATCH_KEYS if not isinstance(match, dict) or k not in match]
        if missing:
            raise ResultsError(f"{path}: matches[{i}] lacks {missing}; delete the file and play the matches again "
                               "(modinterp study sources DIR)")
    return matches


def _final_loss(results: GrowthResults, condition: str, term: str) -> dict[int, float]:
    """Each seed's last full-validation value of loss term `term` (value_loss, policy_loss), from the records that
    carry it (older results files hold only the combined loss)."""
    carrying = [r for r in results.losses if getattr(r, term, None) is not None]
    return final_values(carrying, term, condition=condition, split="val_full")


def _final_play(results: GrowthResults, condition: str) -> dict[tuple[str, str], dict[int, tuple[float, int]]]:
    """{(mode, opponent): {seed: (win rate, games) at the seed's last evaluation}}."""
    pairings = sorted({(r.mode, r.opponent) for r in results.play if r.condition == condition})
    out = {}
    for mode, opponent in pairings:
        match = {"condition": condition, "mode": mode, "opponent": opponent}
        rates, games = final_values(results.play, "win_rate", **match), final_values(results.play, "games", **match)
        out[(mode, opponent)] = {seed: (rate, int(games[seed])) for seed, rate in rates.items()}
    return out


def _paired(name: str, large: dict[int, float], small: dict[int, float], better: int,
            pooled_interval: tuple[float, float] | None = None) -> PairedMeasure | None:
    seeds = sorted(set(large) & set(small))
    if not seeds:
        return None
    return PairedMeasure(name, {s: large[s] - small[s] for s in seeds}, better, pooled_interval=pooled_interval)


def _paired_play(name: str, large: dict[int, tuple[float, int]], small: dict[int, tuple[float, int]]) -> PairedMeasure | None:
    """Win-rate differences per seed, with the pooled games' Newcombe interval beside the t-interval."""
    seeds = sorted(set(large) & set(small))
    if not seeds:
        return None
    wins = {side: (sum(round(rates[s][0] * rates[s][1]) for s in seeds), sum(rates[s][1] for s in seeds))
            for side, rates in (("large", large), ("small", small))}
    return _paired(name, {s: large[s][0] for s in seeds}, {s: small[s][0] for s in seeds}, +1,
                   newcombe_interval(*wins["large"], *wins["small"]))


def _same_play_settings(results: GrowthResults) -> bool:
    """Whether both sizes' run-end play used the same games, openings and seed (else their rates do not pair)."""
    plays = [results.config.get(size, {}).get("train", {}).get("play") or {} for size in ("small", "large")]
    return all(plays[0].get(k) == plays[1].get(k) for k in ("games", "opening_plies", "seed"))


def source_comparison(results: GrowthResults, matches: list[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Per grown condition: its source, every paired measure (to_dict), the seeds a measure could not pair
    (`unpaired_seeds`), `better_on_all` (every measure's verdict "better") and the head-to-head games pooled."""
    from modinterp.studies.growth.config import SOURCE_OF

    rows = []
    paired_play = _same_play_settings(results)
    for condition in (c for c in results.conditions if c in SOURCE_OF):
        source = SOURCE_OF[condition]
        measures, seen = [], set()
        for term in ("value_loss", "policy_loss"):
            large, small = _final_loss(results, condition, term), _final_loss(results, source, term)
            seen |= set(large) | set(small)
            measures.append(_paired(f"val {term.replace('_', ' ')}", large, small, -1))
        small_play = _final_play(results, source) if paired_play else {}
        for (mode, opponent), large in sorted(_final_play(results, condition).items()):
            if (mode, opponent) in small_play:
                seen |= set(large) | set(small_play[(mode, opponent)])
                measures.append(_paired_play(f"{mode} player's win rate vs {opponent}", large, small_play[(mode, opponent)]))
        own = [m for m in matches if m["condition"] == condition]
        pooled = {"games": sum(m["n_games"] for m in own), "wins": sum(m["wins"] for m in own)} if own else None
        if own:
            from modinterp.play.arena import wilson_interval

            seen |= {m["seed"] for m in own}
            measures.append(PairedMeasure("head-to-head win rate", {m["seed"]: m["win_rate"] for m in own}, +1,
                                          reference=0.5, pooled_interval=wilson_interval(pooled["wins"], pooled["games"])))
        measures = [m for m in measures if m is not None]
        if not measures:
            continue
        unpaired = sorted(s for s in seen if any(s not in m.per_seed for m in measures))
        rows.append({"condition": condition, "source": source, "measures": [m.to_dict() for m in measures],
                     "unpaired_seeds": unpaired, "head_to_head_pooled": pooled,
                     "play_paired": paired_play, "better_on_all": all(m.verdict == "better" for m in measures)})
    return rows


VERDICT_WORDS = {"one seed": "no interval (one seed)"}


def comparison_sentence(row: dict[str, Any]) -> str:
    """One line a reader takes in: whether the grown model ends better than its source, and on what."""
    if row["better_on_all"]:
        text = f"{row['condition']} ends better than {row['source']} on every measure ({len(row['measures'])})."
    else:
        by_verdict: dict[str, list[str]] = {}
        for m in row["measures"]:
            by_verdict.setdefault(m["verdict"], []).append(m["name"])
        parts = [f"{VERDICT_WORDS.get(verdict, verdict)} on {', '.join(names)}" for verdict, names in by_verdict.items()]
        text = f"{row['condition']} against {row['source']}: " + "; ".join(parts) + "."
    if row["unpaired_seeds"]:
        text += f" Seeds {row['unpaired_seeds']} lack a partner in some measure and are left out of it."
    return text


def format_measure(measure: dict[str, Any], digits: int = 3) -> str:
    """'-0.065 [-0.071, -0.059]' for a difference, '0.620 [0.571, 0.669]' for a rate (reference 0.5): the mean over
    seeds and its 95% t-interval; '(1 seed)' where no interval exists."""
    sign = "+" if measure["reference"] == 0 else ""
    text = f"{measure['mean']:{sign}.{digits}f}"
    if not math.isfinite(measure["se"]):
        return text + " (1 seed)"
    return text + f" [{measure['low']:{sign}.{digits}f}, {measure['high']:{sign}.{digits}f}]"


def pooled_line(row: dict[str, Any]) -> str:
    """The head-to-head games pooled over seeds, with the Wilson interval (for a reader who counts games)."""
    from modinterp.play.arena import wilson_interval

    pooled = row["head_to_head_pooled"]
    if not pooled:
        return ""
    low, high = wilson_interval(pooled["wins"], pooled["games"])
    return f"{pooled['wins']} of {pooled['games']} games ({pooled['wins'] / pooled['games']:.3f} [{low:.3f}, {high:.3f}])"

