"""Probe scores that a copy of the input cannot earn: board reference, nonlinear part, gain, scrambled control.

A layer's raw probe R^2 counts everything linear in the layer, including whatever of the board the residual
stream merely carries along. The CLS residual is built from token and position embeddings, so the most a
network passes through without computing anything is a *linear function of the one-hot input tokens*
(`input_one_hot`). Hence the board basis here is the one-hot cell states, not richer board features: the sector
concept is exactly linear in the adjacent-empty-pair indicators (issue 17), but each indicator is a product of
two cells, something the network has to compute, so in that basis nothing would be left to measure.

For one probe set (`board_reference`, fitted once and reused for every layer, step, condition and seed):
- `r2_board`: the same ridge + grouped-CV protocol as `modinterp.probes.layers` on the one-hot board alone;
- the concept's *nonlinear part*: the targets minus their least-squares linear map from the one-hot board, fitted
  on probe-train only (so on probe-train it is orthogonal to every linear function of the board);
- the same for a *scrambled-board control concept*: the concept computed on the board with its cells permuted by
  one fixed seeded permutation (same construction and marginals, geometry that the game does not have; Hewitt &
  Liang 2019). Its nonlinear part is taken in the same one-hot basis, which a cell permutation leaves unchanged.

Per layer (`passthrough_scores`): raw R^2, R^2 of the nonlinear part (the passthrough-free measure), R^2 of board +
layer and its gain over the board alone, R^2 of the linear part, and the scrambled control's nonlinear R^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from modinterp.games.concepts import compute_concept
from modinterp.probes.cv import DEFAULT_ALPHAS, AlphaSelection, fit_probe_grouped_cv, fit_probes_grouped_cv
from modinterp.probes.probe_set import ProbeSet

PASSTHROUGH_RECORD_KEYS = (
    "condition", "seed", "step", "layer", "concept",
    "r2", "r2_board", "r2_board_layer", "r2_gain", "r2_linear_part", "r2_nonlinear", "r2_control_nonlinear",
    "selectivity", "nonlinear_share", "alpha", "alpha_nonlinear", "n_alphas_at_edge", "n_alphas_at_open_edge",
)
"""Keys of a passthrough record (all R^2 on probe-test, uniform over targets, CV alpha as in `fit_layer`):

condition, seed, step, layer, concept -- what was probed (set by the caller);
r2 -- raw R^2 of the layer (the study's `probes.r2`);
r2_board -- R^2 of the one-hot board alone: the input-only reference line (same for every layer and step);
r2_board_layer -- R^2 of [one-hot board, layer] concatenated; r2_gain = r2_board_layer - r2_board;
r2_linear_part -- R^2 of the layer on the targets' part that is linear in the board;
r2_nonlinear -- R^2 of the layer on the nonlinear part: the passthrough-free measure the report leads with;
r2_control_nonlinear -- the same for the scrambled-board control concept;
selectivity -- max(r2_nonlinear, 0) - max(r2_control_nonlinear, 0): a negative R^2 is no better than the
    training mean, and two such failures differ only by how each target's test mean drifts, so both count as 0;
nonlinear_share -- the nonlinear part's share of the targets' variance on probe-train (pooled over targets);
alpha, alpha_nonlinear -- CV-chosen alphas of the raw and nonlinear-part probes;
n_alphas_at_edge -- of this record's five CV fits, how many chose the smallest or largest alpha of the grid;
n_alphas_at_open_edge -- how many of those with the CV score still changing at the edge (the grid is too narrow).
"""


def input_one_hot(tokens) -> torch.Tensor:
    """(N, f) float64 indicators of every (token position, value) pair that varies over the rows.

    One value per position is left out as the reference level (with an intercept the span equals the full
    one-hot's); constant positions (CLS) drop out. For 0/1 cell tokens this is the occupancy of each cell,
    plus the side-to-move indicator when the model has that token.
    """
    tokens = torch.as_tensor(tokens).long()
    if tokens.ndim != 2 or len(tokens) < 2:
        raise ValueError(f"tokens: expected a 2D (n_positions >= 2, seq_len) array, got shape {tuple(tokens.shape)}")
    columns = []
    for position in range(tokens.shape[1]):
        values = torch.unique(tokens[:, position])
        columns += [tokens[:, position] == value for value in values[1:]]
    if not columns:
        raise ValueError("tokens: every token position is constant over the probe set; there is no board to encode")
    return torch.stack(columns, dim=1).double()


@dataclass(frozen=True)
class LinearBoardMap:
    """Least-squares map (with intercept) from board features to targets: `predict(F) = y_mean + (F - f_mean) @ coef`."""

    feature_mean: torch.Tensor  # (f,)
    target_mean: torch.Tensor  # (k,)
    coef: torch.Tensor  # (f, k), minimum-norm solution when the features are collinear

    @classmethod
    def fit(cls, features: torch.Tensor, targets: torch.Tensor) -> "LinearBoardMap":
        """Ordinary least squares on the given (probe-train) rows, through an SVD (exact for rank-deficient features)."""
        feature_mean, target_mean = features.mean(dim=0), targets.mean(dim=0)
        coef = torch.linalg.pinv(features - feature_mean, hermitian=False) @ (targets - target_mean)
        return cls(feature_mean, target_mean, coef)

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        return self.target_mean + (features - self.feature_mean) @ self.coef


def split_linear_part(features: torch.Tensor, targets: np.ndarray, train_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(linear part, nonlinear part) of every row's targets, the linear map fitted on `train_index` rows only."""
    Y = torch.as_tensor(np.asarray(targets, dtype=np.float64))
    board_map = LinearBoardMap.fit(features[train_index], Y[train_index])
    linear = board_map.predict(features)
    return linear.numpy(), (Y - linear).numpy()


def variance_share(part: np.ndarray, whole: np.ndarray) -> float:
    """Summed variance of `part` over summed variance of `whole` (pooled over target columns)."""
    total = float(np.var(whole, axis=0).sum())
    return float(np.var(part, axis=0).sum()) / total if total > 0 else 0.0


@dataclass(frozen=True)
class BoardReference:
    """What the board alone explains on one probe set; fit once, reuse for every layer, step, condition and seed."""

    concept: str
    features: torch.Tensor  # (N, f) one-hot board of every row
    linear_part: ProbeSet  # the probe set with targets = their linear map from the board
    nonlinear_part: ProbeSet  # targets minus that map
    control_nonlinear_part: ProbeSet | None  # the scrambled-board control concept's nonlinear part
    r2_board: float
    board_selection: AlphaSelection
    nonlinear_share: float  # on probe-train
    control_nonlinear_share: float | None


def control_split(features: torch.Tensor, probe_set: ProbeSet, control_targets) -> tuple[ProbeSet, float]:
    """The control concept's nonlinear part as a probe set, and its variance share on probe-train."""
    control_targets = np.asarray(control_targets, dtype=np.float64)
    control_targets = control_targets[:, None] if control_targets.ndim == 1 else control_targets
    if len(control_targets) != len(probe_set.targets):
        raise ValueError(f"control_targets: expected {len(probe_set.targets)} rows (one per probe-set position), "
                         f"got {len(control_targets)}")
    _, nonlinear = split_linear_part(features, control_targets, probe_set.train_index)
    train = probe_set.train_index
    return probe_set.with_targets(nonlinear), variance_share(nonlinear[train], control_targets[train])


def board_reference(probe_set: ProbeSet, *, concept: str = "", control_targets: np.ndarray | None = None,
                    alphas=DEFAULT_ALPHAS, n_splits: int = 5, standardize: bool = False) -> BoardReference:
    """Input-only R^2 and the linear/nonlinear split of the probe set's targets (and of `control_targets`)."""
    features = input_one_hot(probe_set.tokens)
    train = probe_set.train_index
    linear, nonlinear = split_linear_part(features, probe_set.targets, train)
    board_probe, selection = fit_probe_grouped_cv(features[train], probe_set.y_train, probe_set.train_games, alphas,
                                                  n_splits, standardize)
    control, control_share = (None, None) if control_targets is None else control_split(features, probe_set, control_targets)
    r2_board = board_probe.score(features[probe_set.test_index], probe_set.y_test)
    return BoardReference(concept, features, probe_set.with_targets(linear), probe_set.with_targets(nonlinear), control,
                          r2_board, selection, variance_share(nonlinear[train], probe_set.y_train), control_share)


def scrambled_board_concept(spec, tokens, concept: str, seed: int = 0, **concept_kwargs) -> np.ndarray:
    """(N, k) float64 concept values on each board with its cells permuted by one fixed seeded permutation.

    The boards are the first rows*cols tokens. The permutation is `np.random.default_rng(seed).permutation(n_cells)`,
    the same for every row, so the control concept has the concept's construction on a geometry the game lacks.
    """
    n_cells = spec.rows * spec.cols
    boards = torch.as_tensor(tokens)[:, :n_cells].numpy().astype(np.uint8)
    permutation = np.random.default_rng(seed).permutation(n_cells)
    return compute_concept(concept, spec, boards[:, permutation], **concept_kwargs).astype(np.float64)


@dataclass(frozen=True)
class PassthroughScores:
    """One layer's passthrough-aware probe scores (see PASSTHROUGH_RECORD_KEYS for each field's meaning)."""

    layer: str
    r2: float
    r2_board: float
    r2_board_layer: float
    r2_linear_part: float
    r2_nonlinear: float
    r2_control_nonlinear: float
    nonlinear_share: float
    selections: dict[str, AlphaSelection]  # fit name -> its CV outcome

    @property
    def r2_gain(self) -> float:
        return self.r2_board_layer - self.r2_board

    @property
    def selectivity(self) -> float:
        """Nonlinear-part R^2 beyond the scrambled control's, each floored at 0 (see PASSTHROUGH_RECORD_KEYS)."""
        return max(self.r2_nonlinear, 0.0) - max(self.r2_control_nonlinear, 0.0)

    @property
    def n_alphas_at_edge(self) -> int:
        return sum(selection.at_grid_edge for selection in self.selections.values())

    @property
    def n_alphas_at_open_edge(self) -> int:
        return sum(selection.at_open_edge for selection in self.selections.values())

    def record(self, condition: str, seed: int, step: int, concept: str) -> dict:
        """A plain dict with exactly PASSTHROUGH_RECORD_KEYS, for results.json."""
        return {"condition": condition, "seed": int(seed), "step": int(step), "layer": self.layer, "concept": concept,
                "r2": self.r2, "r2_board": self.r2_board, "r2_board_layer": self.r2_board_layer, "r2_gain": self.r2_gain,
                "r2_linear_part": self.r2_linear_part, "r2_nonlinear": self.r2_nonlinear,
                "r2_control_nonlinear": self.r2_control_nonlinear, "selectivity": self.selectivity,
                "nonlinear_share": self.nonlinear_share, "alpha": self.selections["raw"].alpha,
                "alpha_nonlinear": self.selections["nonlinear"].alpha, "n_alphas_at_edge": self.n_alphas_at_edge,
                "n_alphas_at_open_edge": self.n_alphas_at_open_edge}


def probe_test_r2(X: torch.Tensor, probe_set: ProbeSet, alphas, n_splits: int, standardize: bool) -> tuple[float, AlphaSelection]:
    """The layers.py protocol in brief: alpha by grouped CV on probe-train, refit, uniform R^2 on probe-test."""
    probe, selection = fit_probe_grouped_cv(X[probe_set.train_index], probe_set.y_train, probe_set.train_games, alphas,
                                            n_splits, standardize)
    return probe.score(X[probe_set.test_index], probe_set.y_test), selection


def probe_test_r2_many(X: torch.Tensor, targets: dict, alphas, n_splits: int, standardize: bool) -> dict:
    """`probe_test_r2` for several target probe sets with the same split (name -> ProbeSet), fitted together
    (`fit_probes_grouped_cv`: one eigendecomposition per fold for all of them)."""
    first = next(iter(targets.values()))
    fits = fit_probes_grouped_cv(X[first.train_index], {name: t.y_train for name, t in targets.items()},
                                 first.train_games, alphas, n_splits, standardize)
    X_test = X[first.test_index]
    return {name: (probe.score(X_test, targets[name].y_test), selection) for name, (probe, selection) in fits.items()}


FITS_ON_LAYER = ("raw", "linear_part", "nonlinear", "control_nonlinear")  # fits on the layer's activations alone


def passthrough_for_concepts(layer: str, activations, concepts: list[tuple[ProbeSet, BoardReference]],
                             alphas=DEFAULT_ALPHAS, n_splits: int = 5, standardize: bool = False) -> list[PassthroughScores]:
    """`passthrough_scores` of one layer for several concepts (probe set, board reference) on the same split: the
    fits on the layer share one eigendecomposition per fold, as do the fits on board + layer."""
    X = torch.as_tensor(activations).double()
    for concept_set, reference in concepts:
        if len(X) != len(concept_set.tokens):
            raise ValueError(f"layer {layer}: {len(X)} activation rows for a probe set of {len(concept_set.tokens)} positions")
        if reference.control_nonlinear_part is None:
            raise ValueError("reference has no scrambled control; build it with board_reference(..., control_targets=...)")
    splits = {(i, name): target for i, (concept_set, reference) in enumerate(concepts)
              for name, target in (("raw", concept_set), ("linear_part", reference.linear_part),
                                   ("nonlinear", reference.nonlinear_part),
                                   ("control_nonlinear", reference.control_nonlinear_part))}
    fits = probe_test_r2_many(X, splits, alphas, n_splits, standardize)
    board = concepts[0][1].features.to(X.device)
    if any(not torch.equal(reference.features.to(X.device), board) for _, reference in concepts):
        raise ValueError("the concepts' board references use different board features; score them one at a time")
    fits |= {(i, "board_layer"): fit for (i, _), fit in probe_test_r2_many(
        torch.cat([board, X], dim=1), {(i, "raw"): concept_set for i, (concept_set, _) in enumerate(concepts)},
        alphas, n_splits, standardize).items()}
    scores = []
    for i, (_, reference) in enumerate(concepts):
        r2 = {name: fits[(i, name)][0] for name in (*FITS_ON_LAYER, "board_layer")}
        scores.append(PassthroughScores(layer, r2["raw"], reference.r2_board, r2["board_layer"], r2["linear_part"],
                                        r2["nonlinear"], r2["control_nonlinear"], reference.nonlinear_share,
                                        {name: fits[(i, name)][1] for name in ("raw", "board_layer", "linear_part",
                                                                               "nonlinear", "control_nonlinear")}))
    return scores


def passthrough_scores(layer: str, activations, probe_set: ProbeSet, reference: BoardReference, alphas=DEFAULT_ALPHAS,
                       n_splits: int = 5, standardize: bool = False) -> PassthroughScores:
    """Raw, nonlinear-part, board+layer, linear-part and scrambled-control R^2 of one layer's activations (N, d)."""
    return passthrough_for_concepts(layer, activations, [(probe_set, reference)], alphas, n_splits, standardize)[0]


def passthrough_all_layers(activations: dict[str, torch.Tensor], probe_set: ProbeSet, reference: BoardReference,
                           alphas=DEFAULT_ALPHAS, n_splits: int = 5, standardize: bool = False) -> dict[str, PassthroughScores]:
    """`passthrough_scores` for every captured layer (e.g. from `capture_cls_residuals`), keyed by layer label."""
    return {layer: passthrough_scores(layer, acts, probe_set, reference, alphas, n_splits, standardize)
            for layer, acts in activations.items()}


def passthrough_all_concepts(activations: dict[str, torch.Tensor], concepts: list[tuple[ProbeSet, BoardReference]],
                             alphas=DEFAULT_ALPHAS, n_splits: int = 5, standardize: bool = False
                             ) -> list[dict[str, PassthroughScores]]:
    """Per concept (probe set, board reference), `passthrough_all_layers`: every layer's fits shared across the
    concepts (`passthrough_for_concepts`)."""
    by_layer = {layer: passthrough_for_concepts(layer, acts, concepts, alphas, n_splits, standardize)
                for layer, acts in activations.items()}
    return [{layer: scores[i] for layer, scores in by_layer.items()} for i in range(len(concepts))]


def domineering_board_reference(spec, probe_set: ProbeSet, concept: str, *, control_seed: int = 0, alphas=DEFAULT_ALPHAS,
                                n_splits: int = 5, standardize: bool = False, **concept_kwargs) -> BoardReference:
    """`board_reference` with the scrambled-board control of `concept` computed from the probe set's boards."""
    control = scrambled_board_concept(spec, probe_set.tokens, concept, control_seed, **concept_kwargs)
    return board_reference(probe_set, concept=concept, control_targets=control, alphas=alphas, n_splits=n_splits,
                           standardize=standardize)
