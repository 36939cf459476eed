"""Score a set of module descriptions on held-out positions, each beside its controls."""

from __future__ import annotations

import numpy as np

from modinterp.describe.describers import Description
from modinterp.describe.predicates import ConceptTable
from modinterp.describe.scoring import DescriptionScores, score_description


def random_other(modules: list[str], seed: int) -> dict[str, str]:
    """For each module, a random *other* module (a seeded derangement) whose description serves as the control."""
    if len(modules) < 2:
        return {}
    rng = np.random.default_rng(seed)
    n = len(modules)
    shift = rng.integers(1, n, size=n)  # j != i for every i
    return {m: modules[(i + int(s)) % n] for i, (m, s) in enumerate(zip(modules, shift))}


def score_descriptions(descriptions: list[Description], activation_evidence: dict[str, np.ndarray],
                       activation_heldout: dict[str, np.ndarray], evidence_table: ConceptTable,
                       heldout_table: ConceptTable, top_fraction: float = 0.1, seed: int = 0) -> dict[str, DescriptionScores]:
    """Simulation and detection scores of every description, with the random-description and shuffled controls."""
    by_module = {d.module: d for d in descriptions}
    control_of = random_other(sorted(by_module), seed)
    scores = {}
    for i, (module, d) in enumerate(sorted(by_module.items())):
        pe, ph = d.predicate.evaluate(evidence_table), d.predicate.evaluate(heldout_table)
        ce = ch = None
        if module in control_of:
            control = by_module[control_of[module]].predicate
            ce, ch = control.evaluate(evidence_table), control.evaluate(heldout_table)
        scores[module] = score_description(pe, activation_evidence[module], ph, activation_heldout[module], ce, ch,
                                           top_fraction=top_fraction, seed=seed + i)
    return scores


def mean_scores(scores: dict[str, DescriptionScores]) -> dict[str, float | None]:
    """Averages of every score and control over modules (None-valued scores are left out)."""
    if not scores:
        return {}
    out: dict[str, float | None] = {}
    for key in next(iter(scores.values())).to_json():
        if key in ("n_heldout", "n_top"):
            continue
        values = [s.to_json()[key] for s in scores.values() if s.to_json()[key] is not None]
        out[key] = round(float(np.mean(values)), 4) if values else None
    return out
