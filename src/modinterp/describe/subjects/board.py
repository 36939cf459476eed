"""The board subject: Domineering positions (boards of 0/1 cells), their tokens for a BoardTransformer, and
the board concept library of `board_concepts.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from modinterp.data.positions import sample_boards
from modinterp.data.store import GameStore
from modinterp.describe.predicates import ConceptTable
from modinterp.describe.subjects import PromptWords, Split, assert_disjoint
from modinterp.describe.subjects.board_concepts import concept_table
from modinterp.games import domineering as dom
from modinterp.games.players import random_games
from modinterp.models import board_tokens


BOARD_WORDS = PromptWords(
    domain=("A neural network plays Domineering, a board game in which the vertical player places 2x1 dominoes and "
            "the horizontal player 1x2 dominoes; whoever cannot move loses."),
    concept="board concept",
    examples="boards ('#' occupied, '.' empty)",
    example_predicate="mobility_vertical - mobility_horizontal > 2",
)


def cell_name(spec: dom.BoardSpec, cell: int) -> str:
    """'r3c5' for flat cell index 3*cols + 5."""
    r, c = divmod(int(cell), spec.cols)
    return f"r{r}c{c}"


@dataclass
class BoardSubject:
    """Domineering positions of `spec`: boards (B, n_cells) of 0/1, the board concept library with `sector`."""

    spec: dom.BoardSpec
    sector: tuple[int, int] = (4, 4)
    first: int = dom.VERTICAL
    prompt_words: PromptWords = BOARD_WORDS

    def splits(self, n_groups: int, per_group: int, seed: int, source: str | None = None) -> tuple[Split, Split]:
        """Evidence and held-out boards, `per_group` of each of `n_groups` games per split: the val and test games
        of the GameStore at `source`, or else `2 * n_groups` fresh random games (seed `seed`)."""
        if source is not None:
            store = GameStore.load(source)
            if (store.spec.rows, store.spec.cols) != (self.spec.rows, self.spec.cols):
                raise ValueError(f"{source}: games are {store.spec}, the model plays {self.spec}; pass games of the model's board")
            moves, lengths = store.moves, store.lengths
            ev_games, ho_games = store.split_indices("val")[:n_groups], store.split_indices("test")[:n_groups]
        else:
            records = random_games(self.spec, 2 * n_groups, seed=seed)
            moves, lengths = records.moves, records.lengths
            ev_games, ho_games = np.arange(n_groups), np.arange(n_groups, 2 * n_groups)
        rng = np.random.default_rng(seed)
        evidence = Split(*sample_boards(self.spec, moves, lengths, ev_games, per_group, rng))
        heldout = Split(*sample_boards(self.spec, moves, lengths, ho_games, per_group, rng))
        assert_disjoint(evidence.groups, heldout.groups, what="game")
        return evidence, heldout

    def sample(self, n_games: int, per_game: int, seed: int) -> Split:
        """`per_game` boards of each of `n_games` fresh random games (seed `seed`); groups are game indices."""
        games = random_games(self.spec, n_games, seed=seed)
        return Split(*sample_boards(self.spec, games.moves, games.lengths, np.arange(n_games), per_game,
                                    np.random.default_rng(seed)))

    def concept_table(self, inputs: np.ndarray) -> ConceptTable:
        """The board concept library (engine concepts and describe's own) on `inputs`."""
        return concept_table(self.spec, inputs, self.sector, self.first)

    def tokens(self, model: torch.nn.Module, inputs: np.ndarray, player: np.ndarray | None = None) -> torch.Tensor:
        """BoardTransformer tokens on the model's device; the side to move (if the model takes it) is `player`,
        else follows from the ply parity (every move covers two cells)."""
        cfg = model.config
        if cfg.side_to_move:
            player = self.to_move(inputs) if player is None else np.asarray(player)
        else:
            player = None
        device = next(model.parameters()).device
        return torch.as_tensor(board_tokens(inputs, cfg, player), dtype=torch.long, device=device)

    def to_move(self, inputs: np.ndarray) -> np.ndarray:
        """The player to move on each board (B,), from the ply parity: every move covers two cells."""
        return (np.asarray(inputs).sum(1) // 2 % 2) ^ self.first

    def legal(self, inputs: np.ndarray) -> np.ndarray:
        """(B, n_moves) bool: the legal moves of the player to move on each board."""
        return dom.legal_mask(self.spec, np.asarray(inputs), self.to_move(inputs))

    def render(self, inputs: np.ndarray, index: int) -> str:
        """ASCII picture of board `index` ('#' occupied, '.' empty)."""
        return dom.render(self.spec, inputs[index])

    def occlusions(self, inputs: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        """Each cell flipped (empty <-> occupied) on every board, in cell order, named 'r{row}c{col}'."""
        inputs = np.asarray(inputs, dtype=np.uint8)
        for cell in range(self.spec.n_cells):
            flipped = inputs.copy()
            flipped[:, cell] ^= 1
            yield cell_name(self.spec, cell), flipped
