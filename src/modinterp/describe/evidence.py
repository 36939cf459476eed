"""Evidence about a module, model-agnostic: examples, input cells it reads, outputs it moves, assembly.

The model-specific parts are callables: `activation_fn(boards) -> (B,)` (the module's activation on boards)
and `outputs_fn(boards, ablate) -> dict[name, (B, k)]` (the network outputs with or without the module
ablated). `transformer_evidence.py` and `planted.py` provide them for a BoardTransformer and a toy MLP.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from modinterp.describe.module_evidence import Example, InterfaceSummary, ModuleEvidence, concept_correlations
from modinterp.describe.predicates import ConceptTable
from modinterp.games import domineering as dom


def cell_name(spec: dom.BoardSpec, cell: int) -> str:
    """'r3c5' for flat cell index 3*cols + 5."""
    r, c = divmod(int(cell), spec.cols)
    return f"r{r}c{c}"


def example_boards(spec: dom.BoardSpec, boards: np.ndarray, activation: np.ndarray, n_top: int = 4,
                   quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)) -> list[Example]:
    """The `n_top` highest-activating boards, then one board at each activation quantile (delphi's sampling)."""
    activation = np.asarray(activation, dtype=np.float64)
    order = np.lexsort((np.arange(len(activation)), -activation))
    chosen: list[tuple[int, str]] = [(int(i), "top") for i in order[:n_top]]
    for q in quantiles:
        target = int(round((1.0 - q) * (len(activation) - 1)))
        i = int(order[target])
        if all(i != j for j, _ in chosen):
            chosen.append((i, f"quantile q={q:.2f}"))
    return [Example(dom.render(spec, boards[i]), float(activation[i]), kind) for i, kind in chosen]


def occlusion_reads(spec: dom.BoardSpec, boards: np.ndarray, activation_fn: Callable[[np.ndarray], np.ndarray],
                    top: int = 8) -> list[tuple[str, float]]:
    """Cells whose state matters most: mean |change of the activation| when the cell is flipped (empty <-> occupied),
    over `boards`, normalised by the activation's standard deviation on them. One batched call per cell."""
    boards = np.asarray(boards, dtype=np.uint8)
    base = np.asarray(activation_fn(boards), dtype=np.float64)
    scale = float(base.std()) or 1.0
    effects = np.zeros(spec.n_cells)
    for cell in range(spec.n_cells):
        flipped = boards.copy()
        flipped[:, cell] ^= 1
        effects[cell] = np.abs(np.asarray(activation_fn(flipped), dtype=np.float64) - base).mean() / scale
    order = np.lexsort((np.arange(spec.n_cells), -effects))[:top]
    return [(cell_name(spec, c), round(float(effects[c]), 4)) for c in order]


def ablation_writes(outputs_fn: Callable[[np.ndarray, bool], dict[str, np.ndarray]], boards: np.ndarray,
                    top: int = 6) -> list[tuple[str, float]]:
    """Outputs the module moves most: mean |output(intact) - output(module ablated)| per named output column,
    divided by that output's standard deviation on `boards` (so value, policy and concepts are comparable)."""
    intact = outputs_fn(boards, False)
    ablated = outputs_fn(boards, True)
    effects: list[tuple[str, float]] = []
    for name, full in intact.items():
        full = np.asarray(full, dtype=np.float64).reshape(len(boards), -1)
        cut = np.asarray(ablated[name], dtype=np.float64).reshape(len(boards), -1)
        std = full.std(0)
        std[std < 1e-12] = 1.0
        change = (np.abs(full - cut) / std).mean(0)
        if change.size == 1:
            effects.append((name, float(change[0])))
        else:  # summarise a vector output by its mean effect and its most affected column
            j = int(np.argmax(change))
            effects.append((f"{name} (mean)", float(change.mean())))
            effects.append((f"{name}[{j}]", float(change[j])))
    effects.sort(key=lambda e: (-e[1], e[0]))
    return [(n, round(v, 4)) for n, v in effects[:top]]


def build_evidence(module: str, units: str, spec: dom.BoardSpec, boards: np.ndarray, activation: np.ndarray,
                   table: ConceptTable, activation_fn: Callable[[np.ndarray], np.ndarray] | None = None,
                   outputs_fn: Callable[[np.ndarray, bool], dict[str, np.ndarray]] | None = None,
                   interfaces: list[InterfaceSummary] | None = None, n_attribution_boards: int = 128,
                   n_top: int = 4, seed: int = 0, extra: dict | None = None) -> ModuleEvidence:
    """Everything a describer sees about one module, from evidence-split boards and their activation."""
    activation = np.asarray(activation, dtype=np.float64)
    if len(boards) != len(activation) or table.n_positions != len(activation):
        raise ValueError(f"module {module}: {len(boards)} boards, {len(activation)} activations and {table.n_positions} "
                         "concept rows; they must describe the same evidence positions")
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(boards), size=min(n_attribution_boards, len(boards)), replace=False))
    reads = occlusion_reads(spec, boards[sample], activation_fn) if activation_fn is not None else []
    writes = ablation_writes(outputs_fn, boards[sample]) if outputs_fn is not None else []
    return ModuleEvidence(module, units, activation, concept_correlations(activation, table),
                          example_boards(spec, boards, activation, n_top=n_top), reads, writes,
                          list(interfaces or []), dict(extra or {}))
