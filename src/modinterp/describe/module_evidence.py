"""What a describer sees about one module: plain data, independent of how it was collected.

`evidence.py` fills these from a BoardTransformer run; the planted benchmark fills them from a toy MLP.
`to_prompt_text` renders the evidence for an LLM in the OpenAI style (activations normalised to 0..10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modinterp.describe.predicates import ConceptTable


@dataclass
class Example:
    """One evidence board: its ASCII rendering, the module's activation and why it was picked."""

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


def normalise_0_10(values: np.ndarray, max_value: float) -> np.ndarray:
    """OpenAI's display scale: floor(10 * relu(a) / max), clipped to 0..10 (max over the shown records)."""
    if max_value <= 0:
        return np.zeros(len(values), dtype=int)
    return np.clip(np.floor(10 * np.maximum(values, 0) / max_value), 0, 10).astype(int)


def to_prompt_text(ev: ModuleEvidence, table: ConceptTable, n_candidates: int = 8, n_examples: int = 6) -> str:
    """The evidence as the user message of an explain request (compact: small local models have short contexts)."""
    lines = [f"Module {ev.module}: {ev.units}.", "", "Correlation of the module's activation with board concepts:"]
    for name, r in ev.correlations[:n_candidates]:
        lines.append(f"  {name}: r={r:+.2f} ({table.meaning(name)})")
    shown = ev.examples[:n_examples]
    if shown:
        acts = np.array([e.activation for e in shown])
        base = acts - min(0.0, float(acts.min()))  # shift so the lowest shown board is >= 0
        levels = normalise_0_10(base, float(base.max()))
        lines += ["", "Example boards ('#' occupied, '.' empty) with the activation on a 0-10 scale:"]
        for e, level in zip(shown, levels):
            lines += [f"<start> activation {level}/10 ({e.kind})", e.board_text.rstrip(), "<end>"]
    if ev.reads:
        lines += ["", "Input cells it reads most: " + ", ".join(f"{c} ({v:.2f})" for c, v in ev.reads[:6])]
    if ev.writes:
        lines += ["Outputs that change most when it is ablated: " + ", ".join(f"{o} ({v:.3f})" for o, v in ev.writes[:4])]
    for itf in ev.interfaces[:4]:
        flow = f"; carries {itf.flow_concept} (probe R2={itf.flow_r2:.2f})" if itf.flow_concept else ""
        lines.append(f"Interface {itf.direction} {itf.other}: cut weight {itf.cut_weight:.3f}{flow}")
    return "\n".join(lines)
