"""CLI: `modinterp games generate|stats|show|solve` through typer's CliRunner (`demo` is tested with the study)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from modinterp.cli import app
from modinterp.data.store import GameStore

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("games") / "games.npz"
    result = invoke("games", "generate", "--board", "6x5", "--random", "40", "--seed", "3", "--out", str(path))
    assert result.exit_code == 0, result.output
    return path


def test_generate_writes_a_valid_store_with_the_requested_games(store_path):
    store = GameStore.load(store_path)
    assert (store.spec.rows, store.spec.cols, store.n_games) == (6, 5, 40)
    assert store.seed == 3 and store.generator["sources"][0]["name"] == "random"


def test_generate_mixes_random_and_guided_games(tmp_path):
    path = tmp_path / "mixed.npz"
    result = invoke("games", "generate", "--board", "5x5", "--random", "6", "--guided", "3", "--seed", "1",
                    "--opening-plies", "2", "--epsilon", "0.5", "--out", str(path))
    assert result.exit_code == 0, result.output
    store = GameStore.load(path)
    assert store.sources.tolist() == [0] * 6 + [1] * 3
    guided = store.generator["sources"][1]
    assert (guided["name"], guided["n_games"], guided["opening_plies"], guided["epsilon"]) == ("guided", 3, 2, 0.5)
    assert guided["seed"] != store.generator["sources"][0]["seed"]


def test_generate_is_reproducible_from_the_seed(store_path, tmp_path):
    again = tmp_path / "again.npz"
    assert invoke("games", "generate", "--board", "6x5", "--random", "40", "--seed", "3", "--out", str(again)).exit_code == 0
    assert (GameStore.load(again).moves == GameStore.load(store_path).moves).all()


def test_generate_with_another_seed_gives_other_games(store_path, tmp_path):
    other = tmp_path / "other.npz"
    assert invoke("games", "generate", "--board", "6x5", "--random", "40", "--seed", "4", "--out", str(other)).exit_code == 0
    assert not np.array_equal(GameStore.load(other).moves, GameStore.load(store_path).moves)


@pytest.mark.parametrize("board", ["8", "8y8", "1x8", "17x4"])
def test_generate_rejects_bad_board_values_clearly(board, tmp_path):
    result = runner.invoke(app, ["games", "generate", "--board", board, "--random", "1", "--out", str(tmp_path / "g.npz")])
    assert result.exit_code == 2
    assert "--board" in result.output and board in result.output


def test_generate_requires_some_games(tmp_path):
    result = runner.invoke(app, ["games", "generate", "--out", str(tmp_path / "g.npz")])
    assert result.exit_code == 2 and "nothing to generate" in result.output


def test_stats_json_reports_counts_and_splits(store_path):
    result = invoke("games", "stats", str(store_path), "--json")
    figures = json.loads(result.output)
    store = GameStore.load(store_path)
    assert figures["board"] == "6x5" and figures["n_games"] == 40
    assert sum(figures["splits"].values()) == 40
    assert figures["groups"]["all"]["length_mean"] == pytest.approx(store.lengths.mean())


def test_stats_table_names_the_board(store_path):
    result = invoke("games", "stats", str(store_path))
    assert "40 games on 6x5" in result.output and "random" in result.output


def test_stats_on_a_damaged_file_names_the_file(store_path, tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(store_path.read_bytes()[:100])
    result = runner.invoke(app, ["games", "stats", str(broken)])
    assert result.exit_code == 2 and "broken.npz" in result.output and "truncated" in result.output


def test_show_renders_the_position_after_k_moves(store_path):
    result = invoke("games", "show", str(store_path), "--game", "2", "--ply", "3")
    lines = result.output.splitlines()
    assert lines[0].startswith("game 2, ply 3/") and "horizontal to move" in lines[0]
    grid = lines[2:]
    assert len(grid) == 6
    cells = "".join(line[3:].replace(" ", "") for line in grid)
    assert sum(ch != "." for ch in cells) == 6 and sum(ch.isupper() for ch in cells) == 2


def test_show_rejects_a_ply_beyond_the_game(store_path):
    result = runner.invoke(app, ["games", "show", str(store_path), "--game", "0", "--ply", "99"])
    assert result.exit_code == 2 and "ply 99" in result.output


def test_solve_json_has_the_agreed_shape():
    # 2x2: whoever moves first takes the only domino of their orientation and leaves the other side none.
    result = invoke("games", "solve", "2x2", "--json")
    assert json.loads(result.output) == {"board": "2x2", "vertical_first": "vertical", "horizontal_first": "horizontal"}
    assert result.output.startswith('{"board": "2x2", "vertical_first"')


def test_solve_rejects_bad_board():
    result = runner.invoke(app, ["games", "solve", "2by2"])
    assert result.exit_code == 2 and "2by2" in result.output


def test_solve_gives_up_with_a_clear_error_when_the_node_budget_is_spent():
    result = runner.invoke(app, ["games", "solve", "8x8", "--node-limit", "1000"])
    assert result.exit_code == 2 and "gave up" in result.output and "node_limit" in result.output
