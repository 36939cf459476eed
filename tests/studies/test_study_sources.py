"""Grown models against their sources: play records reach results.json, each embedded run plays its source head to
head (DIR/sources.json, resumable), and the paired comparison's means, t-intervals and verdicts are the hand-computed
ones."""

from __future__ import annotations

import json
import math

import pytest
from rich.console import Console
from scipy import stats
from typer.testing import CliRunner

from modinterp.cli import app
from modinterp.studies.growth import sources
from modinterp.studies.growth.config import load_study_config
from modinterp.studies.growth.schema import load_results, parse_results
from modinterp.studies.growth.sources import (SOURCES_FILE, comparison_sentence, load_source_matches,
                                              source_comparison, write_source_matches)
from modinterp.studies.growth.study import run_growth_study

PLAY = ["small.train.play.every=12", "small.train.play.games=4", 'small.train.play.modes=["value"]',
        'small.train.play.opponents=["random"]', "large.train.play.every=12", "large.train.play.games=4",
        'large.train.play.modes=["value"]', 'large.train.play.opponents=["random"]', "source_match.games=6",
        "gap_n_boot=0"]


@pytest.fixture(scope="module")
def played_study(tmp_path_factory):
    config = load_study_config("smoke", PLAY)
    out = tmp_path_factory.mktemp("played-study")
    run_growth_study(config, out, jobs=1, console=Console(quiet=True))
    return config, out


def test_every_run_end_play_evaluation_is_a_results_record(played_study):
    config, out = played_study
    results = load_results(out / "results.json")
    found = {(r.condition, r.seed, r.step, r.mode, r.opponent, r.games) for r in results.play}
    assert found == {(c, s, 12, "value", "random", 4) for c in config.conditions for s in config.seeds}
    assert all(r.win_ci_low <= r.win_rate <= r.win_ci_high for r in results.play)


def test_each_embedded_run_plays_its_source_and_the_report_shows_the_comparison(played_study):
    config, out = played_study
    stored = json.loads((out / SOURCES_FILE).read_text())
    assert stored["settings"] == config.source_match.model_dump(mode="json")
    pairs = {(m["condition"], m["seed"], m["source"], m["n_games"]) for m in stored["matches"]}
    assert pairs == {(f"large-embed-{kind}", s, f"small-{kind}", 6) for kind in ("aux", "noaux") for s in (0, 1)}
    assert all(0 <= m["wins"] <= 6 and m["win_rate"] == m["wins"] / 6 for m in stored["matches"])
    html = (out / "report.html").read_text()
    assert "Do the grown models outgrow their sources?" in html and "head-to-head win rate" in html


def test_source_matches_are_reproducible_and_kept_on_a_rerun(played_study, monkeypatch):
    config, out = played_study
    before = (out / SOURCES_FILE).read_text()
    monkeypatch.setattr(sources, "play_source_match", lambda *a: pytest.fail("a finished match was played again"))
    write_source_matches(config, out)
    assert (out / SOURCES_FILE).read_text() == before
    monkeypatch.undo()
    run = sources.embedded_runs(config)[0]
    again = sources.play_source_match(out, run, config.source_match)
    assert again == load_source_matches(out)[0]


def test_the_sources_command_replays_with_new_settings_and_rebuilds_the_report(played_study, tmp_path):
    config, out = played_study
    result = CliRunner().invoke(app, ["study", "sources", str(out), "--games", "4", "--mode", "policy"])
    assert result.exit_code == 0, result.output
    stored = json.loads((out / SOURCES_FILE).read_text())
    assert stored["settings"]["mode"] == "policy" and {m["n_games"] for m in stored["matches"]} == {4}
    odd = CliRunner().invoke(app, ["study", "sources", str(out), "--games", "5"])
    assert odd.exit_code == 2 and "even" in odd.output
    missing = CliRunner().invoke(app, ["study", "sources", str(tmp_path / "nothing")])
    assert missing.exit_code == 1 and "study.json" in missing.output


def _results(values: dict[tuple[str, int], tuple[float, float]]):
    """A minimal results object: final full-validation (value_loss, policy_loss) per (condition, seed)."""
    losses = [{"condition": c, "seed": s, "step": 10, "split": "val_full", "loss": v + p, "value_loss": v,
               "policy_loss": p} for (c, s), (v, p) in values.items()]
    conditions = ["small-aux", "small-noaux", "large-baseline", "large-embed-aux", "large-embed-noaux"]
    return parse_results({"schema_version": 1, "preset": "t", "conditions": conditions, "seeds": [0, 1, 2],
                          "layers": ["0", "final_ln"], "last_embedded_layer": "0", "verification": {"max_abs_diff": 0.0},
                          "config": {}, "losses": losses})


def test_paired_differences_and_intervals_match_a_hand_computed_case():
    small = {("small-aux", s): (0.5, 2.0) for s in range(3)}
    large = {("large-embed-aux", 0): (0.4, 1.9), ("large-embed-aux", 1): (0.3, 2.1), ("large-embed-aux", 2): (0.2, 2.3)}
    matches = [{"condition": "large-embed-aux", "seed": s, "n_games": 100, "wins": w, "win_rate": w / 100}
               for s, w in enumerate((60, 70, 65))]
    (row,) = source_comparison(_results({**small, **large}), matches)
    value, policy, h2h = row["measures"]
    half = stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)  # value-loss differences -0.1, -0.2, -0.3: sd 0.1
    assert value["mean"] == pytest.approx(-0.2) and value["low"] == pytest.approx(-0.2 - half)
    assert value["high"] == pytest.approx(-0.2 + half) and value["verdict"] == "no difference shown"
    assert policy["mean"] == pytest.approx(0.1) and policy["verdict"] == "no difference shown"
    assert h2h["mean"] == pytest.approx(0.65) and h2h["reference"] == 0.5 and h2h["verdict"] == "better"
    assert row["head_to_head_pooled"] == {"games": 300, "wins": 195} and not row["better_on_all"]
    assert comparison_sentence(row) == ("large-embed-aux against small-aux: no difference shown on val value loss, "
                                        "val policy loss; better on head-to-head win rate.")


def test_equal_small_sample_head_to_head_rates_are_not_called_a_win():
    small = {("small-aux", s): (0.5, 2.0) for s in range(3)}
    large = {("large-embed-aux", s): (0.4 - 0.01 * s, 1.8 - 0.01 * s) for s in range(3)}
    matches = [{"condition": "large-embed-aux", "seed": s, "n_games": 6, "wins": 4, "win_rate": 4 / 6} for s in range(3)]
    (row,) = source_comparison(_results({**small, **large}), matches)
    h2h = row["measures"][-1]
    assert h2h["low"] == h2h["high"] == pytest.approx(4 / 6)  # a zero-width t-interval above 0.5 ...
    assert h2h["verdict"] == "no difference shown" and not row["better_on_all"]  # ... but 12 of 18 games: Wilson [0.44, 0.84]


def test_a_large_model_better_on_every_measure_is_called_better_and_a_worse_one_worse():
    small = {("small-aux", s): (0.5, 2.0) for s in range(3)}
    better = {("large-embed-aux", s): (0.4 - 0.01 * s, 1.8 - 0.01 * s) for s in range(3)}
    (row,) = source_comparison(_results({**small, **better}))
    assert row["better_on_all"] and [m["verdict"] for m in row["measures"]] == ["better", "better"]
    assert "ends better than small-aux on every measure" in comparison_sentence(row)
    worse = {("large-embed-aux", s): (0.6 + 0.01 * s, 2.2 + 0.01 * s) for s in range(3)}
    (row,) = source_comparison(_results({**small, **worse}))
    assert [m["verdict"] for m in row["measures"]] == ["worse", "worse"]


def test_a_broken_sources_file_names_itself(tmp_path):
    (tmp_path / SOURCES_FILE).write_text("{}")
    with pytest.raises(ValueError, match="sources.json"):
        load_source_matches(tmp_path)


def test_a_study_without_the_baseline_runs_reports_and_answers_against_the_compute_matched_control(tmp_path):
    from modinterp.studies.growth.gap import late_window_gaps

    config = load_study_config("smoke", ['skip_conditions=["large-baseline"]', "gap_n_boot=0"])
    run_growth_study(config, tmp_path, jobs=1, console=Console(quiet=True))
    results = load_results(tmp_path / "results.json")
    assert results.conditions == ["small-aux", "small-noaux", "large-embed-aux", "large-embed-noaux"]
    assert not (tmp_path / "runs" / "large-baseline-s0").exists()
    answer = late_window_gaps(results)
    assert {e["control"] for e in answer["entries"]} == {"compute-matched control"} and not answer["skipped"]
    assert "Answer: does the gap persist?" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("skip, message", [(["large-big"], "not conditions of this study"),
                                           (["small-aux"], "grow from it; skip those too")])
def test_skipping_an_unknown_condition_or_a_needed_source_is_refused(skip, message):
    from modinterp.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_study_config("smoke", [f"skip_conditions={json.dumps(skip)}"])
