"""Self-play data from a value network (1-ply lookahead, batched).

    run = selfplay(model, spec, 2000, seed=0, settings=SelfPlaySettings(epsilon=0.05, temperature=0.05))
    run.store.save("runs/selfplay.npz")

Every game draws from its own streams (`arena.game_streams`: `SeedSequence(seed).spawn(n_games)`), so no two games
share an opening by construction and neighbouring games are as unalike as any two (the original keyed its moves
by `game_seed + ply`). Exploration: `opening_plies` uniformly random plies, then each ply a random move with
probability `epsilon`, else a draw from the softmax of the children's win probabilities over `temperature`
(0: the best child). The store records these settings, the seed and the SHA-256 of the model's weights.
Rounds of gated self-improvement (generate, retrain, gate) are an experiment: `modinterp.studies.selfplay`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from modinterp.data.store import GameStore
from modinterp.games import domineering as dom
from modinterp.play.arena import FORWARD_BATCH, ValueAgent, game_streams, play_games
from modinterp.digest import state_digest

Progress = Callable[[int], None]


class SelfPlaySettings(BaseModel):
    """How a value network explores while generating games."""

    model_config = ConfigDict(extra="forbid")

    opening_plies: int = Field(4, ge=0, description="uniformly random plies at the start of every game")
    epsilon: float = Field(0.05, ge=0, le=1, description="chance of a uniformly random move after the opening")
    temperature: float = Field(0.0, ge=0, description="softmax temperature over child win probabilities; 0: greedy")
    batch_size: int = Field(FORWARD_BATCH, ge=1, description="positions per forward (memory bound)")


def model_digest(model: torch.nn.Module) -> str:
    """SHA-256 of the model's weights (`modinterp.digest.state_digest`), recorded with every generated game."""
    return state_digest(model.state_dict())


def sub_seed(seed: int, *path: int) -> int:
    """A 63-bit seed for a named sub-task (round, purpose) of `seed`, from NumPy's SeedSequence."""
    return int(np.random.SeedSequence([int(seed), *map(int, path)]).generate_state(1, np.uint64)[0] >> np.uint64(1))


@dataclass
class SelfPlayRun:
    """Games from one self-play call and how fast they came: positions the value head evaluated, seconds."""

    store: GameStore
    positions_evaluated: int
    seconds: float

    @property
    def games_per_s(self) -> float:
        return self.store.n_games / self.seconds

    @property
    def positions_per_s(self) -> float:
        return self.positions_evaluated / self.seconds


def selfplay(model: torch.nn.Module, spec: dom.BoardSpec, n_games: int, seed: int,
             settings: SelfPlaySettings | None = None, first: int = dom.VERTICAL,
             progress: Progress | None = None) -> SelfPlayRun:
    """`n_games` games of the model against itself (all advancing together), as a validated GameStore."""
    settings = settings or SelfPlaySettings()
    if int(n_games) < 1 or int(seed) < 0:
        raise ValueError(f"n_games={n_games}, seed={seed}: expected n_games >= 1 and a non-negative seed.")
    agent = ValueAgent(model, "selfplay", settings.temperature, settings.epsilon, settings.batch_size)
    started = time.perf_counter()
    records = play_games(spec, (agent,), np.zeros(int(n_games), dtype=np.int64), game_streams(seed, n_games),
                         settings.opening_plies, first, progress)
    seconds = time.perf_counter() - started
    source = {"name": "selfplay", "n_games": int(n_games), "seed": int(seed), **settings.model_dump(),
              "model_sha256": model_digest(model), "player": "value 1-ply lookahead",
              "stream_derivation": "SeedSequence(seed).spawn(n_games)[game].spawn(3) = (opening, vertical, horizontal)"}
    store = GameStore.from_records(spec, records, first=first, generator={"sources": [source]}, seed=int(seed))
    return SelfPlayRun(store.validate(where="self-play games"), agent.positions_evaluated, seconds)


def merge_stores(stores: list[GameStore]) -> GameStore:
    """Concatenate stores, keeping every store's generator sources (each game's `sources` index stays true)."""
    sources, parts = [], []
    for store in stores:
        offset = len(sources)
        sources.extend(store.generator.get("sources", [{"name": "unknown"}]))
        parts.append(GameStore(store.spec, store.moves, store.lengths, store.winners, store.first, store.generator,
                               store.seed, store.sources.astype(np.int64) + offset))
    return GameStore.concatenate(parts, generator={"sources": sources}, seed=stores[0].seed)


