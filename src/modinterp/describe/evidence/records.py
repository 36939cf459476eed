"""What a describer sees about one module: plain data, independent of the model and the subject it came from.

`collect.build_evidence` fills these for any model (a BoardTransformer run, the planted MLPs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modinterp.describe.predicates import ConceptTable


@dataclass
class Example:
    """One evidence input: its rendering (an ASCII board), the module's activation and why it was picked."""

    board_text: str
    activation: float
    kind: str  # "top" or "quantile q=0.50"


@dataclass
class InterfaceSummary:
    """An edge of the module graph: `other` module, direction, min-cut/edge weight, and what flows."""

    other: str
    direction: str  # "to" (this module feeds `other`) or "from"
    cut_weight: float
    main_edges: list[str] = field(default_factory=list)
    flow_concept: str | None = None
    flow_r2: float | None = None


@dataclass
class ModuleEvidence:
    """Evidence about module `module` on the evidence split (never the scoring split)."""

    module: str
    units: str  # human summary of the units, e.g. "layer 1 MLP neurons 3, 7, 19 (3 units)"
    activation: np.ndarray  # (N_evidence,) module activation
    correlations: list[tuple[str, float]]  # (feature, Pearson r) by decreasing |r|
    examples: list[Example] = field(default_factory=list)
    reads: list[tuple[str, float]] = field(default_factory=list)  # input cell -> attribution
    writes: list[tuple[str, float]] = field(default_factory=list)  # output -> mean |change| when ablated
    interfaces: list[InterfaceSummary] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def candidates(self, n: int = 8) -> list[str]:
        """The `n` concept features most correlated with the activation: the names an LLM may pick from."""
        return [name for name, _ in self.correlations[:n]]

    def to_json(self) -> dict[str, Any]:
        """The evidence as written to descriptions.json (top 20 correlations)."""
        return {
            "module": self.module, "units": self.units, "n_evidence": int(len(self.activation)),
            "correlations": [[n, round(float(r), 4)] for n, r in self.correlations[:20]],
            "examples": [{"board": e.board_text, "activation": float(e.activation), "kind": e.kind} for e in self.examples],
            "reads": [[c, float(v)] for c, v in self.reads], "writes": [[o, float(v)] for o, v in self.writes],
            "interfaces": [i.__dict__ for i in self.interfaces], **({"extra": self.extra} if self.extra else {}),
        }


def concept_correlations(activation: np.ndarray, table: ConceptTable) -> list[tuple[str, float]]:
    """Pearson r of the activation with every non-constant feature, sorted by decreasing |r| then name."""
    a = np.asarray(activation, dtype=np.float64)
    if a.shape != (table.n_positions,):
        raise ValueError(f"activation has shape {a.shape}; expected ({table.n_positions},) to match the concept table")
    x = table.values - table.values.mean(0)
    ac = a - a.mean()
    norms = np.sqrt((x * x).sum(0)) * np.sqrt(ac @ ac)
    keep = norms > 1e-12
    r = np.zeros(len(table.names))
    r[keep] = (x[:, keep].T @ ac) / norms[keep]
    pairs = [(table.names[j], float(r[j])) for j in np.flatnonzero(keep)]
    return sorted(pairs, key=lambda p: (-abs(p[1]), p[0]))
