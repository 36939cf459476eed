"""More board concepts for describing modules, registered on top of `modinterp.games.concepts.CONCEPTS`.

Adds what module descriptions need beyond the engine's library: side to move, cells only one player can
still cover, dead cells, half-board occupancy and
mobility relative to the side to move (Nanda et al.: the mine/theirs frame decides whether a linear readout
exists). `concept_table(spec, boards)` evaluates the whole library into a `ConceptTable`.
"""

from __future__ import annotations

import inspect
import re

import numpy as np

from modinterp.describe.predicates import ConceptTable, feature_identifier
from modinterp.games import concepts as engine_concepts
from modinterp.games import domineering as dom
from modinterp.games.concepts import Concept, safe_moves  # noqa: F401 (safe_moves lives in the engine; re-exported)


def side_to_move(spec: dom.BoardSpec, boards, first: int = dom.VERTICAL) -> np.ndarray:
    """(B, 1): 1.0 when vertical is to move. Every move covers two cells, so the ply is occupied cells / 2."""
    ply = dom.as_boards(spec, boards).sum(axis=1, dtype=np.int64) // 2
    return (dom.player_to_move(ply, first) == dom.VERTICAL).astype(np.float32)[:, None]


def _coverable_cells(spec: dom.BoardSpec, available: np.ndarray, player: int) -> np.ndarray:
    """(B, n_cells) bool: empty cells some available move of `player` would cover."""
    moves = spec.move_player == player
    cells = spec.move_cells[moves]  # (m, 2)
    incidence = np.zeros((len(cells), spec.n_cells), dtype=np.float32)
    incidence[np.arange(len(cells)), cells[:, 0]] = 1.0
    incidence[np.arange(len(cells)), cells[:, 1]] = 1.0
    return (available[:, moves].astype(np.float32) @ incidence) > 0


def exclusive_cells(spec: dom.BoardSpec, boards) -> np.ndarray:
    """(B, 2): empty cells only vertical (column 0) or only horizontal (column 1) can still cover."""
    available = dom.available_mask(spec, boards)
    v = _coverable_cells(spec, available, dom.VERTICAL)
    h = _coverable_cells(spec, available, dom.HORIZONTAL)
    return np.stack([(v & ~h).sum(1), (h & ~v).sum(1)], axis=1).astype(np.float32)


def dead_cells(spec: dom.BoardSpec, boards) -> np.ndarray:
    """(B, 1): empty cells that no move of either player can cover any more."""
    boards = dom.as_boards(spec, boards)
    available = dom.available_mask(spec, boards)
    coverable = _coverable_cells(spec, available, dom.VERTICAL) | _coverable_cells(spec, available, dom.HORIZONTAL)
    return ((boards == 0) & ~coverable).sum(1).astype(np.float32)[:, None]


def half_occupancy(spec: dom.BoardSpec, boards) -> np.ndarray:
    """(B, 4): fraction of occupied cells in the top, bottom, left and right half of the board."""
    grid = dom.as_boards(spec, boards).reshape(-1, spec.rows, spec.cols).astype(np.float32)
    r, c = spec.rows // 2, spec.cols // 2
    return np.stack([grid[:, :r].mean((1, 2)), grid[:, spec.rows - r:].mean((1, 2)),
                     grid[:, :, :c].mean((1, 2)), grid[:, :, spec.cols - c:].mean((1, 2))], axis=1)


def relative_mobility(spec: dom.BoardSpec, boards, first: int = dom.VERTICAL) -> np.ndarray:
    """(B, 1): legal moves of the side to move minus those of its opponent."""
    counts = dom.legal_counts(spec, boards).astype(np.float32)
    vertical_to_move = side_to_move(spec, boards, first)[:, 0] > 0
    diff = counts[:, 0] - counts[:, 1]
    return np.where(vertical_to_move, diff, -diff)[:, None]


EXTRA_CONCEPTS: dict[str, Concept] = {c.name: c for c in [
    Concept("side_to_move", "1 when vertical is to move, 0 when horizontal is", side_to_move, lambda spec, **kw: ["side_to_move"]),
    Concept("exclusive_cells", "empty cells only one player (vertical / horizontal) can still cover", exclusive_cells,
            lambda spec: ["exclusive_cells_vertical", "exclusive_cells_horizontal"]),
    Concept("dead_cells", "empty cells no move can cover any more", dead_cells, lambda spec: ["dead_cells"]),
    Concept("half_occupancy", "fraction of occupied cells in one half of the board (top, bottom, left, right)",
            half_occupancy, lambda spec: ["half_occupancy_top", "half_occupancy_bottom", "half_occupancy_left", "half_occupancy_right"]),
    Concept("relative_mobility", "legal moves of the side to move minus those of its opponent", relative_mobility,
            lambda spec, **kw: ["relative_mobility"]),
]}


def board_concepts() -> dict[str, Concept]:
    """The engine's concepts plus ours (ours never shadow the engine's names)."""
    clash = sorted(set(EXTRA_CONCEPTS) & set(engine_concepts.CONCEPTS))
    extra = {k: v for k, v in EXTRA_CONCEPTS.items() if k not in clash}
    return {**engine_concepts.CONCEPTS, **extra}


_SECTOR = re.compile(r"\[(\d+),(\d+)\]$")
_PER_OUTPUT = {
    "mobility": "number of legal {side} moves",
    "exclusive_cells": "empty cells only {side} can still cover",
    "safe_moves": "{side} moves the opponent can no longer block",
    "half_occupancy": "fraction of the {side} half of the board covered",
    "sector_move_difference": "vertical minus horizontal moves still available in sector (row {r}, column {c})",
    "sector_occupancy": "fraction of sector (row {r}, column {c}) covered by dominoes",
}


def output_meaning(concept: Concept, output: str, n_outputs: int) -> str:
    """A short meaning for one output column, e.g. 'number of legal vertical moves'."""
    template = _PER_OUTPUT.get(concept.name)
    if n_outputs == 1 or template is None:
        return concept.meaning if n_outputs == 1 else f"{concept.meaning} ({output})"
    sector = _SECTOR.search(output)
    if sector:
        return template.format(r=sector.group(1), c=sector.group(2))
    return template.format(side=output.rsplit("_", 1)[-1])


def _takes(concept: Concept, key: str) -> bool:
    """Whether the concept's function accepts keyword `key` (sector, first)."""
    return key in inspect.signature(concept.fn).parameters


def concept_table(spec: dom.BoardSpec, boards, sector=(4, 4), first: int = dom.VERTICAL, names: list[str] | None = None) -> ConceptTable:
    """Every concept of the library evaluated on `boards` (B, n_cells): one identifier-named column per output."""
    library = board_concepts()
    selected = names or list(library)
    unknown = [n for n in selected if n not in library]
    if unknown:
        raise KeyError(f"unknown concepts {unknown}; known: {sorted(library)}")
    columns, feature_names, meanings = [], [], []
    for name in selected:
        concept = library[name]
        kw = {k: v for k, v in (("sector", sector), ("first", first)) if _takes(concept, k)}
        values = np.asarray(concept.fn(spec, boards, **kw), dtype=np.float64)
        outputs = concept.output_names(spec, **({"sector": sector} if "sector" in kw else {}))
        if values.shape[1] != len(outputs):
            raise ValueError(f"concept {name!r} returned {values.shape[1]} columns but names {len(outputs)} outputs")
        columns.append(values)
        for out in outputs:
            feature_names.append(feature_identifier(out))
            meanings.append(output_meaning(concept, out, len(outputs)))
    return ConceptTable(feature_names, meanings, np.concatenate(columns, axis=1))
