"""Study presets and config validation: the presets load, and bad presets or fields fail naming the problem."""

from __future__ import annotations

import math

import pytest

from modinterp.config import ConfigError
from modinterp.studies.growth.config import GrowthStudyConfig, StageTrain, load_study_config
from modinterp.studies.growth.models import large_init, small_init
from modinterp.train.config import load_train_config


@pytest.mark.parametrize("preset", ["smoke", "quick", "regime", "paper"])
def test_presets_load_and_name_themselves(preset):
    assert load_study_config(preset).preset == preset


def test_quick_preset_is_8x8_with_16_sectors_four_seeds_and_clean_guided_labels():
    config = load_study_config("quick")
    assert (config.board.rows, config.board.cols) == (8, 8)
    assert config.concept.kwargs["sector"] == [2, 2] and len(config.seeds) >= 4  # issue 17: t-interval over >= 4 seeds
    assert config.data.epsilon == 0.0  # outcome labels free of later random moves (docs/results.md, "Play strength")
    assert small_init(config, 0).config.n_concepts == 16


def test_paper_preset_has_the_original_sizes_batch_epochs_and_five_seeds():
    config = load_study_config("paper")
    assert small_init(config, 0).count_parameters() == 563_730
    assert large_init(config, 0).count_parameters() == 1_650_066
    assert config.large.train.batch_size == 200 and config.large.train.epochs == 3
    assert config.seeds == [0, 1, 2, 3, 4] and config.probes.every == 1000
    assert config.last_embedded_layer == "2"


def test_regime_preset_trains_every_model_with_the_carve_recipe_and_plays_at_the_end():
    """Issue 17, item 5: large models trained as long as the carve test bed, whose model beats alpha-beta depth 1."""
    config = load_study_config("regime")
    carve = load_train_config("carve")
    for size in (config.small, config.large):
        train = size.train
        assert (train.steps, train.batch_size, train.lr, train.schedule) == (carve.steps, carve.batch_size, carve.lr,
                                                                            carve.schedule)
        assert train.play is not None and train.play.every == train.steps and "alphabeta:1" in train.play.opponents
    assert config.large.overrides == carve.model.overrides and config.large.preset == carve.model.preset
    assert config.data.epsilon == 0.0 and config.data.n_random + config.data.n_guided == 20_000
    assert len(config.seeds) >= 4 and config.probes.schedule == "log"


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ConfigError, match="unknown study preset 'nope'.*choose one of paper, quick, regime, smoke"):
        load_study_config("nope")


def test_misspelled_field_is_named():
    with pytest.raises(ConfigError, match="probes.evry"):
        load_study_config("smoke", ["probes.evry=3"])


def test_study_owned_train_field_is_refused():
    with pytest.raises(ConfigError, match=r"small.train.*\['seed'\] are set by the study"):
        load_study_config("smoke", ["small.train.seed=3"])


def test_mismatched_widths_are_refused():
    with pytest.raises(ConfigError, match="small.d_model=48 differs from large.d_model=32"):
        load_study_config("smoke", ["small.overrides.d_model=48"])


def test_embedding_beyond_the_large_model_is_refused():
    with pytest.raises(ConfigError, match="at_layer=2 with 1 small layer"):
        load_study_config("smoke", ["embedding.at_layer=2"])


def test_unknown_concept_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown concept 'sectors'.*sector_move_difference"):
        load_study_config("smoke", ["concept.name=sectors"])


def test_epochs_set_the_steps_and_decay_fraction_the_cooldown():
    stage = StageTrain(epochs=2.5, schedule="wsd", decay_fraction=0.2)
    resolved = stage.resolve(steps_per_epoch=41, seed=3)
    assert resolved.steps == math.ceil(2.5 * 41) and resolved.decay_steps == round(0.2 * 103)
    assert resolved.seed == 3


def test_config_round_trips_through_its_json_dump():
    config = load_study_config("quick")
    assert GrowthStudyConfig.model_validate(config.model_dump(mode="json")) == config
