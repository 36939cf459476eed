"""The trainer's optional play-strength evaluation: off by default, logged at its interval and at the end."""

from __future__ import annotations

import pytest

from modinterp.config import ConfigError
from modinterp.train.config import PlaySettings, load_train_config
from modinterp.train.metrics import read_metrics
from modinterp.train.play_eval import play_metrics
from .train_fixtures import fast_config


def test_play_evaluation_is_off_by_default():
    assert fast_config().play is None


def test_play_evaluation_logs_win_rates_that_replay_exactly(make_trainer, tmp_path):
    settings = PlaySettings(every=10, games=6, modes=["policy", "value"], opponents=["random", "alphabeta:1"])
    trainer = make_trainer(fast_config(steps=12, play=settings, checkpoint_every=0), tmp_path / "run")
    trainer.fit()
    lines = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r["split"] == "play"]
    assert [r["step"] for r in lines] == [10, 12]
    final = lines[-1]
    for key in ("policy_vs_random", "policy_vs_alphabeta1", "value_vs_random", "value_vs_alphabeta1"):
        assert final[f"{key}/win_ci_low"] <= final[f"{key}/win_rate"] <= final[f"{key}/win_ci_high"]
        assert final[f"{key}/win_rate"] * 6 == pytest.approx(round(final[f"{key}/win_rate"] * 6))
    again, _ = play_metrics(trainer.model.eval(), settings)  # the final model, played again: the same games
    assert {k: final[k] for k in again} == pytest.approx(again)


def test_play_settings_reject_unknown_opponents():
    with pytest.raises(ValueError, match="alphabeta:D"):
        PlaySettings(every=5, opponents=["minimax"])
    with pytest.raises(ConfigError):
        load_train_config("smoke", ["play.every=0"])
