"""Do the modules matter? Mean-ablation effects of each module beside random unit sets of the same size and kinds.

For a BoardTransformer cut into modules (`describe.evidence.transformer.ModuleUnits`: neurons and heads by layer),
each module's units are mean-ablated (MLP neurons' hook_post and heads' hook_z replaced by their per-position
mean over a reference set; `describe.evidence.transformer.ablated`, the one ablation of the package) and the
change of every output is measured on scoring positions:

- `value`: mean |change of the value logit| / std of the clean value logit;
- `policy`: mean KL(clean || ablated) of the policy over the legal moves (positions without a legal move skipped);
- `concept_head`: mean over the concept head's outputs of mean |change| / std of the clean output;
- `value_sign`: the fraction of positions whose predicted winner (the value logit's sign) flips;
- `policy_move`: the fraction of positions (with a legal move) whose greedy legal move changes.
  The two *decision* effects ask whether the network would play or judge differently, not how far its outputs
  move. Why both kinds: mean-ablating a whole module that is all a head reads removes everything the module
  computes (the head keeps only the embeddings' direct path), while a random set of the same size damages half
  of two modules and can leave confidently wrong outputs that move further (docs/modularity.md, section 8.4: a
  policy module whose removal changed the greedy move on 0.76 of positions against a p95 of 0.72 for its random
  sets, yet moved the policy's KL less, 0.93 against a p95 of 1.07);
- `probe:<concept>`: mean |change of a linear probe's prediction| / std of the concept. The probe is a ridge
  regression of the concept on the final-LayerNorm CLS vector (what the value and concept heads read; with
  routed heads only the dimensions they read, `BoardTransformer.read_mask`), fitted on the clean reference
  positions. Why a probe and not the correlation of the module's write with the concept: the
  write tells what a module carries, not whether the network needs it; the probe's change tells how much of
  the concept the network's final representation loses without the module, which is what "matters" means.
  Concepts the probe cannot read (held-out R^2 below `min_probe_r2`) are left out: a change in a prediction
  that never tracked the concept says nothing about it.

A module's control is `n_random` random unit sets with the same number of neurons in each layer and heads in
each layer (seeded); it *counts* if its effect exceeds the 95th percentile of its random sets on some output
(value, policy, concept_head, or a decision: value_sign, policy_move). With 20 sets that percentile lies between
the two largest, so a module no better than random exceeds it with probability about 2/21 = 0.095 per output
(exchangeability), and on some of five outputs more often still: `counts` is a screen, `beats_random_on` the record.

Do the modules split the work? A module's *specificity* on an output or concept is its effect minus the mean
effect of the other modules there. Its control is `n_random` random partitions of the same units into sets of the
modules' sizes and kinds (per layer, a permutation of the layer's units cut into the modules' counts; each set
alone is distributed as `random_like`'s). The same-labelled set of a random partition gives the specificity a
module of that size and those kinds has by chance (around 0 for equal sizes, above 0 for the larger module of
unequal ones). A module is *specific to* an output or concept where its specificity is positive and exceeds that
of every random partition: a one-sided test at 1/(n_random + 1) < 0.05 per output or concept (with many probed
concepts, some pass by chance: read the outputs first). Why not the random-set test alone: with two modules a
random set of half the units breaks half of each, so it moves everything about as much as a whole module does;
the contrast between modules is what a division of labour changes. A division of labour is different modules
specific to different outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from modinterp.describe.evidence.transformer import ModuleUnits, ablated, mean_activations
from modinterp.models.transformer import BoardTransformer, masked_policy_logits

__all__ = ["OUTPUTS", "NO_UNITS_JSON", "AblationData", "ModuleImportance", "Probes", "module_importance", "random_like", "readout",
           "ablation_effects", "fit_probes", "dissociation_table", "random_partition", "specificities"]

OUTPUTS = ("value", "policy", "concept_head", "value_sign", "policy_move")  # the outputs a module can count on
_FINAL = "ln_final.hook_normalized"


@dataclass
class AblationData:
    """Positions to ablate on: `reference` tokens (means, probe fit), `tokens` to score on, their legal-move
    masks (N, n_moves) bool, and concept values on both sets ({name: (N,)})."""

    reference: torch.Tensor
    tokens: torch.Tensor
    legal: np.ndarray
    concepts_reference: dict[str, np.ndarray] = field(default_factory=dict)
    concepts: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class ModuleImportance:
    """One module's effects per output / concept, its random sets' 95th percentiles, and whether it counts."""

    name: str
    n_units: int
    effect: dict[str, float]
    random_p95: dict[str, float]
    random_effects: dict[str, list[float]]
    specificity: dict[str, float] = field(default_factory=dict)  # effect minus the other modules' mean effect
    random_specificity_max: dict[str, float] = field(default_factory=dict)  # its largest in random partitions

    @property
    def specific_to(self) -> list[str]:
        """Outputs and concepts this module moves more than the other modules do, beyond every random partition."""
        return [k for k, v in self.specificity.items() if v > max(self.random_specificity_max[k], 0.0)]

    @property
    def beats(self) -> list[str]:
        """Outputs and concepts on which the module beats the 95th percentile of its random sets."""
        return [k for k, v in self.effect.items() if v > self.random_p95[k]]

    @property
    def counts(self) -> bool:
        """True when the module beats its random sets on some output head."""
        return any(k in OUTPUTS for k in self.beats)

    def to_json(self) -> dict:
        """The fields modules.json holds per module."""
        return {"n_units": self.n_units, "ablation_effect": self.effect, "random_ablation_p95": self.random_p95,
                "counts": self.counts, "beats_random_on": self.beats, "specificity": self.specificity,
                "random_specificity_max": self.random_specificity_max, "specific_to": self.specific_to}


NO_UNITS_JSON = {"n_units": 0, "ablation_effect": None, "random_ablation_p95": None, "counts": False,
                 "beats_random_on": [], "specificity": None, "random_specificity_max": None, "specific_to": []}
"""`ModuleImportance.to_json`'s fields for a module with no heads or neurons (nothing to ablate)."""


def random_like(module: ModuleUnits, config, rng: np.random.Generator, name: str = "random") -> ModuleUnits:
    """A random unit set with the module's number of neurons per layer and heads per layer."""
    neurons = {i: np.sort(rng.choice(config.d_mlp, len(ids), replace=False)) for i, ids in module.neurons.items()}
    heads = {i: np.sort(rng.choice(config.n_heads, len(ids), replace=False)) for i, ids in module.heads.items()}
    return ModuleUnits(name, neurons, heads)


def random_partition(modules: list[ModuleUnits], config, rng: np.random.Generator) -> list[ModuleUnits]:
    """Disjoint random unit sets with each module's number of neurons and heads per layer: per layer, a
    permutation of the layer's units cut into the modules' counts (each set alone is distributed as `random_like`)."""
    sets = [ModuleUnits(f"random {m.name}") for m in modules]
    for kind, size in (("neurons", config.d_mlp), ("heads", config.n_heads)):
        layers = sorted({i for m in modules for i in getattr(m, kind)})
        for i in layers:
            counts = [len(getattr(m, kind).get(i, ())) for m in modules]
            order = rng.permutation(size)
            for s, start, count in zip(sets, np.cumsum([0] + counts[:-1]), counts):
                if count:
                    getattr(s, kind)[i] = np.sort(order[start:start + count])
    return sets


def specificities(effects: list[dict[str, float]]) -> list[dict[str, float]]:
    """Per module, its effect minus the mean effect of the other modules, on every key."""
    if len(effects) < 2:
        return [{} for _ in effects]
    total = {k: sum(e[k] for e in effects) for k in effects[0]}
    n = len(effects)
    return [{k: e[k] - (total[k] - e[k]) / (n - 1) for k in e} for e in effects]


def _cls_read_mask(model: BoardTransformer) -> torch.Tensor | None:
    """The CLS dimensions the value and concept heads read (None: all): a routed model's other slices reach no
    output from CLS, so a probe there would credit modules with concepts no head uses."""
    masks = [model.read_mask(head) for head in ("value", "concept")]
    return None if any(m is None for m in masks) else torch.clamp(masks[0] + masks[1], max=1.0)


@torch.no_grad()
def readout(model: BoardTransformer, tokens: torch.Tensor, batch_size: int = 512) -> dict[str, np.ndarray]:
    """Value (N,), policy (N, n_moves) and concept-head (N, c) outputs and the final-LN CLS vector (N, d) as the
    value and concept heads read it."""
    parts: dict[str, list[np.ndarray]] = {"value": [], "policy": [], "concept_head": [], "final": []}
    read = _cls_read_mask(model)
    for start in range(0, len(tokens), batch_size):
        out, cache = model.run_with_cache(tokens[start:start + batch_size], names=[_FINAL])
        final = cache[_FINAL][:, -1] if read is None else cache[_FINAL][:, -1] * read
        for key, value in (("value", out.value), ("policy", out.policy), ("concept_head", out.concepts),
                           ("final", final)):
            parts[key].append(value.double().cpu().numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


@dataclass
class Probes:
    """Ridge probes of concepts on the final-LN CLS vector: weights (d+1, n_concepts), concept std, names."""

    names: list[str]
    weights: np.ndarray
    scale: np.ndarray
    r2: dict[str, float]

    def predict(self, final: np.ndarray) -> np.ndarray:
        """(N, n_probed) predictions from final-LN CLS vectors (N, d)."""
        return np.c_[final, np.ones(len(final))] @ self.weights


def fit_probes(final_ref: np.ndarray, concepts_ref: dict[str, np.ndarray], final: np.ndarray,
               concepts: dict[str, np.ndarray], alpha: float = 1.0, min_probe_r2: float = 0.1) -> Probes:
    """Ridge probes fitted on the reference set; kept where their R^2 on the scoring set is >= `min_probe_r2`."""
    names = [n for n in concepts_ref if np.std(concepts_ref[n]) > 0 and np.std(concepts[n]) > 0]
    if not names:
        return Probes([], np.zeros((final_ref.shape[1] + 1, 0)), np.zeros(0), {})
    x = np.c_[final_ref, np.ones(len(final_ref))]
    y = np.stack([concepts_ref[n] for n in names], 1).astype(np.float64)
    reg = alpha * np.eye(x.shape[1])
    reg[-1, -1] = 0.0  # no penalty on the intercept
    w = np.linalg.solve(x.T @ x + reg, x.T @ y)
    y_test = np.stack([concepts[n] for n in names], 1).astype(np.float64)
    pred = np.c_[final, np.ones(len(final))] @ w
    r2 = 1 - ((pred - y_test) ** 2).sum(0) / ((y_test - y_test.mean(0)) ** 2).sum(0)
    keep = r2 >= min_probe_r2
    return Probes([n for n, k in zip(names, keep) if k], w[:, keep], y_test.std(0)[keep],
                  {n: float(v) for n, v in zip(names, r2)})


def _policy_kl(clean: np.ndarray, ablated_: np.ndarray, legal: np.ndarray) -> float:
    """Mean KL(clean || ablated) of the legal-move policies, over positions with a legal move."""
    has = legal.any(1)
    if not has.any():
        return 0.0
    mask = torch.as_tensor(legal[has])
    p = torch.log_softmax(masked_policy_logits(torch.as_tensor(clean[has]), mask), -1)
    q = torch.log_softmax(masked_policy_logits(torch.as_tensor(ablated_[has]), mask), -1)
    return float((p.exp() * (p - q)).masked_fill(~mask, 0.0).sum(-1).mean())


def _policy_move_change(clean: np.ndarray, ablated_: np.ndarray, legal: np.ndarray) -> float:
    """Fraction of positions with a legal move whose greedy legal move differs between the two policies."""
    has = legal.any(1)
    if not has.any():
        return 0.0
    mask = torch.as_tensor(legal[has])
    moves = [masked_policy_logits(torch.as_tensor(p[has]), mask).argmax(1) for p in (clean, ablated_)]
    return float((moves[0] != moves[1]).double().mean())


def _scaled_change(clean: np.ndarray, changed: np.ndarray) -> float:
    """Mean |change| / std of the clean output, averaged over output columns (constant columns skipped)."""
    clean, changed = clean.reshape(len(clean), -1), changed.reshape(len(changed), -1)
    std = clean.std(0)
    ok = std > 0
    return float((np.abs(changed - clean)[:, ok] / std[ok]).mean()) if ok.any() else 0.0


def ablation_effects(clean: dict[str, np.ndarray], changed: dict[str, np.ndarray], legal: np.ndarray,
                     probes: Probes) -> dict[str, float]:
    """The effect on every output head and probed concept of going from `clean` to `changed` readouts."""
    effects = {"value": _scaled_change(clean["value"], changed["value"]),
               "policy": _policy_kl(clean["policy"], changed["policy"], legal),
               "concept_head": _scaled_change(clean["concept_head"], changed["concept_head"]),
               "value_sign": float(((clean["value"] > 0) != (changed["value"] > 0)).mean()),
               "policy_move": _policy_move_change(clean["policy"], changed["policy"], legal)}
    if probes.names:
        delta = np.abs(probes.predict(changed["final"]) - probes.predict(clean["final"])) / probes.scale
        effects.update({f"probe:{n}": float(v) for n, v in zip(probes.names, delta.mean(0))})
    return effects


def module_importance(model: BoardTransformer, modules: list[ModuleUnits], data: AblationData, n_random: int = 20,
                      seed: int = 0, min_probe_r2: float = 0.1) -> tuple[list[ModuleImportance], Probes]:
    """Each module's mean-ablation effects beside `n_random` random unit sets of the same size and kinds."""
    if n_random < 20:
        raise ValueError(f"n_random={n_random}: the 95th percentile needs at least 20 random sets")
    means = mean_activations(model, data.reference)
    clean = readout(model, data.tokens)
    probes = fit_probes(readout(model, data.reference)["final"], data.concepts_reference, clean["final"],
                        data.concepts, min_probe_r2=min_probe_r2)

    def effect_of(units: ModuleUnits) -> dict[str, float]:
        with ablated(model, units, means):
            return ablation_effects(clean, readout(model, data.tokens), data.legal, probes)

    rng = np.random.default_rng(seed)
    out = []
    for module in modules:
        effect = effect_of(module)
        randoms = [effect_of(random_like(module, model.config, rng)) for _ in range(n_random)]
        random_effects = {k: [r[k] for r in randoms] for k in effect}
        out.append(ModuleImportance(module.name, module.n_units, effect,
                                    {k: float(np.percentile(v, 95)) for k, v in random_effects.items()},
                                    random_effects))
    if len(modules) >= 2:  # the division of labour: specificity beside random partitions (module docstring)
        null = [specificities([effect_of(s) for s in random_partition(modules, model.config, rng)])
                for _ in range(n_random)]
        for i, (result, spec) in enumerate(zip(out, specificities([r.effect for r in out]))):
            result.specificity = spec
            result.random_specificity_max = {k: max(draw[i][k] for draw in null) for k in spec}
    return out, probes


def dissociation_table(results: list[ModuleImportance]) -> tuple[list[str], list[list[float]]]:
    """(columns, rows): per module, effect / random 95th percentile on every output and probed concept
    (> 1: beats its random sets there). Different modules beating on different columns is a dissociation."""
    columns = list(results[0].effect) if results else []
    rows = [[r.effect[c] / r.random_p95[c] if r.random_p95[c] > 0 else float("inf" if r.effect[c] > 0 else 0)
             for c in columns] for r in results]
    return columns, rows
