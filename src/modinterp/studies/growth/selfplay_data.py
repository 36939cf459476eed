"""The growth study's self-play data stage (`[data.selfplay]`): the original's recipe (a weak value network
playing itself by 1-ply lookahead, bootstrapped from non-self-play games; docs/study.md, "Self-play data"),
run after the random + guided games are generated:

1. bootstrap: the `bootstrap_train` value network trained on the random + guided games (DIR/selfplay/bootstrap-KEY/);
2. `rounds` of gated improvement (`modinterp.studies.selfplay.improve`, DIR/selfplay/rounds-KEY/);
3. `games` self-play games of the resulting model (`modinterp.play.selfplay.selfplay`), appended to the random +
   guided games with the settings, seeds and the model's weight digest recorded in their generator source.

KEY is a digest of everything a folder's content depends on (the base games' content, the train config, the
seeds, the round settings): a finished folder is reused (no retraining), a changed setting gets a fresh folder,
an interrupted bootstrap continues from its last checkpoint (the trainer's exact resume) and interrupted rounds
start over. The device is `modinterp.device.pick_device(train config's device)`, as for every trainer.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from modinterp.data.store import GameStore, derive_seed
from modinterp.device import pick_device
from modinterp.errors import ModinterpError
from modinterp.play.selfplay import SelfPlaySettings, merge_stores, model_digest, selfplay, sub_seed
from modinterp.studies.growth.config import RUNTIME_TRAIN_FIELDS, GrowthStudyConfig, SelfPlayChoice
from modinterp.studies.selfplay import ImproveSettings, improve
from modinterp.train.checkpoint import load_trained_model
from modinterp.train.config import TrainConfig
from modinterp.train.run import train_from_games

SELFPLAY_DIR = "selfplay"           # DIR/selfplay/: base games, bootstrap and rounds folders
BASE_GAMES_FILE = "base-games.npz"  # the random + guided games, kept so an interrupted stage does not redo them
SEED_PURPOSES = ("bootstrap_train", "rounds", "round_train", "games")
SEED_DERIVATION = ("stage = derive_seed(data.seed, 2) (sources 0 and 1 are random and guided); "
                   "bootstrap_train, rounds, round_train, games = sub_seed(stage, 0..3)")

Bar = Callable[[str, int], Callable[[int], None]]


class SelfPlayStageError(ModinterpError, RuntimeError):
    """A self-play stage folder does not hold what its record says (the message names the file)."""


def stage_seeds(data_seed: int) -> dict[str, int]:
    """The stage's seeds, all derived from data.seed: its own stream, then one per purpose."""
    stage = derive_seed(data_seed, 2)
    return {"stage": stage, **{name: sub_seed(stage, i) for i, name in enumerate(SEED_PURPOSES)}}


def store_digest(store: GameStore) -> str:
    """SHA-256 of a store's games (board, first player, moves, lengths, winners): what a model trained on it saw."""
    h = hashlib.sha256(f"{store.spec.rows}x{store.spec.cols}:{store.first}".encode())
    for array in (store.moves, store.lengths, store.winners):
        h.update(array.astype(array.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


def settings_key(payload: dict[str, Any]) -> str:
    """12 hex digits naming a folder by everything its content depends on."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def seeded(config: TrainConfig, seed: int) -> TrainConfig:
    """`config` with the stage's seed (model init, batch stream, validation positions)."""
    return config.model_copy(update={"seed": int(seed), "batch_seed": None})


def train_record(config: TrainConfig) -> dict[str, Any]:
    """The config as recorded and keyed: JSON values, runtime-only fields left out."""
    return config.model_dump(mode="json", exclude=set(RUNTIME_TRAIN_FIELDS))


@contextmanager
def stage_bars(console: Console) -> Iterator[Bar]:
    """`bar(name, total) -> advance(n)`: a bar in the style of the other game sources, one live display at a time
    (each stops when complete, so the trainer's own bar can follow it; all stop when the stage ends)."""
    started: list[Progress] = []

    def bar(name: str, total: int) -> Callable[[int], None]:
        progress = Progress(TextColumn("games {task.description:>8}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console)
        task = progress.add_task(name, total=total)
        progress.start()
        started.append(progress)

        def advance(n: int) -> None:
            progress.advance(task, n)
            if progress.tasks[0].finished:
                progress.stop()
        return advance

    try:
        yield bar
    finally:
        for progress in started:
            if progress.live.is_started:  # an unfinished bar (the stage failed): stop its live display
                progress.stop()


def bootstrap_model(choice: SelfPlayChoice, base: GameStore, out: Path, seeds: dict[str, int],
                    console: Console) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The value network trained on the random + guided games: reused when its folder is complete, else trained
    (continuing from the folder's last checkpoint, if any)."""
    config = seeded(choice.bootstrap_config(), seeds["bootstrap_train"])
    key = settings_key({"base_games": store_digest(base), "train": train_record(config)})
    run_dir = out / SELFPLAY_DIR / f"bootstrap-{key}"
    device = pick_device(config.device)
    if (run_dir / "final" / "model.safetensors").exists():
        console.print(f"self-play: reusing the bootstrap value network in {run_dir}")
    else:
        console.print(f"self-play: training the bootstrap value network ({config.model.preset}, {config.steps} steps, "
                      f"{device}) on {base.n_games} games into {run_dir}")
        train_from_games(config, base, run_dir, resume=True)  # the standard wiring, extra loss terms included
    model, _ = load_trained_model(run_dir, device=device)
    return model, {"run_dir": str(run_dir.relative_to(out)), "model_sha256": model_digest(model), "device": str(device)}


def improved_model(choice: SelfPlayChoice, model: torch.nn.Module, base: GameStore, bootstrap_key: str, out: Path,
                   seeds: dict[str, int], bar: Bar, console: Console) -> tuple[torch.nn.Module, list[dict[str, Any]]]:
    """After `rounds` gated rounds, the last accepted candidate (or `model` if none was): reused from a finished
    rounds folder, else the rounds are run (an unfinished folder is started over)."""
    if choice.rounds == 0:
        return model, []
    config = seeded(choice.round_config(), seeds["round_train"])
    plan = ImproveSettings(rounds=choice.rounds, games_per_round=choice.games_per_round, gate_games=choice.gate_games,
                           gate_opening_plies=choice.opening_plies, alpha=choice.alpha, seed=seeds["rounds"])
    folder = out / SELFPLAY_DIR / "rounds-{}".format(settings_key({
        "bootstrap": bootstrap_key, "train": train_record(config), "plan": plan.model_dump(),
        "player": player_settings(choice).model_dump()}))
    if not (folder / "summary.json").exists():
        if folder.exists():
            console.print(f"self-play: {folder} was left unfinished; starting its rounds over")
            shutil.rmtree(folder)
        console.print(f"self-play: {choice.rounds} round(s) of gated improvement into {folder}")
        improve(model, base, config, plan, folder, player_settings(choice), progress=bar)
    return accepted_model(folder, model, console)


def accepted_model(folder: Path, bootstrap: torch.nn.Module, console: Console) -> tuple[torch.nn.Module, list[dict]]:
    """The model a finished rounds folder ended with (summary.json's last accepted round, else the bootstrap),
    checked against the digest recorded there, and the rounds' gate outcomes."""
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    records = [json.loads(line) for line in (folder / "rounds.jsonl").read_text(encoding="utf-8").splitlines() if line]
    model = bootstrap
    if summary["accepted_rounds"]:
        device = next(bootstrap.parameters()).device
        model, _ = load_trained_model(folder / f"round-{summary['accepted_rounds'][-1]}" / "train", device=device)
    if model_digest(model) != summary["model_sha256"]:
        raise SelfPlayStageError(f"{folder / 'summary.json'}: model_sha256 {summary['model_sha256'][:12]}... but the "
                                 f"model loaded has {model_digest(model)[:12]}...; delete {folder} to run the rounds again")
    for r in records:
        g = r["gate"]
        console.print(f"self-play round {r['round']}: candidate won {g['wins']}/{g['n_games']}, p = {g['p_value']:.4f}: "
                      f"{'accepted' if g['accepted'] else 'rejected'}")
    outcomes = [{"round": r["round"], "wins": r["gate"]["wins"], "n_games": r["gate"]["n_games"],
                 "p_value": r["gate"]["p_value"], "accepted": r["gate"]["accepted"],
                 "candidate_sha256": r["candidate_sha256"]} for r in records]
    return model, outcomes


def player_settings(choice: SelfPlayChoice) -> SelfPlaySettings:
    """The self-play player's exploration: random opening plies, epsilon-random moves, softmax temperature."""
    return SelfPlaySettings(opening_plies=choice.opening_plies, epsilon=choice.epsilon, temperature=choice.temperature)


def add_selfplay_games(config: GrowthStudyConfig, base: GameStore, out: Path, console: Console) -> GameStore:
    """The random + guided games followed by `[data.selfplay] games` self-play games; the self-play source records
    the settings (compared on reuse by `games_mismatches`), seeds, model digest, bootstrap run and gate outcomes."""
    choice, seeds = config.data.selfplay, stage_seeds(config.data.seed)
    model, bootstrap = bootstrap_model(choice, base, out, seeds, console)
    with stage_bars(console) as bar:
        model, rounds = improved_model(choice, model, base, Path(bootstrap["run_dir"]).name, out, seeds, bar, console)
        started = time.perf_counter()
        run = selfplay(model, base.spec, choice.games, seeds["games"], player_settings(choice), first=base.first,
                       progress=bar("selfplay", choice.games))
    console.print(f"self-play: {choice.games} games in {time.perf_counter() - started:.1f} s "
                  f"({run.games_per_s:.1f} games/s, {run.positions_per_s:,.0f} positions evaluated/s)")
    source = run.store.generator["sources"][0]
    source.update(settings=choice.recorded_settings(), seeds=seeds, seed_derivation=SEED_DERIVATION,
                  base_games_sha256=store_digest(base), bootstrap=bootstrap, rounds=rounds)
    merged = merge_stores([base, run.store])
    merged.generator = {**base.generator, "sources": merged.generator["sources"]}
    return merged.validate(where=f"random + guided + self-play {base.spec} games")


def base_games_path(out: Path) -> Path:
    """Where the stage keeps the random + guided games it started from."""
    return out / SELFPLAY_DIR / BASE_GAMES_FILE

