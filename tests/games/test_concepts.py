"""Concepts: known values on the empty board, agreement with direct counting, registry shape contract."""

from __future__ import annotations

import numpy as np
import pytest

from modinterp.games import concepts, domineering as dom


def test_sector_move_difference_on_empty_16x16_matches_the_original():
    spec = dom.BoardSpec(16, 16)
    grid = concepts.sector_move_difference(spec, dom.initial_boards(spec, 1)).reshape(4, 4)
    expected = np.zeros((4, 4))
    expected[:3, 3] = 4  # right column: 16 vertical vs 12 horizontal moves
    expected[3, :3] = -4  # bottom row: 12 vertical vs 16 horizontal
    assert grid.tolist() == expected.tolist()  # bottom-right: 12 vs 12 = 0


def test_sector_move_difference_sums_to_the_global_difference(games_8x8):
    spec = dom.BoardSpec(8, 8)
    boards = dom.replay_boards(spec, games_8x8[0], np.arange(50), games_8x8[1][:50] // 2)
    per_sector = concepts.sector_move_difference(spec, boards, sector=(3, 3))
    assert per_sector.shape == (50, 9)
    assert np.allclose(per_sector.sum(1), concepts.move_difference(spec, boards)[:, 0])


def test_sector_move_difference_counts_moves_by_anchor_cell_directly(games_8x8):
    spec = dom.BoardSpec(8, 8)
    boards = dom.replay_boards(spec, games_8x8[0], np.arange(10), games_8x8[1][:10] // 3)
    got = concepts.sector_move_difference(spec, boards, sector=(4, 4))
    for b, board in enumerate(boards.reshape(10, 8, 8)):
        expected = np.zeros((2, 2))
        for r in range(8):
            for c in range(8):
                if r < 7 and not board[r, c] and not board[r + 1, c]:
                    expected[r // 4, c // 4] += 1
                if c < 7 and not board[r, c] and not board[r, c + 1]:
                    expected[r // 4, c // 4] -= 1
        assert got[b].tolist() == expected.ravel().tolist()


def test_ragged_sectors_cover_the_whole_board():
    spec = dom.BoardSpec(5, 7)
    assert concepts.sector_grid(spec, (2, 3)) == (3, 3)
    occupancy = concepts.sector_occupancy(spec, np.ones((1, spec.n_cells), np.uint8), sector=(2, 3))
    assert occupancy.tolist() == [[1.0] * 9]


def test_sector_occupancy_is_fraction_covered():
    spec = dom.BoardSpec(4, 4)
    boards, _ = dom.play(spec, dom.initial_boards(spec, 1), [0], [0])  # cells (0,0) and (1,0)
    assert concepts.sector_occupancy(spec, boards, sector=(2, 2)).tolist() == [[0.5, 0.0, 0.0, 0.0]]


def test_mobility_counts_legal_moves_per_player():
    spec = dom.BoardSpec(3, 3)
    boards, _ = dom.play(spec, dom.initial_boards(spec, 1), [0], [1])  # V at column 1, rows 0-1
    # vertical: columns 0 and 2 keep 2 each, column 1 none -> 4; horizontal: only row 2 is free -> 2
    assert concepts.mobility(spec, boards).tolist() == [[4, 2]]


def test_bad_sector_is_rejected():
    with pytest.raises(ValueError, match="sector="):
        concepts.sector_move_difference(dom.BoardSpec(4, 4), dom.initial_boards(dom.BoardSpec(4, 4)), sector=(0, 2))


@pytest.mark.parametrize("name", sorted(concepts.CONCEPTS))
def test_every_concept_returns_float32_with_one_named_column_per_output(name, games_8x8):
    spec = dom.BoardSpec(8, 8)
    boards = dom.replay_boards(spec, games_8x8[0], np.arange(7), np.full(7, 5))
    values = concepts.compute_concept(name, spec, boards)
    concept = concepts.CONCEPTS[name]
    assert values.dtype == np.float32 and values.shape == (7, len(concept.output_names(spec)))
    assert concept.meaning and concept.name == name


def test_unknown_concept_lists_known_ones():
    with pytest.raises(KeyError, match="known concepts"):
        concepts.compute_concept("nope", dom.BoardSpec(4, 4), dom.initial_boards(dom.BoardSpec(4, 4)))


def test_safe_moves_on_a_hand_checked_board():
    spec = dom.BoardSpec(3, 3)
    boards, _ = dom.play(spec, dom.initial_boards(spec, 1), [0], [1])  # V covers (0,1) and (1,1)
    # vertical: column 0 and column 2 rows 0-1 are walled in on both sides (safe); rows 1-2 meet the free row 2.
    # horizontal: both row-2 moves can be blocked by a vertical move in column 0 or 2 rows 1-2.
    assert concepts.safe_moves(spec, boards).tolist() == [[2, 0]]
    assert concepts.safe_moves(spec, dom.initial_boards(spec, 1)).tolist() == [[0, 0]]


def _safe_moves_by_definition(spec, board):
    """Count, move by move, the available moves that no available move of the other orientation overlaps."""
    available = dom.available_mask(spec, board[None])[0]
    counts = [0, 0]
    for move in np.flatnonzero(available):
        cells = set(spec.move_cells[move].tolist())
        rivals = [m for m in np.flatnonzero(available) if spec.move_player[m] != spec.move_player[move]]
        if not any(cells & set(spec.move_cells[m].tolist()) for m in rivals):
            counts[int(spec.move_player[move])] += 1
    return counts


def test_safe_moves_agree_with_the_definition_move_by_move(games_8x8):
    spec = dom.BoardSpec(8, 8)
    boards = dom.replay_boards(spec, games_8x8[0], np.arange(12), games_8x8[1][:12] * 2 // 3)
    got = concepts.safe_moves(spec, boards)
    assert got.tolist() == [_safe_moves_by_definition(spec, board) for board in boards]
    assert got.sum() > 0 and (got <= concepts.mobility(spec, boards)).all()


def test_sector_mobility_splits_the_sector_difference_by_player(games_8x8):
    spec = dom.BoardSpec(8, 8)
    boards = dom.replay_boards(spec, games_8x8[0], np.arange(20), games_8x8[1][:20] // 2)
    per_player = concepts.sector_mobility(spec, boards, sector=(3, 3))
    vertical, horizontal = per_player[:, :9], per_player[:, 9:]
    assert np.array_equal(vertical - horizontal, concepts.sector_move_difference(spec, boards, sector=(3, 3)))
    assert np.array_equal(np.stack([vertical.sum(1), horizontal.sum(1)], 1), concepts.mobility(spec, boards))
    names = concepts.CONCEPTS["sector_mobility"].output_names(spec, sector=(3, 3))
    assert names[0] == "sector_mobility_vertical[0,0]" and names[9] == "sector_mobility_horizontal[0,0]"
