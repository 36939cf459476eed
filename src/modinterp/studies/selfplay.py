"""Rounds of gated self-improvement: generate self-play games with the current value network, fine-tune a copy
on the games so far (the existing Trainer), and play the copy against the current model on *fresh* openings with
both colours; the copy replaces the current model only if it wins more than half the games by an exact one-sided
binomial test (`scipy.stats.binomtest`, p < alpha). Gating games stay out of the training data unless configured.

    rounds = improve(model, store, train_config, ImproveSettings(rounds=3), out_dir)
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import torch
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import binomtest

from modinterp.atomic import atomic_write_json
from modinterp.data.store import GameStore
from modinterp.games import domineering as dom
from modinterp.play.arena import ValueAgent, play_match
from modinterp.play.selfplay import Progress, SelfPlaySettings, merge_stores, model_digest, selfplay, sub_seed
from modinterp.train.config import TrainConfig
from modinterp.train.run import make_positions
from modinterp.train.trainer import Trainer


class ImproveSettings(BaseModel):
    """Rounds of generate, retrain, gate."""

    model_config = ConfigDict(extra="forbid")

    rounds: int = Field(3, ge=1)
    games_per_round: int = Field(2000, ge=1)
    gate_games: int = Field(200, ge=2, description="games of candidate vs current per round (even: both colours)")
    gate_opening_plies: int = Field(4, ge=0)
    alpha: float = Field(0.05, gt=0, lt=1, description="accept the candidate when the one-sided p-value is below")
    gate_games_in_training: bool = Field(False, description="append the gating games to the training data")
    keep_base_games: bool = Field(True, description="train on the base games as well as the self-play games")
    seed: int = Field(0, ge=0)


def gate_p_value(wins: int, n_games: int) -> float:
    """One-sided exact binomial p-value that the candidate wins more than half: P(X >= wins | n, 1/2)."""
    return float(binomtest(int(wins), int(n_games), 0.5, alternative="greater").pvalue)


def gate(candidate: torch.nn.Module, current: torch.nn.Module, spec: dom.BoardSpec, settings: ImproveSettings,
         seed: int) -> dict[str, Any]:
    """Candidate vs current, both by greedy value lookahead, on fresh openings with both colours; p-value."""
    result = play_match(spec, ValueAgent(candidate, "candidate"), ValueAgent(current, "current"),
                        settings.gate_games, seed, settings.gate_opening_plies)
    p_value = gate_p_value(result.wins, result.n_games)
    return {**result.to_dict(), "p_value": p_value, "accepted": p_value < settings.alpha, "records": result.records}


def improve(model: torch.nn.Module, base: GameStore | None, train_config: TrainConfig, settings: ImproveSettings,
            out_dir: str | Path, selfplay_settings: SelfPlaySettings | None = None,
            progress: Callable[[str, int], Progress] | None = None) -> list[dict[str, Any]]:
    """Rounds of self-play, retraining and gating; writes `round-R/` (games, train run, gate.npz, round.json),
    `rounds.jsonl`, `selfplay.npz` (every self-play game) and `summary.json` (the final model's run directory,
    None if no candidate was accepted) under `out_dir`; returns the round records.
    `progress(description, total)` may return a per-game progress callable."""
    out_dir = Path(out_dir)
    if (out_dir / "rounds.jsonl").exists():
        raise FileExistsError(f"{out_dir / 'rounds.jsonl'} exists; choose a new output directory")
    spec, current = (base.spec if base is not None else dom.BoardSpec(model.config.rows, model.config.cols)), model
    current_dir = None
    generated: list[GameStore] = []
    training = [base] if base is not None and settings.keep_base_games else []
    rounds = []
    for r in range(settings.rounds):
        folder = out_dir / f"round-{r}"
        bar = progress(f"round {r}", settings.games_per_round) if progress else None
        run = selfplay(current, spec, settings.games_per_round, sub_seed(settings.seed, r, 0), selfplay_settings,
                       progress=bar)
        run.store.save(folder / "selfplay.npz")
        generated.append(run.store)
        training.append(run.store)
        candidate, data = copy.deepcopy(current), merge_stores(training)
        trained = Trainer(train_config, candidate, *make_positions(train_config, data), run_dir=folder / "train").fit()
        verdict = gate(candidate.eval(), current, spec, settings, sub_seed(settings.seed, r, 1))
        records = verdict.pop("records")
        gate_store = GameStore.from_records(spec, records, generator={"sources": [{
            "name": "gate", "n_games": settings.gate_games, "seed": verdict["seed"],
            "opening_plies": settings.gate_opening_plies, "candidate_sha256": model_digest(candidate),
            "current_sha256": model_digest(current)}]}, seed=verdict["seed"])
        gate_store.save(folder / "gate.npz")
        if settings.gate_games_in_training:
            training.append(gate_store)
        record = {"round": r, "games": run.store.n_games, "training_games": data.n_games, "games_per_s": run.games_per_s,
                  "positions_per_s": run.positions_per_s, "train_steps": trained.step,
                  "final_val": trained.final_val, "model_sha256": model_digest(current),
                  "candidate_sha256": model_digest(candidate), "candidate_dir": str(folder / "train"), "gate": verdict}
        atomic_write_json(folder / "round.json", record)
        with open(out_dir / "rounds.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps(record, sort_keys=True) + "\n")
        rounds.append(record)
        if verdict["accepted"]:
            current, current_dir = candidate, record["candidate_dir"]
    merge_stores(generated).save(out_dir / "selfplay.npz")
    atomic_write_json(out_dir / "summary.json", {"model_dir": current_dir, "model_sha256": model_digest(current),
                                                  "accepted_rounds": [r["round"] for r in rounds if r["gate"]["accepted"]]})
    return rounds
