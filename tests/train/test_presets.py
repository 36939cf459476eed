"""Every shipped training preset (configs/train-*.toml) validates and builds its model on an 8x8 board."""

from __future__ import annotations

import pytest

from modinterp.config import CONFIG_DIR
from modinterp.models import build_model
from modinterp.train.config import load_train_config

TRAIN_PRESETS = sorted(p.stem.removeprefix("train-") for p in CONFIG_DIR.glob("train-*.toml"))


def test_the_carve_test_bed_preset_is_shipped():
    assert "carve" in TRAIN_PRESETS


@pytest.mark.parametrize("name", TRAIN_PRESETS)
def test_preset_validates_and_builds_its_model(name):
    config = load_train_config(name)
    model = build_model(config.model.preset, 8, 8, seed=0, **config.model.overrides)
    assert model.count_parameters() > 0


def test_carve_preset_evaluates_play_at_the_issue_16_scale():
    config = load_train_config("carve")
    assert config.play is not None and config.play.games >= 400
    assert set(config.play.opponents) == {"random", "alphabeta:1"}
    assert config.model.overrides["d_model"] == 64


def _without_model(name: str) -> dict:
    return load_train_config(name).model_dump(exclude={"model"})


def test_the_wide_carve_presets_differ_from_carve_only_in_the_model():
    """carve-wide is the carve recipe at twice the width, and carve-wide-split its modular twin: `modinterp compare`
    pairs runs only when nothing but the model differs."""
    assert _without_model("carve-wide") == _without_model("carve") == _without_model("carve-wide-split")
    wide, split = load_train_config("carve-wide").model, load_train_config("carve-wide-split").model
    assert wide.preset == split.preset == "cpu-large"
    assert wide.overrides == {"d_model": 128, "d_head": 32, "d_mlp": 512}
    assert {k: v for k, v in split.overrides.items() if k in wide.overrides} == wide.overrides
    model = build_model(split.preset, 8, 8, seed=0, **split.overrides)
    assert model.config.n_modules == 2 and model.config.bus_width == 1 and model.config.bus_norm == "none"


def test_a_folder_named_like_a_preset_does_not_hide_it(tmp_path, monkeypatch):
    from modinterp.studies.growth.config import load_study_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "carve").mkdir()  # e.g. an output folder of the carve runs
    (tmp_path / "smoke").mkdir()
    assert load_train_config("carve").model.overrides["d_model"] == 64
    assert load_study_config("smoke").preset == "smoke"
