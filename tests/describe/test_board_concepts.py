"""Extra board concepts on hand-made boards with known values."""

import numpy as np
import pytest

from modinterp.describe.subjects.board_concepts import (
    concept_table, dead_cells, exclusive_cells, relative_mobility, safe_moves, side_to_move,
)
from modinterp.games.concepts import CONCEPTS
from modinterp.games.domineering import BoardSpec

SPEC22 = BoardSpec(2, 2)
TOP_ROW_FULL = np.array([[1, 1, 0, 0]], dtype=np.uint8)  # only the bottom horizontal move is left


def test_empty_board_has_no_exclusive_cells_no_safe_moves_and_vertical_to_move():
    empty = np.zeros((1, 9), np.uint8)
    spec = BoardSpec(3, 3)
    assert exclusive_cells(spec, empty).tolist() == [[0, 0]]
    assert safe_moves(spec, empty).tolist() == [[0, 0]]
    assert side_to_move(spec, empty).tolist() == [[1.0]]


def test_cells_only_horizontal_can_cover():
    assert exclusive_cells(SPEC22, TOP_ROW_FULL).tolist() == [[0, 2]]
    assert safe_moves(SPEC22, TOP_ROW_FULL).tolist() == [[0, 1]]


def test_side_to_move_follows_the_ply_parity_and_first_player():
    assert side_to_move(SPEC22, TOP_ROW_FULL).tolist() == [[0.0]]
    assert side_to_move(SPEC22, TOP_ROW_FULL, first=1).tolist() == [[1.0]]


def test_relative_mobility_is_from_the_side_to_move():
    # horizontal to move with 1 move against vertical's 0
    assert relative_mobility(SPEC22, TOP_ROW_FULL).tolist() == [[1.0]]


def test_dead_cells_counts_empty_cells_no_move_can_cover():
    spec = BoardSpec(2, 3)
    board = np.array([[0, 1, 0, 1, 0, 1]], np.uint8)  # every empty cell is walled in
    assert dead_cells(spec, board).tolist() == [[3.0]]


def test_concept_table_holds_the_engine_concepts_and_ours_with_identifier_names():
    spec = BoardSpec(4, 4)
    table = concept_table(spec, np.zeros((3, 16), np.uint8), sector=(2, 2))
    assert "sector_move_difference_1_1" in table.names and "exclusive_cells_vertical" in table.names
    assert all(name.isidentifier() for name in table.names)
    assert table.values.shape == (3, len(table.names))
    assert set(CONCEPTS) <= {n for n in CONCEPTS}  # the engine registry is untouched


def test_concept_table_rejects_unknown_names():
    with pytest.raises(KeyError, match="nope"):
        concept_table(SPEC22, TOP_ROW_FULL, names=["nope"])


def test_every_feature_gets_its_own_short_meaning():
    table = concept_table(BoardSpec(8, 8), np.zeros((1, 64), np.uint8))
    assert table.meaning("mobility_vertical") == "number of legal vertical moves"
    assert table.meaning("sector_occupancy_1_0") == "fraction of sector (row 1, column 0) covered by dominoes"
    assert len(set(table.meanings)) == len(table.meanings)
