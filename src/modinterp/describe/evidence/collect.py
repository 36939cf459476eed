"""Collect the evidence about one module, for any model and subject: examples, what it reads, what it moves.

The model-specific part is a `ModuleRunner` (the module's activation on inputs, and the model's outputs with
the module ablated or not); the subject renders examples and occludes inputs. What comes out is a
`ModuleEvidence`, all a describer sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from modinterp.describe.evidence.records import Example, InterfaceSummary, ModuleEvidence, concept_correlations
from modinterp.describe.predicates import ConceptTable
from modinterp.describe.subjects import Subject


@runtime_checkable
class ModuleRunner(Protocol):
    """One module inside its model: `name`, `units` (a human summary), its `activation` on inputs (B,), and the
    model's named `outputs` on inputs, with the module ablated or not."""

    name: str
    units: str

    def activation(self, inputs: np.ndarray) -> np.ndarray:
        """The module's activation on `inputs` (B,)."""

    def outputs(self, inputs: np.ndarray, ablate: bool) -> dict[str, np.ndarray]:
        """The model's named outputs on `inputs`, with the module ablated when `ablate`."""


@dataclass(frozen=True)
class EvidenceConfig:
    """How much evidence to collect per module: `n_attribution` evidence inputs (a seeded sample) for reads and
    writes, `n_top` top-activating examples besides the quantile ones."""

    n_attribution: int = 128
    n_top: int = 4
    seed: int = 0


def examples(subject: Subject, inputs: np.ndarray, activation: np.ndarray, n_top: int = 4,
             quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)) -> list[Example]:
    """The `n_top` highest-activating inputs, then one input at each activation quantile (delphi's sampling)."""
    activation = np.asarray(activation, dtype=np.float64)
    order = np.lexsort((np.arange(len(activation)), -activation))
    chosen: list[tuple[int, str]] = [(int(i), "top") for i in order[:n_top]]
    for q in quantiles:
        target = int(round((1.0 - q) * (len(activation) - 1)))
        i = int(order[target])
        if all(i != j for j, _ in chosen):
            chosen.append((i, f"quantile q={q:.2f}"))
    return [Example(subject.render(inputs, i), float(activation[i]), kind) for i, kind in chosen]


def occlusion_reads(subject: Subject, inputs: np.ndarray, activation: Callable[[np.ndarray], np.ndarray],
                    top: int = 8) -> list[tuple[str, float]]:
    """Input positions that matter most: mean |change of the activation| under each of the subject's occlusions
    (a flipped cell), over `inputs`, in units of the activation's standard deviation. One batched call each."""
    base = np.asarray(activation(inputs), dtype=np.float64)
    scale = float(base.std()) or 1.0
    names, effects = [], []
    for name, occluded in subject.occlusions(inputs):
        names.append(name)
        effects.append(np.abs(np.asarray(activation(occluded), dtype=np.float64) - base).mean() / scale)
    effects_arr = np.asarray(effects)
    order = np.lexsort((np.arange(len(effects_arr)), -effects_arr))[:top]
    return [(names[c], round(float(effects_arr[c]), 4)) for c in order]


def ablation_writes(outputs: Callable[[np.ndarray, bool], dict[str, np.ndarray]], inputs: np.ndarray,
                    top: int = 6) -> list[tuple[str, float]]:
    """Outputs the module moves most: mean |output(intact) - output(module ablated)| per named output column,
    divided by that output's standard deviation on `inputs` (so value, policy and concepts are comparable)."""
    intact = outputs(inputs, False)
    ablated = outputs(inputs, True)
    effects: list[tuple[str, float]] = []
    for name, full in intact.items():
        full = np.asarray(full, dtype=np.float64).reshape(len(inputs), -1)
        cut = np.asarray(ablated[name], dtype=np.float64).reshape(len(inputs), -1)
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


def build_evidence(module: ModuleRunner, subject: Subject, inputs: np.ndarray, activation: np.ndarray,
                   table: ConceptTable, config: EvidenceConfig = EvidenceConfig(), *,
                   interfaces: list[InterfaceSummary] | None = None, extra: dict | None = None) -> ModuleEvidence:
    """Everything a describer sees about one module, from evidence-split inputs, their activation and concepts."""
    activation = np.asarray(activation, dtype=np.float64)
    if len(inputs) != len(activation) or table.n_positions != len(activation):
        raise ValueError(f"module {module.name}: {len(inputs)} inputs, {len(activation)} activations and {table.n_positions} "
                         "concept rows; they must describe the same evidence positions")
    rng = np.random.default_rng(config.seed)
    sample = np.sort(rng.choice(len(inputs), size=min(config.n_attribution, len(inputs)), replace=False))
    reads = occlusion_reads(subject, inputs[sample], module.activation)
    writes = ablation_writes(module.outputs, inputs[sample])
    return ModuleEvidence(module.name, module.units, activation, concept_correlations(activation, table),
                          examples(subject, inputs, activation, n_top=config.n_top), reads, writes,
                          list(interfaces or []), dict(extra or {}))
