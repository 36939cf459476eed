"""Grown models against their sources: play records reach results.json, each embedded run plays its source head to
head (DIR/sources.json, resumable), and the paired comparison's means, t-intervals and verdicts are the hand-computed
ones."""

from __future__ import annotations

import json
import math
import shutil

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
from modinterp.studies.growth.data import StudyError
from modinterp.studies.growth.study import STUDY_FILE, run_growth_study

PLAY = ["small.train.play.every=12", "small.train.play.games=4", 'small.train.play.modes=["value"]',
        'small.train.play.opponents=["random"]', "large.train.play.every=12", "large.train.play.games=6",
        'large.train.play.modes=["value"]', 'large.train.play.opponents=["random"]', "source_match.games=8",
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
    games = {c: 4 if c.startswith("small") else 6 for c in config.conditions}
    assert found == {(c, s, 12, "value", "random", games[c]) for c in config.conditions for s in config.seeds}
    assert all(r.win_ci_low <= r.win_rate <= r.win_ci_high for r in results.play)


def test_each_embedded_run_plays_its_source_and_the_report_shows_the_comparison(played_study):
    config, out = played_study
    stored = json.loads((out / SOURCES_FILE).read_text())
    assert stored["settings"] == config.source_match.model_dump(mode="json")
    pairs = {(m["condition"], m["seed"], m["source"], m["n_games"]) for m in stored["matches"]}
    assert pairs == {(f"large-embed-{kind}", s, f"small-{kind}", 8) for kind in ("aux", "noaux") for s in (0, 1)}
    assert all(0 <= m["wins"] <= 8 and m["win_rate"] == m["wins"] / 8 for m in stored["matches"])
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


def test_a_retrained_run_is_played_again(played_study, tmp_path, monkeypatch):
    config, study = played_study
    out = shutil.copytree(study, tmp_path / "study")
    path = sources.match_path(out, sources.embedded_runs(config)[0])
    stored = json.loads(path.read_text())
    stored["match"]["weights"]["grown"] = "0" * 64  # as if large-embed-aux-s0 had been trained again
    path.write_text(json.dumps(stored))
    played = []
    real = sources.play_source_match
    monkeypatch.setattr(sources, "play_source_match", lambda *a: played.append(a[1].name) or real(*a))
    write_source_matches(config, out)
    assert played == ["large-embed-aux-s0"]
    assert json.loads((out / SOURCES_FILE).read_text()) == json.loads((study / SOURCES_FILE).read_text())


def test_matches_played_in_two_worker_processes_write_the_same_file(played_study, tmp_path):
    from modinterp.studies.executors import LocalExecutor

    config, study = played_study
    out = shutil.copytree(study, tmp_path / "study")
    shutil.rmtree(out / sources.MATCHES_DIR)
    (out / SOURCES_FILE).unlink()
    write_source_matches(config, out, LocalExecutor(2))
    assert (out / SOURCES_FILE).read_text() == (study / SOURCES_FILE).read_text()


def test_a_study_that_kept_its_matches_only_in_sources_json_is_not_played_again(played_study, tmp_path, monkeypatch):
    """Studies played before DIR/matches/ existed: their sources.json entries are adopted, one file per match."""
    config, study = played_study
    out = shutil.copytree(study, tmp_path / "study")
    shutil.rmtree(out / sources.MATCHES_DIR)
    monkeypatch.setattr(sources, "play_source_match", lambda *a: pytest.fail("an adopted match was played again"))
    write_source_matches(config, out)
    assert (out / SOURCES_FILE).read_text() == (study / SOURCES_FILE).read_text()
    assert len(list((out / sources.MATCHES_DIR).glob("*.json"))) == len(sources.embedded_runs(config))


def test_the_sources_command_keeps_the_study_settings_and_replays_only_for_new_ones(played_study, tmp_path, monkeypatch):
    _, study = played_study
    out = shutil.copytree(study, tmp_path / "study")
    real = sources.play_source_match
    monkeypatch.setattr(sources, "play_source_match", lambda *a: pytest.fail("replayed with the study's own settings"))
    result = CliRunner().invoke(app, ["study", "sources", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / SOURCES_FILE).read_text() == (study / SOURCES_FILE).read_text()
    monkeypatch.setattr(sources, "play_source_match", real)
    result = CliRunner().invoke(app, ["study", "sources", str(out), "--games", "4", "--mode", "policy"])
    assert result.exit_code == 0, result.output
    stored = json.loads((out / SOURCES_FILE).read_text())
    assert stored["settings"] == {"games": 4, "mode": "policy", "opening_plies": 4, "seed": 0}
    recorded = json.loads((out / STUDY_FILE).read_text())["config"]["source_match"]
    assert recorded == stored["settings"]  # so a resumed (or extended) study plays its new runs the same way
    assert {m["n_games"] for m in stored["matches"]} == {4}
    odd = CliRunner().invoke(app, ["study", "sources", str(out), "--games", "5"])
    assert odd.exit_code == 2 and "even" in odd.output
    missing = CliRunner().invoke(app, ["study", "sources", str(tmp_path / "nothing")])
    assert missing.exit_code == 1 and "study.json" in missing.output and not (tmp_path / "nothing").exists()


def test_a_study_recorded_before_new_config_fields_resumes_and_may_change_its_matches(played_study, tmp_path):
    config, study = played_study
    out = shutil.copytree(study, tmp_path / "study")
    recorded = json.loads((out / STUDY_FILE).read_text())
    for field in ("baseline", "source_match"):  # fields this version added
        del recorded["config"][field]
    (out / STUDY_FILE).write_text(json.dumps(recorded))
    changed = config.model_copy(update={"source_match": config.source_match.model_copy(update={"games": 4})})
    run_growth_study(changed, out, jobs=1, resume=True, console=Console(quiet=True))
    assert json.loads((out / STUDY_FILE).read_text())["config"]["source_match"]["games"] == 4
    assert {m["n_games"] for m in load_source_matches(out)} == {4}
    other = changed.model_copy(update={"aux_weight": 0.5})
    with pytest.raises(StudyError, match="aux_weight"):
        run_growth_study(other, out, jobs=1, resume=True, console=Console(quiet=True))


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


def _with_play(results, rates: dict[tuple[str, int], tuple[float, int]], small_games: int | None = None):
    """`results` with run-end play records {(condition, seed): (win rate, games)} against alphabeta1."""
    play = [{"condition": c, "seed": s, "step": 10, "mode": "value", "opponent": "alphabeta1", "games": g,
             "win_rate": r, "win_ci_low": 0.0, "win_ci_high": 1.0} for (c, s), (r, g) in rates.items()]
    config = {"small": {"train": {"play": {"games": small_games or 200}}}, "large": {"train": {"play": {"games": 200}}}}
    return parse_results({**results.model_dump(), "play": play, "config": config})


def test_equal_small_sample_play_differences_are_not_called_better():
    losses = {("small-aux", s): (0.5, 2.0) for s in range(3)} | {("large-embed-aux", s): (0.4, 1.8) for s in range(3)}
    rates = {("small-aux", s): (199 / 200, 200) for s in range(3)} | {("large-embed-aux", s): (1.0, 200) for s in range(3)}
    (row,) = source_comparison(_with_play(_results(losses), rates))
    play = row["measures"][-1]
    assert play["name"] == "value player's win rate vs alphabeta1" and play["low"] == play["high"] == pytest.approx(0.005)
    assert play["pooled_interval"][0] < 0 < play["pooled_interval"][1]  # 600/600 against 597/600: Newcombe's interval
    assert play["verdict"] == "no difference shown" and not row["better_on_all"]


def test_play_of_sizes_with_different_settings_is_not_paired():
    losses = {("small-aux", s): (0.5, 2.0) for s in range(3)} | {("large-embed-aux", s): (0.4, 1.8) for s in range(3)}
    rates = {(c, s): (0.5, 200) for c in ("small-aux", "large-embed-aux") for s in range(3)}
    (row,) = source_comparison(_with_play(_results(losses), rates, small_games=100))
    assert [m["name"] for m in row["measures"]] == ["val value loss", "val policy loss"] and not row["play_paired"]


def test_seeds_without_a_partner_are_named():
    losses = {("small-aux", s): (0.5, 2.0) for s in range(3)} | {("large-embed-aux", s): (0.4 - s / 100, 1.8) for s in range(2)}
    (row,) = source_comparison(_results(losses))
    assert row["unpaired_seeds"] == [2] and all(m["n"] == 2 for m in row["measures"])
    assert "Seeds [2] lack a partner" in comparison_sentence(row)


def test_a_broken_sources_file_names_itself(tmp_path):
    (tmp_path / SOURCES_FILE).write_text("{}")
    with pytest.raises(ValueError, match="sources.json"):
        load_source_matches(tmp_path)
    (tmp_path / SOURCES_FILE).write_text(json.dumps({"settings": {}, "matches": [{"condition": "large-embed-aux"}]}))
    with pytest.raises(ValueError, match=r"matches\[0\] lacks \['seed'"):
        load_source_matches(tmp_path)


def test_a_study_without_the_baseline_runs_reports_and_answers_against_the_compute_matched_control(tmp_path):
    from modinterp.studies.growth.gap import late_window_gaps

    config = load_study_config("smoke", ["baseline=false", "gap_n_boot=20"])
    run_growth_study(config, tmp_path, jobs=1, console=Console(quiet=True))
    results = load_results(tmp_path / "results.json")
    assert results.conditions == ["small-aux", "small-noaux", "large-embed-aux", "large-embed-noaux"]
    assert not (tmp_path / "runs" / "large-baseline-s0").exists()
    answer = late_window_gaps(results)
    assert {e["control"] for e in answer["entries"]} == {"compute-matched control"} and not answer["skipped"]
    gap = json.loads((tmp_path / "gap_analysis.json").read_text())
    assert gap["series"] and all("baseline" not in series["label"] for series in gap["series"])
    html = (tmp_path / "report.html").read_text()
    assert "Answer: does the gap persist?" in html and "and the baseline" not in html


def test_a_condition_keeps_its_colour_when_the_baseline_is_left_out():
    from modinterp.studies.growth.plots import condition_colors

    every = condition_colors(["small-aux", "small-noaux", "large-baseline", "large-embed-aux", "large-embed-noaux"])
    without = condition_colors(["small-aux", "small-noaux", "large-embed-aux", "large-embed-noaux"])
    assert all(without[c] == every[c] for c in without) and len(set(without.values())) == 4


def test_differences_are_signed_and_rates_are_not():
    from modinterp.studies.growth.sources import format_measure

    rate = {"mean": 0.62, "low": 0.571, "high": 0.669, "se": 0.01, "reference": 0.5}
    difference = {"mean": -0.06, "low": -0.07, "high": 0.05, "se": 0.01, "reference": 0.0}
    assert format_measure(rate) == "0.620 [0.571, 0.669]"
    assert format_measure(difference) == "-0.060 [-0.070, +0.050]"
    assert format_measure({**difference, "se": math.nan}) == "-0.060 (1 seed)"


def test_the_answer_says_whether_the_trained_concepts_gap_is_specific():
    from modinterp.studies.growth.report import specificity_sentence

    key = lambda c: (c, "compute-matched control", "r2_nonlinear")  # noqa: E731
    by_key = {key("sector"): {"gap": {"mean": 0.16}}, key("safe"): {"gap": {"mean": 0.04}},
              key("mobility"): {"gap": {"mean": 0.08}}}
    assert specificity_sentence("sector", ["safe", "mobility"], by_key) == (
        "Not specific to sector: concepts the aux loss did not train keep a gap too (safe, mobility); the trained "
        "concept's is 2.0 times the largest of theirs (mobility).")
    assert specificity_sentence("sector", [], by_key).endswith("the effect is specific to sector.")
