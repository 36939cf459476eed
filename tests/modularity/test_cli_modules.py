"""`modinterp modules`: table, dendrogram and modules.json from a run directory or a bare weights file."""

import json

import pytest

from run_dirs import saved_run
from typer.testing import CliRunner

from modinterp.cli import app
from modinterp.modularity.construct import graph_of
from modinterp.models import build_model


def _run_dir(tmp_path):
    return saved_run(tmp_path, build_model("smoke", 4, 4))


def test_modules_command_prints_the_table_and_writes_the_dendrogram(tmp_path):
    result = CliRunner().invoke(app, ["modules", str(_run_dir(tmp_path)), "--k", "2"])
    assert result.exit_code == 0, result.output
    assert "modules (asked for 2)" in result.output
    out = tmp_path / "run" / "final" / "modules"
    assert (out / "dendrogram.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((out / "modules.json").read_text())
    assert sum(m["size"] for m in summary["modules"]) == 20 + 2 + 64 + 49
    assert summary["tree_nontrivial_edges"] == 0 and summary["fallback_used"] is False  # random init: singletons
    (module,) = summary["modules"]
    assert module["strongest_degree"] == pytest.approx(graph_of(build_model("smoke", 4, 4), top_k=16).degrees().max())
    assert "mean-ablation effect" in result.output
    for module in summary["modules"]:  # one module holding every unit: random sets of its kinds are itself
        assert set(module["ablation_effect"]) >= {"value", "policy", "concept_head"}
        assert module["random_ablation_p95"]["value"] == module["ablation_effect"]["value"]
        assert module["counts"] is False and module["n_units"] == 2 + 64


def test_bare_weights_file_needs_preset_and_board(tmp_path):
    weights = _run_dir(tmp_path) / "final" / "model.safetensors"
    (weights.parent / "config.json").unlink()
    result = CliRunner().invoke(app, ["modules", str(weights)])
    assert result.exit_code != 0
    assert "--model-preset" in result.output
    result = CliRunner().invoke(app, ["modules", str(weights), "--model-preset", "smoke", "--board", "4",
                                      "--out", str(tmp_path / "m"), "--no-ablation", "--canonical"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "m" / "modules.json").read_text())
    assert "ablation" not in record and record["canonical"] is True


def test_views_reads_k_modules_as_the_loss_does(tmp_path):
    result = CliRunner().invoke(app, ["modules", str(_run_dir(tmp_path)), "--k", "3", "--views"])
    assert result.exit_code == 0, result.output
    assert "view: each unit's" in result.output and "3 modules (asked for 3)" in result.output
    summary = json.loads((tmp_path / "run" / "final" / "modules" / "modules.json").read_text())
    assert summary["views"] is True and len(summary["modules"]) == 3
    assert summary["fallback_used"] is True  # the full tree holds singleton cuts only: a sparse view chose
    assert summary["ablation"]["n_random"] == 20


def test_graph_adjacent_cuts_the_adjacent_graph_and_a_bad_graph_is_named(tmp_path):
    run = _run_dir(tmp_path)
    result = CliRunner().invoke(app, ["modules", str(run), "--k", "2", "--graph", "adjacent", "--no-ablation",
                                      "--top-k", "0", "--out", str(tmp_path / "adj")])
    assert result.exit_code == 0, result.output
    assert "graph (adjacent couplings)" in result.output
    record = json.loads((tmp_path / "adj" / "modules.json").read_text())
    assert record["graph"] == "adjacent"
    # smoke preset: 1 layer of 2 heads + 64 neurons; the dense adjacent graph holds the edges embeddings -> layer 0
    # -> outputs only (not the embeddings -> outputs, as the full graph does)
    n_in, layer, n_out = 20, 2 + 64, 49
    assert f"{n_in * layer + layer * n_out} edges" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["modules", str(run), "--graph", "dense", "--no-ablation"])
    assert result.exit_code == 2 and "--graph" in result.output and "adjacent" in result.output


def test_ln_std_cuts_the_layer_norm_scaled_graph_records_its_positions_and_refuses_canonical(tmp_path):
    """`--ln-std`: the strongest degree is the scaled graph's (not the raw one's), modules.json names the positions
    that weighed it (kept with --no-ablation), and --canonical with it is refused naming both flags."""
    from modinterp.modularity.construct import ln_std_scaled
    from modinterp.studies.carve.modules import AblationSettings, ablation_data

    run = _run_dir(tmp_path)
    result = CliRunner().invoke(app, ["modules", str(run), "--k", "2", "--ln-std", "--no-ablation", "--n-games", "4",
                                      "--per-game", "2", "--seed", "3", "--out", str(tmp_path / "ln")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "ln" / "modules.json").read_text())
    assert record["ln_std"] == {"n_games": 4, "per_game": 2, "games": None, "seed": 3} and "ablation" not in record
    model = build_model("smoke", 4, 4)
    tokens = ablation_data(model, AblationSettings(4, 2, None, 3)).reference
    scaled_degree = graph_of(ln_std_scaled(model, tokens), top_k=16).degrees().max()
    assert record["modules"][0]["strongest_degree"] == pytest.approx(scaled_degree, rel=1e-5)
    assert scaled_degree != pytest.approx(graph_of(model, top_k=16).degrees().max(), rel=1e-2)
    result = CliRunner().invoke(app, ["modules", str(run), "--ln-std", "--canonical", "--no-ablation"])
    assert result.exit_code != 0 and "--canonical with --ln-std" in result.output
