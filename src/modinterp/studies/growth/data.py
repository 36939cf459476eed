"""The growth study's shared inputs, prepared once in the study folder before any run: the games
(DIR/games.npz), the fixed probe set (DIR/probe_set.npz) and the seeded initial weights (DIR/init/)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from modinterp.config import flatten
from modinterp.data.store import GameStore, generate_store
from modinterp.errors import ModinterpError
from modinterp.games import domineering as dom
from modinterp.probes import ProbeSet
from modinterp.studies.growth.config import GrowthStudyConfig
from modinterp.studies.growth.models import large_init, small_init
from modinterp.studies.growth.probing import build_probe_set
from modinterp.studies.growth.run import GAMES_FILE, PROBE_SET_FILE, RUNS_DIR, init_path
from modinterp.studies.growth.selfplay_data import add_selfplay_games, base_games_path
from modinterp.train.checkpoint import save_tensors


class StudyError(ModinterpError, RuntimeError):
    """The study cannot start or continue as asked; the message says why and what to do."""


def games_mismatches(store: GameStore, config: GrowthStudyConfig) -> list[str]:
    """Differences between a stored game set's generation settings and the config's [board]/[data] (self-play
    settings included, key by key)."""
    d = config.data
    sources = {s["name"]: s for s in store.generator.get("sources", [])}
    diffs = base_mismatches(store, config)
    stored, wanted = sources.get("selfplay", {}).get("n_games", 0), d.selfplay.games if d.selfplay else 0
    if stored != wanted:
        diffs.append(f"selfplay: stored {stored!r}, config {wanted!r}")
    if d.selfplay and "selfplay" in sources:
        found, settings = flatten(sources["selfplay"].get("settings", {})), flatten(d.selfplay.recorded_settings())
        diffs += [f"selfplay {k}: stored {found.get(k)!r}, config {settings.get(k)!r}" for k in sorted({*found, *settings})
                  if k != "games" and found.get(k) != settings.get(k)]
    return diffs


def base_mismatches(store: GameStore, config: GrowthStudyConfig) -> list[str]:
    """Differences in the board, first player, seed and the random + guided games' settings."""
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


def prepare_games(config: GrowthStudyConfig, out: Path, console: Console) -> GameStore:
    """DIR/games.npz: copied from [data] games, reused when its settings match, else generated (random + guided,
    then the [data.selfplay] stage when configured)."""
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
    start = time.perf_counter()
    if d.selfplay is None:
        store = generate_base_games(config, console)
    else:
        store = add_selfplay_games(config, prepare_base_games(config, out, console), out, console)
    store.save(path)
    console.print(f"generated {store.n_games} {store.spec} games into {path} in {time.perf_counter() - start:.1f} s")
    return store


def generate_base_games(config: GrowthStudyConfig, console: Console) -> GameStore:
    """The random + guided games of [data], with a progress bar per source."""
    d = config.data
    spec = dom.BoardSpec(config.board.rows, config.board.cols)
    first = dom.VERTICAL if d.first == "vertical" else dom.HORIZONTAL
    with game_progress(console, {"random": d.n_random, "guided": d.n_guided}) as progress:
        return generate_store(spec, d.n_random, d.n_guided, d.seed, first=first, opening_plies=d.opening_plies,
                              epsilon=d.epsilon, progress=progress)


def prepare_base_games(config: GrowthStudyConfig, out: Path, console: Console) -> GameStore:
    """The self-play stage's random + guided games (DIR/selfplay/base-games.npz): reused when their settings match,
    so an interrupted stage does not generate them again."""
    path = base_games_path(out)
    if path.exists():
        store = GameStore.load(path)
        if not base_mismatches(store, config):
            console.print(f"reusing {store.n_games} random + guided games from {path}")
            return store
    store = generate_base_games(config, console)
    store.save(path)
    return store


@contextmanager
def game_progress(console: Console, totals: dict[str, int]) -> Iterator:
    """A rich bar per game source; yields `progress(name) -> callable(n_finished_games)` for generate_store."""
    with Progress(TextColumn("games {task.description:>7}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        tasks = {name: bar.add_task(name, total=total) for name, total in totals.items() if total}
        yield lambda name: (lambda n: bar.advance(tasks[name], n))


def prepare_probe_set(config: GrowthStudyConfig, out: Path, store: GameStore) -> ProbeSet:
    """DIR/probe_set.npz: built once from the validation games, then reused by every run."""
    path = out / PROBE_SET_FILE
    if path.exists():
        return ProbeSet.load(path)
    probe_set = build_probe_set(config, store)
    probe_set.save(path)
    return probe_set


def prepare_initial_weights(config: GrowthStudyConfig, out: Path) -> None:
    """DIR/init/{small,large}-s<seed>.safetensors, drawn once per seed; every run of that size copies them."""
    for seed in config.seeds:
        for size, build in (("small", small_init), ("large", large_init)):
            path = init_path(out, size, seed)
            if not path.exists():
                save_tensors(path, build(config, seed).state_dict())
