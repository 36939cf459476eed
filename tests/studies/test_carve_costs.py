"""The capability cost of runs against baselines of the same seeds (studies/carve/costs.py, `modinterp compare`)."""

from __future__ import annotations

import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from modinterp.analysis.late_window import seed_interval
from modinterp.analysis.paired import newcombe_interval
from modinterp.cli import app
from modinterp.data.store import GameStore
from modinterp.games.domineering import BoardSpec
from modinterp.games.players import random_games
from modinterp.studies.carve.costs import CostError, compare_runs, print_costs, run_figures

PLAY = {"games": 400, "opening_plies": 4, "seed": 0, "opponents": ["alphabeta:1"], "modes": ["value"], "every": 1500}


def fake_run(root, name, seed, value_loss, policy_loss, wins, *, overrides=None, status="complete", positions=1000,
             progress=False, play=PLAY, games_digest="0123456789abcdef", **settings):
    """A run folder as `modinterp train` leaves it: manifest.json (config, status) and metrics.jsonl, whose last
    val_full and play records carry the given figures (earlier records carry others, which must be ignored)."""
    path = root / name
    path.mkdir()
    train = {"seed": seed, "progress": progress, "steps": 3000, "lr": 1e-3, "full_val_every": 1000, "play": play,
             "model": {"preset": "cpu-large", "overrides": overrides or {}}, "modularity": None, **settings}
    (path / "manifest.json").write_text(json.dumps({"status": status, "config": {"train": train},
                                                    "games_digest": games_digest}))
    games = play["games"]
    lines = [{"split": "val_full", "step": 1000, "value_loss": 9.0, "policy_loss": 9.0, "n_positions": positions},
             {"split": "val_full", "step": 3000, "value_loss": value_loss, "policy_loss": policy_loss,
              "n_positions": positions},
             {"split": "play", "step": 1500, "value_vs_alphabeta1/win_rate": 0.0},
             {"split": "play", "step": 3000, "value_vs_alphabeta1/win_rate": wins / games}]
    (path / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def modules_json(run, name, edges, *, partition="tree", graph="all", canonical=False, counts=(), top_k=16,
                 ln_std=None):
    folder = run / "final" / name
    folder.mkdir(parents=True)
    modules = [{"n_units": 10, "counts": c} for c in counts] + [{"n_units": 0, "counts": False}]
    record = {"graph": graph, "canonical": canonical, "partition": partition, "top_k": top_k, "views": False,
              "tree_nontrivial_edges": edges, "modules": modules}
    if ln_std is not None:  # files written before --ln-std have no such key
        record["ln_std"] = ln_std
    if counts:
        record["ablation"] = {"n_random": 20}
    (folder / "modules.json").write_text(json.dumps(record))


@pytest.fixture
def two_seeds(tmp_path):
    bases = [fake_run(tmp_path, "lam0", 0, 0.40, 1.40, 240), fake_run(tmp_path, "lam0-s1", 1, 0.50, 1.50, 260)]
    runs = [fake_run(tmp_path, "mod", 0, 0.44, 1.47, 200, overrides={"n_modules": 2}),
            fake_run(tmp_path, "mod-s1", 1, 0.45, 1.56, 220, overrides={"n_modules": 2})]
    return runs, bases


def test_costs_are_relative_per_seed_with_t_intervals_and_pooled_win_rates(two_seeds):
    runs, bases = two_seeds
    (row,) = compare_runs(runs, bases)
    value, policy, rate = row["measures"]
    assert row["condition"] == "mod" and row["seeds"] == [0, 1]
    assert value["per_seed"] == {"0": pytest.approx(0.10), "1": pytest.approx(-0.10)}  # 0.44 / 0.40 - 1, 0.45 / 0.50 - 1
    expected = seed_interval([0.10, -0.10])
    assert (value["mean"], value["low"], value["high"]) == pytest.approx((0.0, expected.low, expected.high))
    assert policy["per_seed"] == {"0": pytest.approx(0.05), "1": pytest.approx(0.04)}
    assert rate["per_seed"] == {"0": pytest.approx(-0.1), "1": pytest.approx(-0.1)}  # 200/400 - 240/400, 220/400 - 260/400
    assert rate["pooled_interval"] == pytest.approx(list(newcombe_interval(420, 800, 500, 800)))
    assert rate["relative_cost"] == pytest.approx(0.1 / 0.625)  # 420/800 against 500/800
    check = row["ceiling_check"]
    assert check["costs"] == {"value loss cost": pytest.approx(0.0), "policy loss cost": pytest.approx(0.045),
                              "value_vs_alphabeta1 win rate": pytest.approx(0.16)}
    assert not check["within"] and not check["shown_within"]
    assert compare_runs(runs, bases, ceiling=0.2)[0]["ceiling_check"]["within"]


def test_a_cost_within_the_ceiling_is_shown_only_when_every_interval_is(tmp_path):
    bases = [fake_run(tmp_path, f"b{s}", s, 0.40, 1.40, 240) for s in range(3)]
    runs = [fake_run(tmp_path, f"m{s}", s, 0.40 * (1.01 + 0.001 * s), 1.40 * 1.02, 240, overrides={"x": 1})
            for s in range(3)]
    check = compare_runs(runs, bases)[0]["ceiling_check"]
    assert check["within"]
    assert not check["shown_within"]  # 720 of 1,200 games each: Newcombe's interval reaches below -0.03, a 5% cost
    assert check["worst_in_interval"]["value loss cost"] < 0.05


def test_runs_group_by_settings_without_the_seed_bookkeeping_and_evaluation_cadence(tmp_path):
    bases = [fake_run(tmp_path, "lam0", 0, 0.4, 1.4, 240), fake_run(tmp_path, "lam0-s1", 1, 0.4, 1.4, 240)]
    runs = [fake_run(tmp_path, "a", 0, 0.4, 1.4, 240, overrides={"bus_width": 4}),
            fake_run(tmp_path, "b", 0, 0.4, 1.4, 240, overrides={"bus_width": 8}),
            fake_run(tmp_path, "a-s1", 1, 0.4, 1.4, 240, overrides={"bus_width": 4}, progress=True, full_val_every=500,
                     play={**PLAY, "every": 500})]
    rows = compare_runs(runs, bases)
    assert [(r["condition"], r["seeds"]) for r in rows] == [("a", [0, 1]), ("b", [0])]
    renamed = fake_run(tmp_path, "b-s1", 1, 0.4, 1.4, 240, overrides={"bus_width": 4, "bus_writer": 1})
    with pytest.raises(CostError, match=r"named as one condition but trained otherwise .*model.overrides.bus_width"):
        compare_runs([runs[1], renamed], bases)


def test_a_baseline_trained_otherwise_than_its_run_beyond_the_model_is_refused(tmp_path):
    bases = [fake_run(tmp_path, "lam0", 0, 0.4, 1.4, 240), fake_run(tmp_path, "lam0-s1", 1, 0.4, 1.4, 240, lr=1e-2)]
    run = fake_run(tmp_path, "mod", 0, 0.4, 1.4, 240, overrides={"n_modules": 2}, modularity={"lam": 1.0})
    assert compare_runs([run], bases[:1])[0]["seeds"] == [0]  # the model and the modularity loss may differ
    with pytest.raises(CostError, match=r"baselines .*lam0 and .*lam0-s1 were trained otherwise \(lr differ\)"):
        compare_runs([run], bases)
    longer = fake_run(tmp_path, "longer", 0, 0.4, 1.4, 240, steps=6000)
    with pytest.raises(CostError, match=r"differ in steps, beyond the model"):
        compare_runs([longer], bases[:1])


def test_one_seed_has_costs_but_no_interval_and_strict_json(tmp_path):
    (row,) = compare_runs([fake_run(tmp_path, "m", 0, 0.41, 1.4, 240, overrides={"x": 1})],
                          [fake_run(tmp_path, "b", 0, 0.40, 1.4, 240)])
    assert row["ceiling_check"]["within"] and row["ceiling_check"]["shown_within"] is None
    assert row["measures"][0]["low"] is None and row["measures"][0]["mean"] == pytest.approx(0.025)
    json.loads(json.dumps(row, allow_nan=False))


def test_tree_edges_and_counting_modules_come_from_the_raw_full_graph_outputs(two_seeds):
    runs, bases = two_seeds
    modules_json(runs[0], "modules_tree", 1)
    modules_json(runs[0], "modules_masks", 1, partition="masks", counts=(True, False))
    modules_json(runs[0], "modules_canonical", 5, canonical=True)  # another graph: not this figure
    modules_json(runs[0], "modules_adjacent", 7, graph="adjacent")
    modules_json(runs[0], "modules_top32", 9, top_k=32)
    (row,) = compare_runs(runs, bases)
    assert row["tree_nontrivial_edges"] == {0: 1, 1: None}
    assert row["modules_counting"] == {0: [1, 2], 1: None}
    modules_json(runs[1], "modules_tree", 0)
    modules_json(runs[1], "modules_other", 3)
    with pytest.raises(CostError, match="disagree on the tree's non-trivial edges"):
        run_figures(runs[1])


def test_ln_std_reads_the_tree_of_the_layer_norm_scaled_graph_and_the_same_counting_modules(two_seeds):
    """`--ln-std` picks the tree edges of `modinterp modules --ln-std` outputs; raw-gain files (with ln_std false or
    written before the key existed) are the default's. The masks' counting modules do not depend on the graph."""
    runs, bases = two_seeds
    modules_json(runs[0], "modules_masks", 0, partition="masks", counts=(True, True))
    modules_json(runs[0], "modules_masks_ln", 1, partition="masks", ln_std=True)
    modules_json(runs[1], "modules_tree", 0, ln_std=False)
    (row,) = compare_runs(runs, bases)
    assert row["tree_nontrivial_edges"] == {0: 0, 1: 0} and row["modules_counting"] == {0: [2, 2], 1: None}
    (row,) = compare_runs(runs, bases, ln_std=True)
    assert row["tree_nontrivial_edges"] == {0: 1, 1: None} and row["modules_counting"] == {0: [2, 2], 1: None}


def test_bad_runs_are_refused_naming_the_file_and_the_fix(tmp_path, two_seeds):
    runs, bases = two_seeds
    with pytest.raises(CostError, match=r"no baseline of seed 1 .*--set seed=1"):
        compare_runs(runs, bases[:1])
    unfinished = fake_run(tmp_path, "half", 0, 0.4, 1.4, 240, status="running")
    with pytest.raises(CostError, match=r"half/manifest.json: status is 'running'.*--resume"):
        compare_runs([unfinished], bases)
    other_games = fake_run(tmp_path, "other", 0, 0.4, 1.4, 240, positions=999)
    with pytest.raises(CostError, match="different games"):
        compare_runs([other_games], bases)
    other_store = fake_run(tmp_path, "other-store", 0, 0.4, 1.4, 240, games_digest="fedcba9876543210")
    with pytest.raises(CostError, match=r"trained on different games \(games_digest fedcba9876543210 against"):
        compare_runs([other_store], bases)
    older = fake_run(tmp_path, "older", 0, 0.4, 1.4, 240, games_digest=None)  # a manifest from before the digest
    assert compare_runs([older], bases[:1])[0]["seeds"] == [0]
    other_play = fake_run(tmp_path, "other-play", 0, 0.4, 1.4, 240, play={**PLAY, "opening_plies": 2})
    with pytest.raises(CostError, match="play settings differ"):
        compare_runs([other_play], bases)
    with pytest.raises(CostError, match="share seed 0"):
        compare_runs(runs, [bases[0], bases[0]])
    with pytest.raises(CostError, match="no manifest.json"):
        compare_runs([tmp_path / "missing"], bases)


def test_compare_command_prints_the_costs_and_writes_json(tmp_path, two_seeds):
    runs, bases = two_seeds
    out = tmp_path / "costs.json"
    args = ["compare", *map(str, runs), *(a for b in bases for a in ("--baseline", str(b))), "--out", str(out)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "140"})
    assert result.exit_code == 0, result.output
    assert "value loss cost" in result.output and "+10.0%, -10.0%" in result.output and "against lam0, lam0-s1" in result.output
    assert "within the 5% ceiling: no on the point estimates" in result.output
    assert json.loads(out.read_text())[0]["condition"] == "mod"
    missing = CliRunner().invoke(app, ["compare", str(runs[1]), "--baseline", str(bases[0])])
    assert missing.exit_code == 2 and "no baseline of seed 1" in missing.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "--overwrite" in again.output


@pytest.fixture(scope="module")
def games_path(tmp_path_factory):
    spec = BoardSpec(6, 6)
    path = tmp_path_factory.mktemp("games") / "games.npz"
    GameStore.from_records(spec, random_games(spec, 300, seed=11), seed=11).save(path)
    return path


def test_a_real_training_against_itself_costs_nothing(tmp_path, games_path):
    """A real run folder (manifest, metrics, play evaluation) reads: a run against itself costs exactly nothing."""
    train = ["train", "--preset", "smoke", "--games", str(games_path), "--steps", "8", "--set", "progress=false",
             "--set", "positions.concept_kwargs={sector=[3,3]}", "--set", "val_positions.concept_kwargs={sector=[3,3]}",
             "--set", "play.every=8", "--set", "play.games=4", "--set", "play.opening_plies=2"]
    result = CliRunner().invoke(app, [*train, "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["games_digest"] == GameStore.load(games_path).digest()
    (row,) = compare_runs([tmp_path / "a"], [tmp_path / "a"])
    assert all(m["mean"] == 0 for m in row["measures"]) and len(row["measures"]) > 2
    check = row["ceiling_check"]
    assert check["within"] and set(check["costs"]) | set(check["no_relative_cost"]) == {m["name"] for m in row["measures"]}
    assert check["shown_within"] is None  # one seed: no interval over seeds


def test_a_win_rate_the_baseline_never_won_has_no_relative_cost(tmp_path):
    (row,) = compare_runs([fake_run(tmp_path, "m", 0, 0.4, 1.4, 3)], [fake_run(tmp_path, "b", 0, 0.4, 1.4, 0)])
    assert row["measures"][-1]["relative_cost"] is None
    assert row["ceiling_check"]["no_relative_cost"] == ["value_vs_alphabeta1 win rate"] and row["ceiling_check"]["within"]
    console = Console(record=True, width=200)
    print_costs(console, [row])
    assert "left out, no baseline win to lose: value_vs_alphabeta1 win rate" in console.export_text()


def play_json(run, name, wins, games, *, seed=1, mode="value", opponent="alphabeta:1", opening_plies=4):
    """A file as `modinterp play RUN@MODE --against OPPONENT --out` writes it."""
    file = run / name
    file.parent.mkdir(parents=True, exist_ok=True)
    result = {"a": f"{run}@{mode}", "b": opponent, "n_games": games, "wins": wins, "win_rate": wins / games,
              "seed": seed, "opening_plies": opening_plies}
    file.write_text(json.dumps({"network": str(run), "mode": mode, "board": "8x8", "results": [result]}))
    return name


def test_extra_play_files_pool_their_games_with_the_training_evaluation(two_seeds):
    runs, bases = two_seeds
    for path, wins in zip(runs + bases, (500, 560, 620, 640)):
        play_json(path, "final/play-s1.json", wins, 1000)
    (row,) = compare_runs(runs, bases, extra_play=["final/play-s1.json"])
    rate = row["measures"][2]
    # run seed 0: (200 + 500) / 1400 against (240 + 620) / 1400; seed 1: (220 + 560) against (260 + 640)
    assert rate["per_seed"] == {"0": pytest.approx((700 - 860) / 1400), "1": pytest.approx((780 - 900) / 1400)}
    assert rate["pooled_interval"] == pytest.approx(list(newcombe_interval(1480, 2800, 1760, 2800)))
    assert rate["games"] == {"runs": 2800, "baselines": 2800}
    assert rate["relative_cost"] == pytest.approx((1760 - 1480) / 1760)
    # without the files, the training's evaluation alone
    assert compare_runs(runs, bases)[0]["measures"][2]["games"] == {"runs": 800, "baselines": 800}
    args = ["compare", *map(str, runs), *(a for b in bases for a in ("--baseline", str(b))),
            "--extra-play", "final/play-s1.json"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "(pooled, 2800 games)" in result.output


def test_extra_play_files_must_be_new_games_of_the_same_kind_under_every_run(two_seeds):
    runs, bases = two_seeds
    for path in runs + bases[:1]:
        play_json(path, "p.json", 300, 600)
    with pytest.raises(CostError, match=r"lam0-s1/p.json: not found; write it with `modinterp play"):
        compare_runs(runs, bases, extra_play=["p.json"])
    play_json(bases[1], "p.json", 300, 400)  # fewer games than the runs' files: the win rates do not pair
    with pytest.raises(CostError, match="play settings differ"):
        compare_runs(runs, bases, extra_play=["p.json"])
    for path in runs + bases:
        play_json(path, "same-openings.json", 300, 600, seed=0)
        play_json(path, "plies.json", 300, 600, opening_plies=6)
        play_json(path, "policy.json", 300, 600, mode="policy")
    with pytest.raises(CostError, match="openings of seed 0, which the training's evaluation or another"):
        compare_runs(runs, bases, extra_play=["same-openings.json"])
    with pytest.raises(CostError, match="opens with 6 random plies, the training's evaluation with 4"):
        compare_runs(runs, bases, extra_play=["plies.json"])
    with pytest.raises(CostError, match="policy_vs_alphabeta1, which the training's evaluation did not play"):
        compare_runs(runs, bases, extra_play=["policy.json"])
    with pytest.raises(CostError, match="another --extra-play file already played"):
        compare_runs(runs, bases, extra_play=["p.json", "p.json"])
    for path in runs + bases:  # a file that says policy for games the value player played
        file = path / play_json(path, "mislabelled.json", 300, 600, mode="policy")
        record = json.loads(file.read_text())
        record["results"][0]["a"] = f"{path}@value"
        file.write_text(json.dumps(record))
    with pytest.raises(CostError, match="mode 'policy' but its player is .*@value'"):
        compare_runs(runs, bases, extra_play=["mislabelled.json"])
