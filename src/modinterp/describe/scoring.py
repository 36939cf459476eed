"""Score descriptions on held-out positions, with controls beside every score.

Two scores, both computed from the predicate the description names (no LLM simulator needed):
- simulation: Pearson r between the predicate's value and the module's activation (OpenAI's
  `ev_correlation_score`, over all held-out positions concatenated);
- detection: balanced accuracy at telling the top-activating held-out positions from random other ones by
  thresholding the predicate (delphi's detection "accuracy" = (TPR + TNR) / 2), and the threshold-free
  average precision (AUPRC) of the oriented predicate on the same task.
The predicate's orientation (sign) and the detection threshold are fitted on the evidence split only, like
OpenAI's calibrated simulator, and the same calibration is applied to every control:
- random description: the predicate of a random other module, scored on this module's activation;
- shuffled activations: this module's predicate against a seeded permutation of its held-out activation;
- random partitions (when given): this module's predicate against the activation of a module of the same size
  in each of several random partitions (`modularity.partition.random_partition_like`): is the description
  specific to *this* module? Reported: the draws' mean and maximum, how many were defined, and the empirical
  p-value (1 + draws at or above the module's score) / (1 + draws); `beats_random_partition` is p <= 0.05, which
  with 20 draws means beating every one of them (None with fewer than 19 defined draws: p cannot reach 0.05).
Every simulation score is also given after regressing game phase (fill fraction) out of both the predicate and
the activation (`*_phase_regressed`, orientation refitted on the evidence split's residuals): a description
that only tracks how far the game has gone scores near 0 there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from modinterp.describe.describers.base import Description
from modinterp.describe.predicates import ConceptTable


def pearson_r(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson correlation; None when either side is constant (as OpenAI's scorer does)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"pearson_r needs two 1-D arrays of equal length; got shapes {x.shape} and {y.shape}")
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt((xc @ xc) * (yc @ yc))
    if denom <= 1e-12 * max(1.0, len(x)):
        return None
    return float(np.clip((xc @ yc) / denom, -1.0, 1.0))


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """(TPR + TNR) / 2 for boolean labels and predictions; needs both classes present."""
    y_true = np.asarray(y_true, dtype=bool)
    y_pred = np.asarray(y_pred, dtype=bool)
    pos, neg = y_true.sum(), (~y_true).sum()
    if pos == 0 or neg == 0:
        raise ValueError(f"balanced_accuracy needs both classes; got {pos} positives and {neg} negatives")
    return float(0.5 * ((y_pred & y_true).sum() / pos + (~y_pred & ~y_true).sum() / neg))


def top_and_random(activation: np.ndarray, top_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the top `top_fraction` positions by activation and as many random positions from the rest."""
    activation = np.asarray(activation, dtype=np.float64)
    if not 0.0 < top_fraction <= 0.5:
        raise ValueError(f"top_fraction={top_fraction}; expected a value in (0, 0.5]")
    n = len(activation)
    n_top = max(1, int(round(top_fraction * n)))
    order = np.lexsort((np.arange(n), -activation))  # stable: ties broken by index
    top = np.sort(order[:n_top])
    rest = order[n_top:]
    random = np.sort(rng.choice(rest, size=min(n_top, len(rest)), replace=False))
    return top, random


@dataclass(frozen=True)
class ThresholdRule:
    """Predict 'top-activating' when sign * value > threshold."""

    sign: float
    threshold: float

    def predict(self, values: np.ndarray) -> np.ndarray:
        """Boolean 'top-activating' prediction for each value."""
        return self.sign * np.asarray(values, dtype=np.float64) > self.threshold


def _threshold_table(values: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate thresholds (below all values, between distinct ones, above all) and the balanced accuracy of
    predicting `values > t` for each, in O(n log n) via suffix counts over the sorted values."""
    order = np.argsort(values, kind="stable")
    v, y = values[order], labels[order]
    distinct, first = np.unique(v, return_index=True)
    pos_from = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])  # positives at sorted index >= i
    neg_from = np.concatenate([np.cumsum(~y[::-1])[::-1], [0]])
    starts = np.concatenate([first, [len(v)]])  # threshold k predicts positive from sorted index starts[k]
    thresholds = np.concatenate([[distinct[0] - 1.0], (distinct[:-1] + distinct[1:]) / 2, [distinct[-1] + 1.0]])
    tpr = pos_from[starts] / max(int(y.sum()), 1)
    tnr = 1.0 - neg_from[starts] / max(int((~y).sum()), 1)
    return thresholds, 0.5 * (tpr + tnr)


def fit_threshold(values: np.ndarray, labels: np.ndarray) -> ThresholdRule:
    """The sign and threshold maximising balanced accuracy on (values, labels).

    Among equally good thresholds the middle of the widest contiguous stretch is taken (the largest margin),
    so that a perfect split of the evidence generalises instead of hugging the highest negative value.
    """
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    best = (-1.0, ThresholdRule(1.0, np.inf))
    for sign in (1.0, -1.0):
        thresholds, acc = _threshold_table(sign * values, labels)
        tied = np.flatnonzero(acc >= acc.max() - 1e-12)
        runs = np.split(tied, np.flatnonzero(np.diff(tied) > 1) + 1)  # contiguous stretches of best thresholds
        widest = max(runs, key=lambda run: thresholds[run[-1]] - thresholds[run[0]])
        threshold = (thresholds[widest[0]] + thresholds[widest[-1]]) / 2
        if acc.max() > best[0] + 1e-12:
            best = (float(acc.max()), ThresholdRule(sign, float(threshold)))
    return best[1]


def orientation(predicted: np.ndarray, activation: np.ndarray) -> float:
    """+1 or -1: the sign that makes the predicate correlate positively with the activation (evidence split)."""
    r = pearson_r(predicted, activation)
    return -1.0 if r is not None and r < 0 else 1.0


def detection_accuracy(predicted: np.ndarray, activation: np.ndarray, rule: ThresholdRule, top_fraction: float, rng: np.random.Generator) -> float:
    """Balanced accuracy of `rule` at separating top-activating from random positions."""
    top, random = top_and_random(activation, top_fraction, rng)
    idx = np.concatenate([top, random])
    labels = np.concatenate([np.ones(len(top), bool), np.zeros(len(random), bool)])
    return balanced_accuracy(labels, rule.predict(np.asarray(predicted)[idx]))


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the precision-recall curve (scikit-learn's average precision: tied scores form one
    threshold), one of the metrics that pass NeuronEval's sanity checks. Chance = share of positives."""
    # imported here: sklearn.metrics takes about 4 s to import on the 2-core dev machine (measured), which every
    # command importing modinterp.describe would otherwise pay
    from sklearn.metrics import average_precision_score

    labels = np.asarray(labels, dtype=bool)
    if labels.sum() == 0:
        raise ValueError("average_precision needs at least one positive label")
    return float(average_precision_score(labels, np.asarray(scores, dtype=np.float64)))


def detection_auprc(predicted: np.ndarray, activation: np.ndarray, sign: float, top_fraction: float, rng: np.random.Generator) -> float:
    """Average precision of the oriented predicate at ranking top-activating above random positions (chance 0.5)."""
    top, random = top_and_random(activation, top_fraction, rng)
    idx = np.concatenate([top, random])
    labels = np.concatenate([np.ones(len(top), bool), np.zeros(len(random), bool)])
    return average_precision(sign * np.asarray(predicted, dtype=np.float64)[idx], labels)


@dataclass
class CalibratedPredicate:
    """A predicate's evidence-split calibration: orientation for simulation, threshold rule for detection."""

    sign: float
    rule: ThresholdRule

    @classmethod
    def fit(cls, predicted: np.ndarray, activation: np.ndarray, top_fraction: float, rng: np.random.Generator) -> "CalibratedPredicate":
        """Orientation and threshold fitted on the evidence split (never on held-out positions)."""
        top, random = top_and_random(activation, top_fraction, rng)
        idx = np.concatenate([top, random])
        labels = np.concatenate([np.ones(len(top), bool), np.zeros(len(random), bool)])
        return cls(orientation(predicted, activation), fit_threshold(np.asarray(predicted)[idx], labels))

    def simulation(self, predicted: np.ndarray, activation: np.ndarray) -> float | None:
        """Pearson r of the oriented predicate with the activation."""
        r = pearson_r(predicted, activation)
        return None if r is None else self.sign * r

    def detection(self, predicted: np.ndarray, activation: np.ndarray, top_fraction: float, rng: np.random.Generator) -> float:
        """Balanced accuracy of the fitted threshold at telling top from random positions."""
        return detection_accuracy(predicted, activation, self.rule, top_fraction, rng)

    def auprc(self, predicted: np.ndarray, activation: np.ndarray, top_fraction: float, rng: np.random.Generator) -> float:
        """Average precision of the oriented predicate on the same top-vs-random task."""
        return detection_auprc(predicted, activation, self.sign, top_fraction, rng)


@dataclass
class DescriptionScores:
    """Held-out scores of one description with their controls (None where undefined, e.g. constant input)."""

    simulation_r: float | None
    detection_bacc: float
    random_description_simulation_r: float | None
    random_description_detection_bacc: float | None
    shuffled_simulation_r: float | None
    shuffled_detection_bacc: float
    detection_auprc: float
    random_description_detection_auprc: float | None
    shuffled_detection_auprc: float
    n_heldout: int
    n_top: int
    simulation_r_phase_regressed: float | None = None
    random_description_simulation_r_phase_regressed: float | None = None
    random_partition_simulation_r: float | None = None  # mean over the random partitions
    random_partition_simulation_r_max: float | None = None
    random_partition_p: float | None = None  # empirical p-value of simulation_r among the draws
    random_partition_n: int | None = None  # draws with a defined score
    beats_random_partition: bool | None = None  # random_partition_p <= 0.05
    random_partition_simulation_r_phase_regressed: float | None = None
    random_partition_simulation_r_phase_regressed_max: float | None = None
    random_partition_p_phase_regressed: float | None = None
    random_partition_n_phase_regressed: int | None = None
    beats_random_partition_phase_regressed: bool | None = None
    # the same random modules, each given its own offline description (`ConceptDescriber`): could a random set of
    # units of the same size be described as well? (`describe_run`; simulation r, raw)
    described_random_module_simulation_r: float | None = None
    described_random_module_simulation_r_max: float | None = None
    described_random_module_p: float | None = None
    described_random_module_n: int | None = None
    beats_described_random_module: bool | None = None

    def to_json(self) -> dict:
        """The scores as written to descriptions.json."""
        return asdict(self)


def score_description(
    predicted_evidence: np.ndarray,
    activation_evidence: np.ndarray,
    predicted_heldout: np.ndarray,
    activation_heldout: np.ndarray,
    control_evidence: np.ndarray | None = None,
    control_heldout: np.ndarray | None = None,
    top_fraction: float = 0.1,
    seed: int = 0,
) -> DescriptionScores:
    """Simulation and detection scores on the held-out split, with the random-description and shuffled controls.

    `predicted_*` are the description's predicate evaluated on each split; `control_*` the predicate of a
    random other module's description (omit to skip that control). Calibration uses the evidence split only.
    """
    act_h = np.asarray(activation_heldout, dtype=np.float64)
    if len(act_h) < 4:
        raise ValueError(f"scoring needs at least 4 held-out positions; got {len(act_h)}")
    rng = np.random.default_rng(seed)
    calib = CalibratedPredicate.fit(predicted_evidence, activation_evidence, top_fraction, rng)
    shuffled = act_h[np.random.default_rng(seed + 1).permutation(len(act_h))]
    rand_sim = rand_det = rand_ap = None
    if control_evidence is not None and control_heldout is not None:
        control = CalibratedPredicate.fit(control_evidence, activation_evidence, top_fraction, np.random.default_rng(seed))
        rand_sim = control.simulation(control_heldout, act_h)
        rand_det = control.detection(control_heldout, act_h, top_fraction, np.random.default_rng(seed + 2))
        rand_ap = control.auprc(control_heldout, act_h, top_fraction, np.random.default_rng(seed + 2))
    n_top = max(1, int(round(top_fraction * len(act_h))))
    return DescriptionScores(
        simulation_r=calib.simulation(predicted_heldout, act_h),
        detection_bacc=calib.detection(predicted_heldout, act_h, top_fraction, np.random.default_rng(seed + 2)),
        random_description_simulation_r=rand_sim,
        random_description_detection_bacc=rand_det,
        shuffled_simulation_r=calib.simulation(predicted_heldout, shuffled),
        shuffled_detection_bacc=calib.detection(predicted_heldout, shuffled, top_fraction, np.random.default_rng(seed + 2)),
        detection_auprc=calib.auprc(predicted_heldout, act_h, top_fraction, np.random.default_rng(seed + 2)),
        random_description_detection_auprc=rand_ap,
        shuffled_detection_auprc=calib.auprc(predicted_heldout, shuffled, top_fraction, np.random.default_rng(seed + 2)),
        n_heldout=len(act_h),
        n_top=n_top,
    )


def residualize(values: np.ndarray, covariate: np.ndarray) -> np.ndarray:
    """`values` minus their least-squares fit on [1, covariate]: what the covariate cannot explain."""
    values = np.asarray(values, dtype=np.float64)
    design = np.c_[np.ones(len(values)), np.asarray(covariate, dtype=np.float64)]
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    return values - design @ coef


def phase_regressed_r(predicted_evidence: np.ndarray, activation_evidence: np.ndarray, predicted_heldout: np.ndarray,
                      activation_heldout: np.ndarray, phase_evidence: np.ndarray,
                      phase_heldout: np.ndarray) -> float | None:
    """Simulation r with phase regressed out of predicate and activation; orientation from the evidence split."""
    sign = orientation(residualize(predicted_evidence, phase_evidence), residualize(activation_evidence, phase_evidence))
    r = pearson_r(residualize(predicted_heldout, phase_heldout), residualize(activation_heldout, phase_heldout))
    return None if r is None else sign * r


@dataclass
class Controls:
    """What the extra controls need: game phase on both splits, and per module the activations of the modules
    of the same size in random partitions, on both splits ({module: [(evidence, held-out), ...]}; may be empty)."""

    phase_evidence: np.ndarray
    phase_heldout: np.ndarray
    random_partition: dict[str, list[tuple[np.ndarray, np.ndarray]]]


NULL_ALPHA = 0.05  # a module beats its random partitions when its empirical p-value is at most this


def null_summary(real: float | None, draws: list[float | None], suffix: str = "",
                 null: str = "random_partition") -> dict:
    """The `null` fields of `DescriptionScores` (with `suffix`) for a score `real` beside the draws' scores:
    mean, max, defined draws n, empirical p = (1 + #{draw >= real}) / (1 + n), beats = p <= NULL_ALPHA (None
    when no p that small is possible with n draws, or a side is undefined)."""
    values = np.array([v for v in draws if v is not None], dtype=np.float64)
    n = len(values)
    out = {f"{null}_simulation_r{suffix}": round(float(values.mean()), 6) if n else None,
           f"{null}_simulation_r{suffix}_max": round(float(values.max()), 6) if n else None,
           f"{null}_n{suffix}": n, f"{null}_p{suffix}": None, f"beats_{null}{suffix}": None}
    if n and real is not None:
        p = (1 + int((values >= real).sum())) / (1 + n)
        out[f"{null}_p{suffix}"] = round(p, 6)
        out[f"beats_{null}{suffix}"] = bool(p <= NULL_ALPHA) if 1 / (1 + n) <= NULL_ALPHA else None
    return out


def held_out_r(predicate_evidence: np.ndarray, activation_evidence: np.ndarray, predicate_heldout: np.ndarray,
               activation_heldout: np.ndarray) -> float | None:
    """Simulation r on held-out positions, oriented on the evidence split (as every score here)."""
    r = pearson_r(predicate_heldout, activation_heldout)
    return None if r is None else orientation(predicate_evidence, activation_evidence) * r


def control_scores(pe: np.ndarray, ph: np.ndarray, act_e: np.ndarray, act_h: np.ndarray, ce: np.ndarray | None,
                   ch: np.ndarray | None, random_modules: list[tuple[np.ndarray, np.ndarray]] | None,
                   controls: Controls, top_fraction: float, seed: int, real_r: float | None = None) -> dict:
    """The phase-regressed and random-partition scores of one description (fields of `DescriptionScores`);
    `real_r` is its raw simulation r, compared with the random partitions'."""
    phase = (controls.phase_evidence, controls.phase_heldout)
    real_phase = phase_regressed_r(pe, act_e, ph, act_h, *phase)
    out: dict = {"simulation_r_phase_regressed": real_phase}
    if ce is not None and ch is not None:
        out["random_description_simulation_r_phase_regressed"] = phase_regressed_r(ce, act_e, ch, act_h, *phase)
    if random_modules:
        raw, regressed = [], []
        for rand_e, rand_h in random_modules:
            calib = CalibratedPredicate.fit(pe, rand_e, top_fraction, np.random.default_rng(seed))
            raw.append(calib.simulation(ph, rand_h))
            regressed.append(phase_regressed_r(pe, rand_e, ph, rand_h, *phase))
        out.update(null_summary(real_r, raw))
        out.update(null_summary(real_phase, regressed, "_phase_regressed"))
    return out


# ---- a set of descriptions ------------------------------------------------------------------------------


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
                       heldout_table: ConceptTable, top_fraction: float = 0.1, seed: int = 0,
                       controls: Controls | None = None) -> dict[str, DescriptionScores]:
    """Simulation and detection scores of every description, with the random-description and shuffled controls
    (and with `controls`, the phase-regressed and random-partition scores)."""
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
        if controls is not None:
            extra = control_scores(pe, ph, activation_evidence[module], activation_heldout[module], ce, ch,
                                   controls.random_partition.get(module), controls, top_fraction, seed + i,
                                   scores[module].simulation_r)
            scores[module] = replace(scores[module], **extra)
    return scores


def mean_scores(scores: dict[str, DescriptionScores]) -> dict[str, float | None]:
    """Averages of every score and control over modules (None-valued scores are left out); for the
    `beats_*` flags, the fraction of modules that beat their random partitions."""
    if not scores:
        return {}
    out: dict[str, float | None] = {}
    for key in next(iter(scores.values())).to_json():
        if key in ("n_heldout", "n_top"):
            continue
        values = [s.to_json()[key] for s in scores.values() if s.to_json()[key] is not None]
        out[key] = round(float(np.mean(values)), 4) if values else None
    return out
