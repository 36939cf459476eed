"""The capability cost of modular runs against unconstrained baselines, seed by seed (issue 18's 5% ceiling).

    modinterp compare runs/carve/r13ow16 runs/carve/r13ow16-s1 --baseline runs/carve/lam0 --baseline runs/carve/lam0-s1

Runs are grouped into conditions by their training config with the seed, bookkeeping and evaluation cadence left
out, and each run is paired with the baseline trained from the same seed, which must differ from it only in the model
and the losses that shape it (`VARIANT_KEYS`; baselines all alike), on the same validation positions and play
settings. Per condition:
- the value and policy loss at the last full validation, as a relative cost per seed (run / baseline - 1), with the
  mean and its Student-t interval over seeds;
- each play pairing's win rate at the last evaluation, as a difference per seed with the games pooled over seeds
  (Newcombe's interval), and as a relative cost: minus the pooled difference over the baseline's pooled rate; with
  `extra_play`, the games of `modinterp play --out` files under each run (on openings of other seeds) join them;
- what `modinterp modules` wrote under the run (if it ran): the full graph's Gomory-Hu tree edges whose smaller
  side holds >= 5% of the units, and, for `--partition masks`, how many built modules beat their random unit sets;
- whether every cost is within the ceiling: on the point estimate, and shown (every interval's worse end within it:
  the t-interval over seeds, and for win rates the pooled games' interval too; no verdict with one seed).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modinterp.analysis.paired import PairedMeasure, newcombe_interval
from modinterp.config import flatten
from modinterp.errors import ModinterpError
from modinterp.train.metrics import read_metrics

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["CostError", "RunFigures", "run_figures", "compare_runs", "print_costs", "DEFAULT_CEILING", "LOSS_TERMS"]

DEFAULT_CEILING = 0.05
LOSS_TERMS = ("value_loss", "policy_loss")
# training settings that change neither the trained weights nor the final figures (bookkeeping and evaluation
# cadence): left out when runs are grouped into conditions and when a run is checked against its baseline
BOOKKEEPING = frozenset({"seed", "progress", "tensorboard", "data_workers", "prefetch", "checkpoint_every",
                         "keep_checkpoints", "log_every", "device", "compile", "full_val_every", "quick_val_every",
                         "quick_val_batches", "val_batch_size", "probe_every", "probe_steps", "play.every"})
# play settings two runs must share for their win rates to pair
PLAY_KEYS = ("games", "opening_plies", "seed", "opponents", "modes")
# what a modular run may change against its baseline: the model and the losses that shape it; anything else (steps,
# learning rate, batch size, loss weights, batch stream) would make the cost a cost of that instead
VARIANT_KEYS = ("model", "modularity", "interface")


class CostError(ModinterpError):
    """A run that cannot be compared: unfinished, without the figures, or without a baseline of its seed."""


@dataclass(frozen=True)
class RunFigures:
    """What one finished run contributes: its last full validation, its last play evaluation, its module reads."""

    path: Path
    seed: int
    settings: dict[str, Any]  # the training config without the seed and bookkeeping, flattened to dotted keys
    play_settings: dict[str, Any]
    val_positions: int
    losses: dict[str, float]  # LOSS_TERMS at the last val_full
    play: dict[str, tuple[int, int]] = field(default_factory=dict)  # "value_vs_alphabeta1" -> (wins, games)
    tree_edges: int | None = None  # tree_nontrivial_edges of the full graph (modinterp modules' defaults)
    modules_counting: tuple[int, int] | None = None  # (built modules that count, built modules with units)
    games_digest: str | None = None  # GameStore.digest() of the training games (manifests since session 11)


def _manifest(path: Path) -> dict[str, Any]:
    manifest = path / "manifest.json"
    if not manifest.is_file():
        raise CostError(f"{path}: no manifest.json; expected the run directory of a finished `modinterp train`")
    data = json.loads(manifest.read_text(encoding="utf-8"))
    if data.get("status") != "complete":
        raise CostError(f"{manifest}: status is {data.get('status')!r}, expected 'complete'; finish the run first "
                        f"(`modinterp train ... --out {path} --resume`)")
    return data


def _last(records: list[dict[str, Any]], split: str, path: Path) -> dict[str, Any]:
    found = [r for r in records if r.get("split") == split]
    if not found:
        raise CostError(f"{path / 'metrics.jsonl'}: no record of split {split!r}; "
                        + ("set train.full_val_every" if split == "val_full" else "set play.every and play.games")
                        + " so the run measures it")
    return max(found, key=lambda r: r["step"])


def _play(record: dict[str, Any], games: int) -> dict[str, tuple[int, int]]:
    return {key.removesuffix("/win_rate"): (round(value * games), games)
            for key, value in record.items() if key.endswith("/win_rate")}


MODULES_DEFAULTS = {"graph": "all", "canonical": False, "ln_std": False, "top_k": 16, "views": False}  # `modinterp modules`' own


def _module_reads(path: Path, ln_std: bool = False) -> tuple[int | None, tuple[int, int] | None]:
    """The tree edges and the counting built modules from `modinterp modules` outputs under the run, those made with
    its default graph (all couplings, raw weights, top 16 edges, the full tree; gains divided by the LayerNorm stds
    with `ln_std`, `--ln-std`); None where no such output exists. Files written before `ln_std` existed have raw gains.
    The counting modules come from any `--partition masks` output with an ablation: the built modules and their
    ablation do not depend on the graph."""
    wanted = {**MODULES_DEFAULTS, "ln_std": ln_std}
    edges, counting = {}, {}
    for file in sorted(path.rglob("modules.json")):
        data = json.loads(file.read_text(encoding="utf-8"))
        found = {**data, "ln_std": bool(data.get("ln_std"))}  # False, or the positions that weighed the graph
        if all(found.get(key) == value for key, value in wanted.items()):
            edges[file] = int(data["tree_nontrivial_edges"])
        if data.get("partition") == "masks" and "ablation" in data:
            built = [m for m in data["modules"] if m.get("n_units", 0) > 0]
            counting[file] = (sum(bool(m.get("counts")) for m in built), len(built))
    for name, found in (("the tree's non-trivial edges", edges), ("the modules that count", counting)):
        if len(set(found.values())) > 1:
            raise CostError(f"{path}: modules.json files disagree on {name} ({', '.join(f'{f}: {v}' for f, v in found.items())}); "
                            "were they written for different checkpoints or settings? Keep the one for the final model")
    return next(iter(edges.values()), None), next(iter(counting.values()), None)


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k, "(unset)") != b.get(k, "(unset)"))


def _extra_play(path: Path, files: list[str], settings: dict[str, Any]) -> tuple[dict[str, tuple[int, int]], list]:
    """Wins and games per pairing from `modinterp play --out` files under the run (paths relative to it), and what
    the baseline's must match: [(file, pairing, seed, games)]. Each file's openings must be of a seed none of the
    others nor the training's evaluation used (the same openings twice are not new games), with its plies."""
    found: dict[str, tuple[int, int]] = {}
    used = {(f"{mode}_vs_{opponent.replace(':', '')}", settings.get("seed"))
            for mode in settings.get("modes") or [] for opponent in settings.get("opponents") or []}
    signature = []
    for name in files:
        file = path / name
        if not file.is_file():
            raise CostError(f"{file}: not found; write it with `modinterp play {path}@value --against alphabeta:1 "
                            f"--games 1000 --seed 1 --out {file}` (the same file under every run and baseline)")
        payload = json.loads(file.read_text(encoding="utf-8"))
        for result in payload.get("results", []):
            played = result["a"].rpartition("@")[2]  # the player's name: RUN@MODE
            if played != payload["mode"]:
                raise CostError(f"{file}: mode {payload['mode']!r} but its player is {result['a']!r}; `modinterp play "
                                "RUN@MODE` recorded --mode instead of MODE before session 13: play again")
            pairing, seed = f"{payload['mode']}_vs_{result['b'].replace(':', '')}", int(result["seed"])
            if result["opening_plies"] != settings.get("opening_plies"):
                raise CostError(f"{file}: {pairing} opens with {result['opening_plies']} random plies, the training's "
                                f"evaluation with {settings.get('opening_plies')}; play with --opening-plies "
                                f"{settings.get('opening_plies')} so the games pool")
            if (pairing, seed) in used:
                raise CostError(f"{file}: {pairing} on the openings of seed {seed}, which the training's evaluation or "
                                "another --extra-play file already played; play with another --seed")
            used.add((pairing, seed))
            wins, games = found.get(pairing, (0, 0))
            found[pairing] = (wins + int(result["wins"]), games + int(result["n_games"]))
            signature.append([name, pairing, seed, int(result["n_games"])])
    return found, signature


def run_figures(path: str | Path, ln_std: bool = False, extra_play: list[str] | None = None) -> RunFigures:
    """Read one finished run: manifest.json (config, status), metrics.jsonl, any modules.json under it (of the
    LayerNorm-scaled graph with `ln_std`) and the `extra_play` files (`modinterp play --out`, relative to the run)."""
    path = Path(path)
    manifest = _manifest(path)
    train = manifest["config"]["train"]
    records = read_metrics(path / "metrics.jsonl")
    val = _last(records, "val_full", path)
    play_settings = {k: train["play"].get(k) for k in PLAY_KEYS} if train.get("play") else {}
    play = _play(_last(records, "play", path), train["play"]["games"]) if play_settings.get("games") else {}
    if extra_play:
        extra, play_settings["extra_play"] = _extra_play(path, extra_play, play_settings)
        for pairing, (wins, games) in extra.items():
            if pairing not in play:
                raise CostError(f"{path}: --extra-play has {pairing}, which the training's evaluation did not play; "
                                f"play one of {', '.join(sorted(play)) or '(none)'}")
            play[pairing] = (play[pairing][0] + wins, play[pairing][1] + games)
    tree_edges, counting = _module_reads(path, ln_std)
    settings = {k: v for k, v in flatten(train).items() if k not in BOOKKEEPING}
    return RunFigures(path, int(train["seed"]), settings, play_settings, int(val["n_positions"]),
                      {term: float(val[term]) for term in LOSS_TERMS}, play, tree_edges, counting,
                      manifest.get("games_digest"))


def _condition_name(runs: list[RunFigures]) -> str:
    return re.sub(r"-s\d+$", "", runs[0].path.name)


def _group(runs: list[RunFigures]) -> list[list[RunFigures]]:
    """Runs with the same settings, in the order first seen; one run per seed in each; no two groups of one name."""
    groups: dict[str, list[RunFigures]] = {}
    for run in runs:
        group = groups.setdefault(json.dumps(run.settings, sort_keys=True), [])
        twin = next((other for other in group if other.seed == run.seed), None)
        if twin is not None:
            raise CostError(f"{run.path} and {twin.path}: the same settings and seed {run.seed}; give each seed once")
        group.append(run)
    named: dict[str, list[RunFigures]] = {}
    for group in groups.values():
        twin = named.setdefault(_condition_name(group), group)
        if twin is not group:
            raise CostError(f"{group[0].path} and {twin[0].path} are named as one condition but trained otherwise "
                            f"(settings {', '.join(_differences(group[0].settings, twin[0].settings))} differ); "
                            "rename one folder or retrain with the same settings")
    return list(groups.values())


def _baseline_of(run: RunFigures, baselines: dict[int, RunFigures]) -> RunFigures:
    base = baselines.get(run.seed)
    if base is None:
        raise CostError(f"{run.path}: no baseline of seed {run.seed} (baselines have seeds {sorted(baselines)}); "
                        f"train one with `--set seed={run.seed}` and pass it with --baseline")
    if None not in (base.games_digest, run.games_digest) and base.games_digest != run.games_digest:
        raise CostError(f"{run.path} and {base.path} were trained on different games (games_digest "
                        f"{run.games_digest} against {base.games_digest} in their manifest.json); compare runs of the "
                        "same GameStore")
    if base.val_positions != run.val_positions:
        raise CostError(f"{run.path} and {base.path}: validated on {run.val_positions} and {base.val_positions} "
                        "positions; were they trained on different games? Compare runs of the same GameStore")
    if base.play_settings != run.play_settings:
        raise CostError(f"{run.path} and {base.path}: play settings differ ({run.play_settings} against "
                        f"{base.play_settings}); their win rates do not pair")
    other = [k for k in _differences(run.settings, base.settings) if not k.startswith(VARIANT_KEYS)]
    if other:
        raise CostError(f"{run.path} and its baseline {base.path} differ in {', '.join(other)}, beyond the model and "
                        f"the losses that shape it ({', '.join(VARIANT_KEYS)}); a cost measured against it would be "
                        "the cost of that too. Train the baseline with the run's settings")
    return base


def _loss_cost(term: str, pairs: list[tuple[RunFigures, RunFigures]]) -> PairedMeasure:
    return PairedMeasure(f"{term.replace('_', ' ')} cost", {r.seed: r.losses[term] / b.losses[term] - 1 for r, b in pairs},
                         better=-1)


def _win_rate(pairing: str, pairs: list[tuple[RunFigures, RunFigures]]) -> tuple[PairedMeasure, float | None, float]:
    """The win-rate difference per seed with the pooled games' interval, the pooled relative cost (None where the
    baselines won no game: nothing to lose, and no ratio) and the baselines' pooled rate."""
    wins, games = sum(r.play[pairing][0] for r, _ in pairs), sum(r.play[pairing][1] for r, _ in pairs)
    base_wins, base_games = sum(b.play[pairing][0] for _, b in pairs), sum(b.play[pairing][1] for _, b in pairs)
    per_seed = {r.seed: r.play[pairing][0] / r.play[pairing][1] - b.play[pairing][0] / b.play[pairing][1] for r, b in pairs}
    measure = PairedMeasure(f"{pairing} win rate", per_seed, better=+1,
                            pooled_interval=newcombe_interval(wins, games, base_wins, base_games))
    base_rate = base_wins / base_games
    return measure, (base_rate - wins / games) / base_rate if base_rate > 0 else None, base_rate


def _pooled_games(pairing: str, pairs: list[tuple[RunFigures, RunFigures]]) -> dict[str, int]:
    """The games behind a pooled win rate: the runs' and the baselines', over all seeds."""
    return {"runs": sum(r.play[pairing][1] for r, _ in pairs), "baselines": sum(b.play[pairing][1] for _, b in pairs)}


def _ceiling_check(losses: list[PairedMeasure], rates: list[tuple[PairedMeasure, float, float]],
                   ceiling: float) -> dict[str, Any]:
    """Within the ceiling on the point estimates; shown within it when each interval's worse end is too: the
    t-interval over seeds for every measure, and for win rates also the pooled games' interval (None with one seed:
    no interval over seeds). Win rates the baselines never won (no relative cost) are listed apart and left out."""
    point = {m.name: m.interval.mean for m in losses} | {m.name: cost for m, cost, _ in rates if cost is not None}
    n_seeds = losses[0].interval.n
    worst = None
    if n_seeds > 1:
        worst = {m.name: m.interval.high for m in losses}
        worst |= {m.name: max(-m.interval.low, -m.pooled_interval[0]) / base for m, cost, base in rates if cost is not None}
    return {"ceiling": ceiling, "costs": point, "worst_in_interval": worst,
            "no_relative_cost": [m.name for m, cost, _ in rates if cost is None],
            "within": all(v <= ceiling for v in point.values()),
            "shown_within": None if worst is None else all(v <= ceiling for v in worst.values())}


def _finite(record: dict[str, Any]) -> dict[str, Any]:
    """NaN (no interval at one seed) as None, so the JSON is strict."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}


def compare_condition(runs: list[RunFigures], baselines: dict[int, RunFigures], ceiling: float) -> dict[str, Any]:
    """One condition's costs against the baselines of its seeds (see the module docstring)."""
    pairs = [(run, _baseline_of(run, baselines)) for run in sorted(runs, key=lambda r: r.seed)]
    losses = [_loss_cost(term, pairs) for term in LOSS_TERMS]
    pairings = sorted(set.intersection(*(set(r.play) & set(b.play) for r, b in pairs)))
    rates = [_win_rate(pairing, pairs) for pairing in pairings]
    return {"condition": _condition_name(runs), "runs": [str(r.path) for r, _ in pairs],
            "baselines": [str(b.path) for _, b in pairs], "seeds": [r.seed for r, _ in pairs],
            "losses": {r.seed: {"run": r.losses, "baseline": b.losses} for r, b in pairs},
            "measures": [_finite(m.to_dict()) for m in losses]
                        + [_finite(m.to_dict()) | {"relative_cost": cost, "games": _pooled_games(pairing, pairs)}
                           for pairing, (m, cost, _) in zip(pairings, rates)],
            "tree_nontrivial_edges": {r.seed: r.tree_edges for r, _ in pairs},
            "modules_counting": {r.seed: list(r.modules_counting) if r.modules_counting else None for r, _ in pairs},
            "ceiling_check": _ceiling_check(losses, rates, ceiling)}


def compare_runs(runs: list[str | Path], baselines: list[str | Path], ceiling: float = DEFAULT_CEILING,
                 ln_std: bool = False, extra_play: list[str] | None = None) -> list[dict[str, Any]]:
    """Every condition among `runs` against the baseline runs of the same seeds, in the order first given; tree edges
    from the `modinterp modules` outputs of the LayerNorm-scaled graph with `ln_std`; win rates pooled with the
    games of the `extra_play` files under every run and baseline."""
    if not runs or not baselines:
        raise CostError("give at least one run and one --baseline run directory")
    if not 0 < ceiling < 1:
        raise CostError(f"--ceiling {ceiling}: expected a relative cost in (0, 1), e.g. 0.05 for 5%")
    base_figures = [run_figures(p, extra_play=extra_play) for p in baselines]
    by_seed: dict[int, RunFigures] = {}
    for base in base_figures:
        if base.seed in by_seed:
            raise CostError(f"baselines {by_seed[base.seed].path} and {base.path} share seed {base.seed}; give one per seed")
        differ = _differences(base.settings, base_figures[0].settings)
        if differ:
            raise CostError(f"baselines {base_figures[0].path} and {base.path} were trained otherwise ({', '.join(differ)} "
                            "differ); give baselines of one condition, one per seed")
        by_seed[base.seed] = base
    rows = [compare_condition(group, by_seed, ceiling)
            for group in _group([run_figures(p, ln_std, extra_play) for p in runs])]
    return [row | {"tree_graph": "layer_norm_scaled" if ln_std else "raw"} for row in rows]


def _cells(measure: dict[str, Any]) -> tuple[str, str, str]:
    """(per seed, mean [interval], cost) of one measure: relative loss costs with their t-interval over seeds; win-rate
    differences with the pooled games' Newcombe interval and the relative cost."""
    if "relative_cost" not in measure:
        per_seed = ", ".join(f"{v:+.1%}" for v in measure["per_seed"].values())
        interval = f" [{measure['low']:+.1%}, {measure['high']:+.1%}]" if measure["n"] > 1 else " (1 seed)"
        return per_seed, f"{measure['mean']:+.1%}{interval}", f"{measure['mean']:+.1%}"
    per_seed = ", ".join(f"{v:+.3f}" for v in measure["per_seed"].values())
    low, high = measure["pooled_interval"]
    cost = "-" if measure["relative_cost"] is None else f"{measure['relative_cost']:+.1%}"
    games = f", {measure['games']['runs']} games" if "games" in measure else ""
    return per_seed, f"{measure['mean']:+.3f} [{low:+.3f}, {high:+.3f}] (pooled{games})", cost


def print_costs(console: "Console", rows: list[dict[str, Any]]) -> None:
    """Per condition, one table row per measure (per seed, mean with its interval, relative cost), then a line with the
    tree's edges, the built modules that count and the verdict against the ceiling."""
    from rich.table import Table

    for row in rows:
        check = row["ceiling_check"]
        baselines = ", ".join(Path(b).name for b in row["baselines"])
        table = Table(title=f"{row['condition']} (seeds {row['seeds']}) against {baselines}")
        for column in ("measure", "per seed", "mean [95% interval]", "cost"):
            table.add_column(column)
        for measure in row["measures"]:
            table.add_row(measure["name"], *_cells(measure))
        console.print(table)
        edges = ", ".join("not measured" if e is None else str(e) for e in row["tree_nontrivial_edges"].values())
        counting = ", ".join("not measured" if c is None else f"{c[0]} of {c[1]}" for c in row["modules_counting"].values())
        graph = "LayerNorm-scaled graph" if row.get("tree_graph") == "layer_norm_scaled" else "raw graph"
        console.print(f"tree edges (per seed, {graph}): {edges}; built modules that count: {counting}")
        shown = {None: "no interval (one seed)", True: "yes", False: "no"}[check["shown_within"]]
        left_out = (f" (left out, no baseline win to lose: {', '.join(check['no_relative_cost'])})"
                    if check["no_relative_cost"] else "")
        console.print(f"within the {check['ceiling'] * 100:g}% ceiling: {'yes' if check['within'] else 'no'} on the point "
                      f"estimates; on every interval's worse end: {shown}{left_out}\n")
