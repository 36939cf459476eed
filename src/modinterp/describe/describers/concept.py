"""Offline describers: the concept best correlated with a module's activation (or a sparse mix), and the
random-concept chance baseline."""

from __future__ import annotations

import numpy as np

from modinterp.describe.describers.base import Description, DescribeReport
from modinterp.describe.evidence.records import ModuleEvidence
from modinterp.describe.predicates import ConceptTable, Predicate


def _standardise(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z-scored columns, column std, mask of non-constant columns); constant columns stay zero."""
    mean = values.mean(0)
    std = values.std(0)
    keep = std > 1e-12
    z = np.zeros_like(values)
    z[:, keep] = (values[:, keep] - mean[keep]) / std[keep]
    return z, std, keep


def _r2(z: np.ndarray, y: np.ndarray, cols: list[int]) -> tuple[float, np.ndarray]:
    """R^2 and coefficients of the least-squares fit of centred y on standardised columns `cols`."""
    coef, *_ = np.linalg.lstsq(z[:, cols], y, rcond=None)
    resid = y - z[:, cols] @ coef
    return 1.0 - float(resid @ resid) / float(y @ y), coef


class ConceptDescriber:
    """Best concept, or a sparse mix: greedy forward selection (at most `max_terms`) on standardised
    features, adding a term only if it raises the evidence R^2 by at least `min_gain`."""

    name = "concept"

    def __init__(self, max_terms: int = 3, min_gain: float = 0.05) -> None:
        self.max_terms = max_terms
        self.min_gain = min_gain

    def describe_one(self, evidence: ModuleEvidence, table: ConceptTable) -> Description:
        """The description of one module from its evidence activation and the concept table."""
        a = np.asarray(evidence.activation, dtype=np.float64)
        if a.shape != (table.n_positions,):
            raise ValueError(f"module {evidence.module}: activation has {a.shape} values; the concept table has {table.n_positions} positions")
        y = a - a.mean()
        z, std, keep = _standardise(table.values)
        if not keep.any() or float(y @ y) <= 1e-12:
            raise ValueError(f"module {evidence.module}: the activation or every concept is constant on the evidence split; nothing to describe")
        scores = np.where(keep, np.abs(z.T @ y), -1.0)
        chosen = [int(np.argmax(scores))]
        r2, coef = _r2(z, y, chosen)
        while len(chosen) < self.max_terms:
            trial = [(c, *_r2(z, y, chosen + [c])) for c in np.flatnonzero(keep) if c not in chosen]
            if not trial:
                break
            c, r2_c, coef_c = max(trial, key=lambda t: (t[1], -t[0]))
            if r2_c - r2 < self.min_gain:
                break
            chosen, r2, coef = chosen + [int(c)], r2_c, coef_c
        names = [table.names[c] for c in chosen]
        weights = {n: float(w / std[c]) for n, w, c in zip(names, coef, chosen)}  # raw-unit weights
        std_weights = {n: float(w) for n, w in zip(names, coef)}
        r_best = float(np.corrcoef(table.values[:, chosen[0]], a)[0, 1])
        text = self._sentence(names, std_weights, table, r_best, r2)
        details = {"r_evidence": round(r_best, 4), "r2_evidence": round(r2, 4), "standardised_weights": {k: round(v, 4) for k, v in std_weights.items()},
                   "runner_up": [[n, round(r, 4)] for n, r in evidence.correlations[1:4]]}
        return Description(evidence.module, self.name, text, names[0], Predicate(weights=weights), confidence=round(abs(r_best), 4), details=details)

    @staticmethod
    def _sentence(names: list[str], std_weights: dict[str, float], table: ConceptTable, r_best: float, r2: float) -> str:
        """'Tracks <meaning> [name]: its activation rises with it (r = ...)' plus the other terms."""
        head = names[0]
        direction = "rises" if std_weights[head] > 0 else "falls"
        text = f"Tracks {table.meaning(head)} [{head}]: its activation {direction} with it (r = {r_best:+.2f})"
        if len(names) > 1:
            parts = [f"{'+' if std_weights[n] > 0 else '-'} {table.meaning(n)} [{n}]" for n in names[1:]]
            text += "; also " + ", ".join(parts) + f" (mix R2 = {r2:.2f})"
        return text + "."

    def describe(self, evidences: list[ModuleEvidence], table: ConceptTable) -> tuple[list[Description], DescribeReport]:
        """One description per module (every module can be described)."""
        descriptions = [self.describe_one(ev, table) for ev in evidences]
        return descriptions, DescribeReport(self.name, len(evidences), len(descriptions))


class RandomConceptDescriber:
    """Chance baseline: names a uniformly drawn library feature (seeded), with no look at the evidence."""

    name = "random-concept"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def describe(self, evidences: list[ModuleEvidence], table: ConceptTable) -> tuple[list[Description], DescribeReport]:
        """A seeded random feature for every module."""
        rng = np.random.default_rng(self.seed)
        picks = rng.integers(0, len(table.names), size=len(evidences))
        out = [Description(ev.module, self.name, f"Tracks {table.meaning(table.names[p])} (random guess).", table.names[p],
                           Predicate.feature(table.names[p])) for ev, p in zip(evidences, picks)]
        return out, DescribeReport(self.name, len(evidences), len(out))
