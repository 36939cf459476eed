"""Grown models against their small sources: does a large model end better than the model it grew from?

The question of the growth study's regime (issue 16, target b): a concept's fate in a large model matters only if
the large model outgrows its source. Per embedded condition and seed, three paired differences (large minus its
own source, same seed): the final full-validation value loss and policy loss (negative = the large model is
better), and the win rate of the run-end play evaluation against each built-in opponent; beside them a head-to-head
match of the two networks (`[source_match]`, DIR/sources.json; the large model's win rate, 0.5 = even). Each is a
mean over seeds with its Student-t interval: the simplest statistic that answers the question.

    write_source_matches(config, "runs/regime")          # DIR/sources.json (resumable: finished matches are kept)
    source_comparison(load_results(...), load_source_matches("runs/regime"))
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from modinterp.analysis.late_window import seed_interval
from modinterp.atomic import atomic_write_json
from modinterp.studies.growth.config import GrowthStudyConfig, SourceMatchChoice
from modinterp.studies.growth.run import GrowthRun, growth_runs, run_dir
from modinterp.studies.growth.schema import GrowthResults, ResultsError

SOURCES_FILE = "sources.json"


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
    return {"condition": run.condition, "seed": run.seed, "source": run.source.condition, **summary}


def write_source_matches(config: GrowthStudyConfig, out: str | Path,
                         on_match: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """Play every embedded run against its source (config.source_match) into DIR/sources.json. The file is rewritten
    after each match; matches already in it with the same settings are kept, so an interrupted call resumes."""
    settings = config.source_match
    if settings is None:
        raise ValueError("config.source_match is not set: add a [source_match] table (games, mode) to the study config")
    out = Path(out)
    path = out / SOURCES_FILE
    wanted = settings.model_dump(mode="json")
    done: dict[str, dict] = {}
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("settings") == wanted:
            done = {f"{m['condition']}-s{m['seed']}": m for m in stored.get("matches", [])}
    for run in embedded_runs(config):
        if run.name not in done:
            done[run.name] = play_source_match(out, run, settings)
            atomic_write_json(path, {"settings": wanted, "matches": list(done.values())})
            if on_match is not None:
                on_match(done[run.name])
    order = [run.name for run in embedded_runs(config)]
    return atomic_write_json(path, {"settings": wanted, "matches": [done[name] for name in order]})


def load_source_matches(out: str | Path) -> list[dict[str, Any]]:
    """The head-to-head matches in DIR/sources.json, or [] when the study played none."""
    path = Path(out) / SOURCES_FILE
    if not path.exists():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8"))["matches"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ResultsError(f"{path}: expected {{'settings': ..., 'matches': [...]}} as written by "
                           f"write_source_matches ({err}); delete it and play the matches again") from None


@dataclass(frozen=True)
class PairedMeasure:
    """One measure of a grown condition against its source: the per-seed values and their mean with a t-interval.
    `better` says which sign favours the grown model: -1 for losses, +1 for win rates; `reference` is the value that
    means "no better" (0 for differences, 0.5 for a head-to-head win rate). `pooled` (wins, games) of a head-to-head
    measure: its verdict also needs the pooled games' Wilson interval to exclude 0.5, so that a few seeds with equal
    small-sample rates (a zero-width t-interval) are not called a win."""

    name: str
    per_seed: dict[int, float]
    better: int
    reference: float = 0.0
    pooled: tuple[int, int] | None = None

    @property
    def interval(self):
        return seed_interval(list(self.per_seed.values()))

    def _side(self, low: float, high: float) -> int:
        """+1 when [low, high] lies on the grown model's better side of the reference, -1 on its worse side, else 0."""
        above, below = low > self.reference, high < self.reference
        return (1 if above else -1 if below else 0) * self.better

    @property
    def verdict(self) -> str:
        """'better', 'worse' or 'no difference shown' (an interval contains the reference); 'one seed' without one."""
        interval = self.interval
        if interval.n < 2:
            return "one seed"
        sides = {self._side(interval.low, interval.high)}
        if self.pooled is not None:
            from modinterp.play.arena import wilson_interval

            sides.add(self._side(*wilson_interval(*self.pooled)))
        side = sides.pop() if len(sides) == 1 else 0
        return {1: "better", -1: "worse", 0: "no difference shown"}[side]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "per_seed": {str(s): v for s, v in self.per_seed.items()},
                "reference": self.reference, **self.interval.to_dict(), "verdict": self.verdict}


def _final_loss(results: GrowthResults, condition: str, term: str) -> dict[int, float]:
    """Each seed's last full-validation value of loss term `term` (value_loss, policy_loss)."""
    by_seed: dict[int, tuple[int, float]] = {}
    for r in results.losses:
        value = getattr(r, term, None)
        if r.condition == condition and r.split == "val_full" and value is not None:
            if r.seed not in by_seed or r.step >= by_seed[r.seed][0]:
                by_seed[r.seed] = (r.step, float(value))
    return {seed: value for seed, (_, value) in by_seed.items()}


def _final_play(results: GrowthResults, condition: str) -> dict[tuple[str, str], dict[int, float]]:
    """{(mode, opponent): {seed: win rate at the seed's last evaluation}}."""
    found: dict[tuple[str, str], dict[int, tuple[int, float]]] = {}
    for r in results.play:
        if r.condition == condition:
            cell = found.setdefault((r.mode, r.opponent), {})
            if r.seed not in cell or r.step >= cell[r.seed][0]:
                cell[r.seed] = (r.step, r.win_rate)
    return {key: {seed: rate for seed, (_, rate) in cell.items()} for key, cell in found.items()}


def _paired(name: str, large: dict[int, float], small: dict[int, float], better: int) -> PairedMeasure | None:
    seeds = sorted(set(large) & set(small))
    if not seeds:
        return None
    return PairedMeasure(name, {s: large[s] - small[s] for s in seeds}, better)


def source_comparison(results: GrowthResults, matches: list[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Per grown condition: its source and every paired measure (to_dict), plus `better_on_all` (every measure's
    interval on the large model's side of its reference) and the head-to-head games pooled over seeds."""
    from modinterp.studies.growth.config import SOURCE_OF

    rows = []
    for condition in (c for c in results.conditions if c in SOURCE_OF):
        source = SOURCE_OF[condition]
        measures = [m for m in (_paired(f"val {term.replace('_', ' ')}",
                                        _final_loss(results, condition, term), _final_loss(results, source, term), -1)
                                for term in ("value_loss", "policy_loss")) if m is not None]
        small_play = _final_play(results, source)
        for (mode, opponent), large in sorted(_final_play(results, condition).items()):
            if (mode, opponent) in small_play:
                measures.append(_paired(f"{mode} player's win rate vs {opponent}", large,
                                        small_play[(mode, opponent)], +1))
        own = [m for m in matches if m["condition"] == condition]
        pooled = {"games": sum(m["n_games"] for m in own), "wins": sum(m["wins"] for m in own)} if own else None
        if own:
            measures.append(PairedMeasure("head-to-head win rate", {m["seed"]: m["win_rate"] for m in own}, +1,
                                          reference=0.5, pooled=(pooled["wins"], pooled["games"])))
        if not measures:
            continue
        rows.append({"condition": condition, "source": source, "measures": [m.to_dict() for m in measures],
                     "head_to_head_pooled": pooled,
                     "better_on_all": all(m.verdict == "better" for m in measures)})
    return rows


def comparison_sentence(row: dict[str, Any]) -> str:
    """One line a reader takes in: whether the grown model ends better than its source, and on what."""
    if row["better_on_all"]:
        return f"{row['condition']} ends better than {row['source']} on every measure ({len(row['measures'])})."
    by_verdict: dict[str, list[str]] = {}
    for m in row["measures"]:
        by_verdict.setdefault(m["verdict"], []).append(m["name"])
    parts = [f"{verdict} on {', '.join(names)}" for verdict, names in by_verdict.items()]
    return f"{row['condition']} against {row['source']}: " + "; ".join(parts) + "."


def format_measure(measure: dict[str, Any], digits: int = 3) -> str:
    """'-0.065 [-0.071, -0.059]' (mean over seeds and 95% t-interval), '(1 seed)' where no interval exists."""
    if not math.isfinite(measure["se"]):
        return f"{measure['mean']:+.{digits}f} (1 seed)"
    return f"{measure['mean']:+.{digits}f} [{measure['low']:+.{digits}f}, {measure['high']:+.{digits}f}]"


def pooled_line(row: dict[str, Any]) -> str:
    """The head-to-head games pooled over seeds, with the Wilson interval (for a reader who counts games)."""
    from modinterp.play.arena import wilson_interval

    pooled = row["head_to_head_pooled"]
    if not pooled:
        return ""
    low, high = wilson_interval(pooled["wins"], pooled["games"])
    return f"{pooled['wins']} of {pooled['games']} games ({pooled['wins'] / pooled['games']:.3f} [{low:.3f}, {high:.3f}])"

