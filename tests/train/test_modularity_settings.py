"""`TrainConfig.modularity`: every lever of the GH loss is a validated config field, off by default."""

import pytest
from pydantic import ValidationError

from modinterp.modularity import ModularityLoss
from modinterp.modularity.providers import GomoryHuProvider
from modinterp.train.config import ModularitySettings, TrainConfig


def test_defaults_build_the_loss_existing_runs_used():
    built = ModularitySettings(lam=0.3).build()
    plain = ModularityLoss(0.3, k=8, top_k=16)  # what `ModularityLoss(**settings)` built before the levers
    assert (built.couplings, built.canonical, built.form) == ("all", False, "cross_fraction")
    assert vars(built.provider) == vars(plain.provider) == vars(GomoryHuProvider())
    skip = {"provider"}
    assert {k: v for k, v in vars(built).items() if k not in skip} == {k: v for k, v in vars(plain).items()
                                                                       if k not in skip}


@pytest.mark.parametrize("form, criterion", [("cross_fraction", "cross_fraction"), ("ncut", "normalized_cut")])
def test_levers_reach_the_loss_and_its_provider(form, criterion):
    loss = ModularitySettings(lam=1, k=4, form=form, graph="adjacent", canonical=True, match_previous=True,
                              accept_if_better=True).build()
    assert (loss.couplings, loss.canonical, loss.form, loss.k) == ("adjacent", True, form, 4)
    provider = loss.provider
    assert (provider.match_previous, provider.accept_if_better, provider.criterion) == (True, True, criterion)


@pytest.mark.parametrize("field, value", [("graph", "dense"), ("canonical", "maybe"), ("match_previous", "sometimes"),
                                          ("accept_if_better", 2)])
def test_a_bad_lever_is_named(field, value):
    with pytest.raises(ValidationError, match=f"modularity.{field}"):
        TrainConfig(modularity={"lam": 1.0, field: value})


def test_interface_bus_l1_trains_a_modular_model_and_narrows_its_bus(games_path, tmp_path):
    import json

    from modinterp.train.run import train_from_games
    from .train_fixtures import fast_config

    config = fast_config(steps=12, checkpoint_every=0, interface={"bus_l1": 0.05},
                         model={"preset": "smoke", "overrides": {"n_modules": 2, "bus_width": 4}})
    train_from_games(config, games_path, tmp_path / "run")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    share = [row["bus/share"] for row in rows if row.get("split") == "train"]
    assert len(share) >= 2 and share[-1] < share[0]
    saved = json.loads((tmp_path / "run" / "final" / "config.json").read_text())
    assert saved["model"]["n_modules"] == 2 and saved["model"]["bus_width"] == 4
