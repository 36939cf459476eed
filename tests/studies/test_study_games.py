"""The study reuses DIR/games.npz only when it was generated with the config's board and data settings."""

from __future__ import annotations

from rich.console import Console

from modinterp.data.store import generate_store
from modinterp.games.domineering import BoardSpec
from modinterp.studies.growth.config import load_study_config
from modinterp.studies.growth.data import games_mismatches, prepare_games


def small_config(**data):
    overrides = [f"data.{k}={v}" for k, v in {"n_random": 40, "n_guided": 0, **data}.items()]
    return load_study_config("smoke", overrides)


def test_matching_games_have_no_mismatch():
    config = small_config()
    store = generate_store(BoardSpec(6, 6), 40, 0, config.data.seed)
    assert games_mismatches(store, config) == []


def test_mismatches_name_each_differing_setting():
    store = generate_store(BoardSpec(6, 6), 40, 0, 5)
    diffs = games_mismatches(store, small_config(n_random=30))
    assert diffs == ["seed: stored 5, config 0", "random: stored 40, config 30"]


def test_stored_games_are_reused_and_other_settings_regenerate(tmp_path):
    config = small_config()
    first = prepare_games(config, tmp_path, Console(quiet=True))
    stamp = (tmp_path / "games.npz").stat().st_mtime_ns
    again = prepare_games(config, tmp_path, Console(quiet=True))
    assert (tmp_path / "games.npz").stat().st_mtime_ns == stamp and again.n_games == first.n_games
    other = prepare_games(small_config(n_random=30), tmp_path, Console(quiet=True))
    assert other.n_games == 30
