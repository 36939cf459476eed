"""The board-and-move subject: (board, legal move) pairs, so that a module's effect on the *choice* of move can be
described by what the move does (how many of the opponent's moves it takes away, where it lies), not only by
what the board is like. Inputs are (N, n_cells + 1) int arrays: the board's cells, then the move's code.

Why: the policy head scores moves, so what a policy module does is a ranking of moves; concepts of the board
alone can only say when it matters, not which move it prefers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch

from modinterp.describe.predicates import ConceptTable
from modinterp.describe.subjects import PromptWords, Split
from modinterp.describe.subjects.board import BoardSubject, cell_name
from modinterp.games import domineering as dom

MOVE_WORDS = PromptWords(
    domain=("A neural network plays Domineering, a board game in which the vertical player places 2x1 dominoes and "
            "the horizontal player 1x2 dominoes; whoever cannot move loses. Each example is a board and one legal "
            "move of the player to move."),
    concept="board or move concept",
    examples="boards ('#' occupied, '.' empty, the move's two cells 'V' or 'H')",
    example_predicate="move_blocks_opponent - move_blocks_own > 1",
)

MOVE_CONCEPTS = {  # name: meaning (per pair), evaluated by `move_concepts`
    "move_blocks_opponent": "opponent moves the move takes away (available opponent moves sharing one of its cells)",
    "move_blocks_own": "own moves the move takes away besides itself",
    "move_mobility_gain": "opponent moves taken away minus own moves taken away (1-ply mobility-difference gain)",
    "move_row": "the move's row (mean of its two cells)",
    "move_col": "the move's column (mean of its two cells)",
    "move_border_distance": "cells between the move and the nearest edge of the board",
    "move_occupied_neighbours": "occupied cells next to the move's two cells",
    "move_search_value": "the mover's available moves minus the opponent's after the opponent's best reply to the "
                         "move (a depth-2 search on the guided player's evaluation; a position with no reply left "
                         "counts the mover's moves, one where the mover has none minus the opponent's)",
    "move_search_advantage": "move_search_value minus its mean over the player's legal moves on the same board (how "
                             "much better than an average legal move the search finds it)",
}


def _overlap(spec: dom.BoardSpec) -> np.ndarray:
    """(n_moves, n_moves) bool: the two moves share a cell (a move overlaps itself)."""
    cells = spec.move_cells
    return (cells[:, None, :, None] == cells[None, :, None, :]).any(axis=(2, 3))


def _neighbour_cells(spec: dom.BoardSpec) -> np.ndarray:
    """(n_moves, n_cells) bool: cells orthogonally next to the move's cells, not its own."""
    out = np.zeros((spec.n_moves, spec.n_cells), dtype=bool)
    for m, (a, b) in enumerate(spec.move_cells):
        for cell in (a, b):
            r, c = divmod(int(cell), spec.cols)
            for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                if 0 <= r + dr < spec.rows and 0 <= c + dc < spec.cols:
                    out[m, (r + dr) * spec.cols + c + dc] = True
        out[m, [a, b]] = False
    return out


def move_concepts(spec: dom.BoardSpec, boards: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """(N, len(MOVE_CONCEPTS)) values of the move concepts for each (board, move) pair, in MOVE_CONCEPTS order."""
    boards, moves = dom.as_boards(spec, boards), np.asarray(moves, dtype=np.int64)
    available = dom.available_mask(spec, boards)
    own = spec.move_player[None, :] == spec.move_player[moves][:, None]
    touched = available & _overlap(spec)[moves]
    blocks_opponent = (touched & ~own).sum(1)
    blocks_own = (touched & own).sum(1) - touched[np.arange(len(moves)), moves]  # the move itself is not lost
    rows, cols = np.divmod(spec.move_cells[moves], spec.cols)
    border = np.minimum.reduce([rows, cols, spec.rows - 1 - rows, spec.cols - 1 - cols]).min(1)
    neighbours = (_neighbour_cells(spec)[moves] & (boards != 0)).sum(1)
    value, advantage = move_search_concepts(spec, boards, moves)
    return np.stack([blocks_opponent, blocks_own, blocks_opponent - blocks_own, rows.mean(1), cols.mean(1), border,
                     neighbours, value, advantage], axis=1).astype(np.float64)


def _after(boards: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Copies of `boards` with each row's two `cells` occupied (a move played)."""
    out = np.array(boards, dtype=np.uint8, copy=True)
    index = np.arange(len(out))
    out[index, cells[:, 0]] = 1
    out[index, cells[:, 1]] = 1
    return out


def move_search_values(spec: dom.BoardSpec, boards: np.ndarray, moves: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """(N,) the mover's value of each move by a depth-2 search: the least, over the opponent's replies, of the
    mover's available moves minus the opponent's afterwards. Terminal positions are scored by the same difference
    (no reply left: the mover's available moves; the mover left without a move: minus the opponent's), so a won or
    lost line sits on the scale of the others instead of at the engine search's +/-1e6."""
    boards, moves = np.asarray(boards, dtype=np.uint8), np.asarray(moves, dtype=np.int64)
    movers = spec.move_player[moves]
    children = _after(boards, spec.move_cells[moves])
    mine = spec.move_player[None, :] == movers[:, None]
    available = dom.available_mask(spec, children)
    replies = available & ~mine
    values = np.where(replies.any(1), np.inf, (available & mine).sum(1)).astype(np.float64)  # no reply: a win
    pair, reply = np.nonzero(replies)
    for start in range(0, len(pair), chunk):
        p, r = pair[start:start + chunk], reply[start:start + chunk]
        after = dom.available_mask(spec, _after(children[p], spec.move_cells[r]))
        own = (after & mine[p]).sum(1)
        np.minimum.at(values, p, (own - (after.sum(1) - own)).astype(np.float64))
    return values


def move_search_concepts(spec: dom.BoardSpec, boards: np.ndarray, moves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, advantage) per (board, move) pair: `move_search_values` of the move, and that minus the mean of the
    same value over every legal move of the move's player on the board."""
    if len(moves) == 0:
        return np.zeros(0), np.zeros(0)
    players = spec.move_player[moves]
    pair, legal = np.nonzero(dom.legal_mask(spec, boards, players))
    all_values = move_search_values(spec, boards[pair], legal)
    mean = np.bincount(pair, weights=all_values, minlength=len(moves)) / np.bincount(pair, minlength=len(moves))
    keys, wanted = pair * spec.n_moves + legal, np.arange(len(moves)) * spec.n_moves + moves
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    if not np.array_equal(keys[at], wanted):
        bad = int(np.flatnonzero(keys[at] != wanted)[0])
        raise ValueError(f"pair {bad}: move {int(moves[bad])} is not legal for its player on its board; (board, move) "
                         "pairs must hold legal moves (BoardMoveSubject.with_moves draws them)")
    value = all_values[at]
    return value, value - mean


@dataclass
class BoardMoveSubject:
    """(board, legal move) pairs of `spec`: up to `moves_per_board` legal moves of the player to move per board
    (a seeded draw), with the board concept library plus the move concepts."""

    spec: dom.BoardSpec
    sector: tuple[int, int] = (4, 4)
    first: int = dom.VERTICAL
    moves_per_board: int = 2
    prompt_words: PromptWords = MOVE_WORDS
    boards: BoardSubject = field(init=False)

    def __post_init__(self) -> None:
        self.boards = BoardSubject(self.spec, self.sector, self.first)

    @staticmethod
    def board_part(inputs: np.ndarray) -> np.ndarray:
        """The boards (N, n_cells) uint8 of (board, move) inputs."""
        return np.asarray(inputs)[:, :-1].astype(np.uint8)

    @staticmethod
    def move_part(inputs: np.ndarray) -> np.ndarray:
        """The move codes (N,) of (board, move) inputs."""
        return np.asarray(inputs)[:, -1].astype(np.int64)

    def splits(self, n_groups: int, per_group: int, seed: int, source: str | None = None) -> tuple[Split, Split]:
        """The board subject's splits (disjoint games), each board paired with its sampled legal moves."""
        evidence, heldout = self.boards.splits(n_groups, per_group, seed, source)
        return self.with_moves(evidence, seed), self.with_moves(heldout, seed + 1)

    def with_moves(self, split: Split, seed: int) -> Split:
        """Each board of `split` with up to `moves_per_board` of its legal moves (boards without one dropped)."""
        rng = np.random.default_rng(seed)
        legal = self.boards.legal(split.inputs)
        rows, moves = [], []
        for i, row in enumerate(legal):
            options = np.flatnonzero(row)
            chosen = rng.choice(options, size=min(self.moves_per_board, len(options)), replace=False)
            rows += [i] * len(chosen)
            moves += sorted(int(m) for m in chosen)
        rows = np.asarray(rows, dtype=np.int64)
        inputs = np.concatenate([split.inputs[rows].astype(np.int64), np.asarray(moves, dtype=np.int64)[:, None]], 1)
        return Split(inputs, np.asarray(split.groups)[rows])

    def concept_table(self, inputs: np.ndarray) -> ConceptTable:
        """The board concepts of each pair's board, then the move concepts."""
        table = self.boards.concept_table(self.board_part(inputs))
        values = move_concepts(self.spec, self.board_part(inputs), self.move_part(inputs))
        return ConceptTable(table.names + list(MOVE_CONCEPTS), table.meanings + list(MOVE_CONCEPTS.values()),
                            np.concatenate([table.values, values], axis=1))

    def player(self, inputs: np.ndarray) -> np.ndarray:
        """(N,) the player of each pair's move: the side to move, kept when an occlusion changes the ply parity."""
        return self.spec.move_player[self.move_part(inputs)]

    def tokens(self, model: torch.nn.Module, inputs: np.ndarray) -> torch.Tensor:
        """The tokens of each pair's board, the move's player to move (the move is not an input of the model)."""
        return self.boards.tokens(model, self.board_part(inputs), player=self.player(inputs))

    def legal(self, inputs: np.ndarray) -> np.ndarray:
        """(N, n_moves) bool: the moves the pair's player may play on its board (its own move among them: the
        occlusions never cover it)."""
        return dom.legal_mask(self.spec, self.board_part(inputs), self.player(inputs))

    def render(self, inputs: np.ndarray, index: int) -> str:
        """ASCII picture of pair `index`: '#' occupied, '.' empty, the move's cells 'V' or 'H'."""
        move = int(self.move_part(inputs)[index])
        return dom.render(self.spec, self.board_part(inputs)[index], last_move=move) + f"\nmove: {move_name(self.spec, move)}"

    def occlusions(self, inputs: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        """Each board cell flipped (empty <-> occupied) in every pair, named 'r{row}c{col}'; the move and its
        player are kept, and in pairs whose move covers the cell it stays empty (the move stays legal; those
        pairs count as unchanged)."""
        inputs = np.asarray(inputs, dtype=np.int64)
        covered = self.spec.move_cells[self.move_part(inputs)]
        for cell in range(self.spec.n_cells):
            flipped = inputs.copy()
            flip = ~(covered == cell).any(1)
            flipped[flip, cell] ^= 1
            yield cell_name(self.spec, cell), flipped


def move_name(spec: dom.BoardSpec, move: int) -> str:
    """'vertical r2c3-r3c3' for a move code."""
    a, b = spec.move_cells[move]
    who = "vertical" if spec.move_player[move] == dom.VERTICAL else "horizontal"
    return f"{who} {cell_name(spec, a)}-{cell_name(spec, b)}"
