"""The trainer's optional periodic play-strength evaluation: the model against built-in players (arena)."""

from __future__ import annotations

from torch import nn

from modinterp.games import domineering as dom
from modinterp.play.arena import evaluate_play
from modinterp.train.config import PlaySettings


def play_metrics(model: nn.Module, settings: PlaySettings) -> tuple[dict[str, float], dict[str, float]]:
    """({"MODE_vs_OPPONENT/win_rate", .../win_ci_low, .../win_ci_high, .../elo}, {".../seconds"}) for every
    mode and opponent; the seconds are wall clock (TensorBoard only, so metrics.jsonl stays reproducible)."""
    spec = dom.BoardSpec(model.config.rows, model.config.cols)
    values: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for mode in settings.modes:
        results = evaluate_play(model, spec, mode, settings.opponents, settings.games, settings.seed,
                                settings.opening_plies)
        for name, result in zip(settings.opponents, results):
            key = f"{mode}_vs_{name.replace(':', '')}"
            low, high = result.win_ci
            values.update({f"{key}/win_rate": result.win_rate, f"{key}/win_ci_low": low,
                           f"{key}/win_ci_high": high, f"{key}/elo": result.elo})
            seconds[f"play/{key}/seconds"] = result.seconds
    return values, seconds
