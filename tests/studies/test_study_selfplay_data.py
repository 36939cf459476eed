"""The growth study's [data.selfplay] stage: a value network bootstrapped from the random + guided games plays
itself; its games join DIR/games.npz with their settings, seeds and model digest, and are reused or regenerated
like the other sources."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from rich.console import Console

from modinterp.config import ConfigError
from modinterp.data.store import GameStore
from modinterp.digest import state_digest
from modinterp.studies.growth.config import load_study_config
from modinterp.studies.growth.data import games_mismatches, prepare_games
from modinterp.studies.growth.selfplay_data import BASE_GAMES_FILE, SELFPLAY_DIR, stage_seeds
from modinterp.train.checkpoint import load_tensors

QUIET = Console(quiet=True)
# A 6x6 board, 200 random games, a smoke-sized value network trained 10 steps, 60 self-play games.
TINY = {"data.n_random": 200, "data.selfplay.games": 60, "data.selfplay.bootstrap_train.preset": "smoke",
        "data.selfplay.bootstrap_train.steps": 10, "data.selfplay.bootstrap_train.checkpoint_every": 5,
        "data.selfplay.bootstrap_train.quick_val_every": 0, "data.selfplay.bootstrap_train.progress": "false",
        "data.selfplay.bootstrap_train.tensorboard": "false", "data.selfplay.bootstrap_train.w_policy": 0,
        "data.selfplay.bootstrap_train.w_concept": 0, "data.selfplay.bootstrap_train.positions.min_ply": 2,
        "data.selfplay.bootstrap_train.val_positions.min_ply": 2, "data.selfplay.epsilon": 0.1}


def tiny_config(**changes):
    settings = {**TINY, **{key.replace("__", "."): value for key, value in changes.items()}}
    return load_study_config("smoke", [f"{k}={v}" for k, v in settings.items()])


def bootstrap_dirs(out):
    return sorted(p.name for p in (out / SELFPLAY_DIR).glob("bootstrap-*"))


def selfplay_source(store):
    return next(s for s in store.generator["sources"] if s["name"] == "selfplay")


def test_absent_section_is_todays_data():
    config = load_study_config("smoke")
    assert config.data.selfplay is None
    assert "selfplay" not in config.data.model_dump(exclude_none=True)


def test_stage_games_are_legal_seeded_recorded_and_reused(tmp_path):
    config = tiny_config()
    store = prepare_games(config, tmp_path / "a", QUIET)
    loaded = GameStore.load(tmp_path / "a" / "games.npz")  # replays and checks every game
    names = [s["name"] for s in loaded.generator["sources"]]
    assert names == ["random", "selfplay"] and loaded.n_games == 260
    assert np.bincount(loaded.sources).tolist() == [200, 60]
    base = GameStore.load(tmp_path / "a" / SELFPLAY_DIR / BASE_GAMES_FILE)
    np.testing.assert_array_equal(loaded.moves[:200, :base.moves.shape[1]], base.moves)

    source = selfplay_source(loaded)
    (folder,) = bootstrap_dirs(tmp_path / "a")
    weights = load_tensors(tmp_path / "a" / SELFPLAY_DIR / folder / "final" / "model.safetensors")
    assert source["model_sha256"] == source["bootstrap"]["model_sha256"] == state_digest(weights)
    assert source["seed"] == stage_seeds(config.data.seed)["games"] and source["seeds"] == stage_seeds(0)
    assert source["settings"] == json.loads(json.dumps(config.data.selfplay.recorded_settings()))
    assert (source["epsilon"], source["opening_plies"], source["temperature"]) == (0.1, 4, 0.0)
    assert source["settings"]["bootstrap_train"]["steps"] == 10 and games_mismatches(loaded, config) == []

    again = prepare_games(config, tmp_path / "b", QUIET)  # another folder, the same seed: the same games
    np.testing.assert_array_equal(again.moves, store.moves)
    np.testing.assert_array_equal(again.winners, store.winners)

    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "a").rglob("*") if p.is_file()}
    prepare_games(config, tmp_path / "a", QUIET)  # same settings: nothing is retrained or rewritten
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "a").rglob("*") if p.is_file()} == stamps

    changed = tiny_config(data__selfplay__epsilon=0.2)  # a player setting: new games, the same bootstrap model
    assert games_mismatches(loaded, changed) == ["selfplay epsilon: stored 0.1, config 0.2"]
    other = prepare_games(changed, tmp_path / "a", QUIET)
    assert selfplay_source(other)["epsilon"] == 0.2 and bootstrap_dirs(tmp_path / "a") == [folder]
    assert (tmp_path / "a" / SELFPLAY_DIR / folder / "final" / "model.safetensors").stat().st_mtime_ns == \
        stamps[tmp_path / "a" / SELFPLAY_DIR / folder / "final" / "model.safetensors"]
    assert not np.array_equal(other.moves[200:], loaded.moves[200:])

    longer = tiny_config(data__selfplay__bootstrap_train__steps=12)  # a train setting: a new bootstrap model
    assert games_mismatches(loaded, longer) == ["selfplay bootstrap_train.steps: stored 10, config 12"]
    prepare_games(longer, tmp_path / "a", QUIET)
    assert len(bootstrap_dirs(tmp_path / "a")) == 2


def test_interrupted_bootstrap_continues_to_the_same_games(tmp_path):
    config = tiny_config()
    whole = prepare_games(config, tmp_path, QUIET)
    (folder,) = bootstrap_dirs(tmp_path)
    run = tmp_path / SELFPLAY_DIR / folder
    shutil.rmtree(run / "final")  # as if killed after the step-5 checkpoint
    shutil.rmtree(run / "checkpoints" / "step-00000010")
    (tmp_path / "games.npz").unlink()
    resumed = prepare_games(config, tmp_path, QUIET)
    assert bootstrap_dirs(tmp_path) == [folder]  # continued in place, from the reloaded base games
    np.testing.assert_array_equal(resumed.moves, whole.moves)
    assert selfplay_source(resumed)["model_sha256"] == selfplay_source(whole)["model_sha256"]


def test_rounds_are_recorded_and_their_folder_reused(tmp_path):
    config = tiny_config(data__selfplay__rounds=1, data__selfplay__games_per_round=30, data__selfplay__gate_games=10)
    store = prepare_games(config, tmp_path, QUIET)
    source = selfplay_source(store)
    (rounds,) = source["rounds"]
    assert rounds["round"] == 0 and rounds["n_games"] == 10 and 0 <= rounds["p_value"] <= 1
    summary = json.loads(next((tmp_path / SELFPLAY_DIR).glob("rounds-*/summary.json")).read_text())
    assert source["model_sha256"] == summary["model_sha256"]
    assert source["settings"]["gate_games"] == 10 and source["settings"]["round_train"]["steps"] == 10
    (tmp_path / "games.npz").unlink()
    again = prepare_games(config, tmp_path, QUIET)  # the finished rounds folder is reused: the same games
    np.testing.assert_array_equal(again.moves, store.moves)
    assert len(list((tmp_path / SELFPLAY_DIR).glob("rounds-*"))) == 1


@pytest.mark.parametrize("override, field", [
    ("data.selfplay.games=0", "data.selfplay.games"),
    ("data.selfplay.bootstrap_train=no-such-preset", "data.selfplay.bootstrap_train"),
    ("data.selfplay.bootstrap_train.stepz=3", "data.selfplay.bootstrap_train"),
    ("data.selfplay.bootstrap_train.seed=3", "data.selfplay.bootstrap_train"),
    ("data.selfplay.gate_games=3", "data.selfplay.gate_games"),
    ("data.selfplay.epsilon=2", "data.selfplay.epsilon"),
    ("data.selfplay.temperature=-1", "data.selfplay.temperature"),
])
def test_invalid_settings_name_the_field(override, field):
    with pytest.raises(ConfigError, match=f"field '{field}'"):
        load_study_config("smoke", ["data.selfplay.games=10", "data.selfplay.bootstrap_train.preset=smoke", override])


def test_round_train_is_fields_over_bootstrap_train_and_checked():
    config = tiny_config(data__selfplay__round_train__steps=6, data__selfplay__round_train__lr=1e-4)
    rounds, bootstrap = config.data.selfplay.round_config(), config.data.selfplay.bootstrap_config()
    assert (rounds.steps, rounds.lr, rounds.model) == (6, 1e-4, bootstrap.model)
    with pytest.raises(ConfigError, match="data.selfplay.round_train: not a valid train config: steps = 0"):
        tiny_config(data__selfplay__round_train__steps=0)
    with pytest.raises(ConfigError, match="round_train: .*warmup_steps=5 exceeds steps=3"):
        tiny_config(data__selfplay__round_train__steps=3)
    with pytest.raises(ConfigError, match=r"round_train sets \['modularity'\]"):
        tiny_config(data__selfplay__rounds=1, data__selfplay__round_train__modularity__lam=0.1)


def test_selfplay_needs_generated_games():
    with pytest.raises(ConfigError, match="data.selfplay adds to generated games"):
        load_study_config("smoke", ["data.games=g.npz", "data.selfplay.games=10",
                                    "data.selfplay.bootstrap_train=smoke"])


def test_paper_preset_is_random_guided_and_selfplay():
    config = load_study_config("paper")
    d = config.data
    assert d.selfplay is not None and 85_000 <= d.n_random + d.n_guided + d.selfplay.games <= 95_000
    assert d.n_random and d.n_guided and d.selfplay.rounds >= 1
    bootstrap = d.selfplay.bootstrap_config()
    assert (bootstrap.w_policy, bootstrap.w_concept) == (0, 0)  # value-only, as the original's weak value network
