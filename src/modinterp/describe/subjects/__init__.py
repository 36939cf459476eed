"""What a model is run on, and the concepts it is described by: the seam between a game (or text) and the
describe stages.

Only evidence collection holds a `Subject`; describers and scorers see `ModuleEvidence` and `ConceptTable`s,
never boards, so a second subject plugs in without touching them. `board.BoardSubject` serves Domineering
positions; a text subject would live beside it in `text.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Protocol, runtime_checkable

import numpy as np

from modinterp.describe.predicates import ConceptTable

if TYPE_CHECKING:  # annotations only: the protocol itself needs no torch
    import torch


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


def assert_disjoint(evidence_ids: np.ndarray, heldout_ids: np.ndarray, what: str = "position") -> None:
    """Fail when the evidence and held-out splits share an id (scores must be on unseen data)."""
    shared = np.intersect1d(np.asarray(evidence_ids), np.asarray(heldout_ids))
    if shared.size:
        raise ValueError(f"evidence and held-out splits share {shared.size} {what} ids (e.g. {shared[:5].tolist()}); split by game so they are disjoint")


