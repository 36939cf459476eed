"""What a model is run on, and the concepts it is described by: the seam between a game (or text) and the
describe stages.

Only evidence collection holds a `Subject`; describers and scorers see `ModuleEvidence` and `ConceptTable`s,
never boards, so a second subject plugs in without touching them. `BoardSubject` serves Domineering positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, runtime_checkable

import numpy as np
import torch

from modinterp.data.positions import sample_boards
from modinterp.data.store import GameStore
from modinterp.describe.board_concepts import concept_table
from modinterp.describe.predicates import ConceptTable
from modinterp.games import domineering as dom
from modinterp.games.players import random_games
from modinterp.models import board_tokens


@dataclass(frozen=True)
class PromptWords:
    """How an LLM prompt speaks of a subject: what the network does, what a concept and an example are called,
    and an example predicate over the subject's concept names."""

    domain: str
    concept: str
    examples: str
    example_predicate: str


@dataclass
class Split:
    """Inputs of one split and the group (game, document) each comes from; splits never share a group."""

    inputs: np.ndarray
    groups: np.ndarray


@runtime_checkable
class Subject(Protocol):
    """Inputs a model runs on, and their concept library.

    A text subject (a GPT on text) provides the same five things: `splits` draws evidence and held-out inputs
    (token-id arrays (N, T)) from disjoint documents, with a document id per input; `concept_table` evaluates
    the subject's features (token classes, position, counts, ...) on inputs; `tokens` turns inputs into the
    model's input tensor; `render` is the decoded text of one input; `occlusions` replaces each position by a
    pad token in turn, named by its position. `prompt_words` says how an LLM prompt names all this.
    """

    prompt_words: PromptWords

    def splits(self, n_groups: int, per_group: int, seed: int, source: str | None = None) -> tuple[Split, Split]:
        """Evidence and held-out inputs, `per_group` from each of `n_groups` groups per split, groups disjoint."""

    def concept_table(self, inputs: np.ndarray) -> ConceptTable:
        """The subject's concept library evaluated on `inputs`, one column per feature."""

    def tokens(self, model: torch.nn.Module, inputs: np.ndarray) -> torch.Tensor:
        """`inputs` as the model's input tensor, on the model's device."""

    def render(self, inputs: np.ndarray, index: int) -> str:
        """Input `index` as text a person (or an LLM) reads."""

    def occlusions(self, inputs: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        """(name, inputs with that one position occluded) for every input position, in order."""


BOARD_WORDS = PromptWords(
    domain=("A neural network plays Domineering, a board game in which the vertical player places 2x1 dominoes and "
            "the horizontal player 1x2 dominoes; whoever cannot move loses."),
    concept="board concept",
    examples="boards ('#' occupied, '.' empty)",
    example_predicate="mobility_vertical - mobility_horizontal > 2",
)


def assert_disjoint(evidence_ids: np.ndarray, heldout_ids: np.ndarray, what: str = "position") -> None:
    """Fail when the evidence and held-out splits share an id (scores must be on unseen data)."""
    shared = np.intersect1d(np.asarray(evidence_ids), np.asarray(heldout_ids))
    if shared.size:
        raise ValueError(f"evidence and held-out splits share {shared.size} {what} ids (e.g. {shared[:5].tolist()}); split by game so they are disjoint")


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

    def tokens(self, model: torch.nn.Module, inputs: np.ndarray) -> torch.Tensor:
        """BoardTransformer tokens on the model's device; the side to move (if the model takes it) follows from
        the ply parity (every move covers two cells)."""
        cfg = model.config
        player = None
        if cfg.side_to_move:
            ply = np.asarray(inputs).sum(1) // 2
            player = (ply % 2) ^ self.first
        device = next(model.parameters()).device
        return torch.as_tensor(board_tokens(inputs, cfg, player), dtype=torch.long, device=device)

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
