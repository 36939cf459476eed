"""Choosing the ridge alpha by grouped K-fold cross-validation on probe-train (folds never split a game).

Equivalent to `GridSearchCV(Ridge(), {"alpha": alphas}, cv=GroupKFold(n_splits)).fit(X, Y, groups=game_ids)`
(with a StandardScaler inside each fold when `standardize=True`): the score of an alpha is the mean over
folds of the held-out R^2 averaged uniformly over targets, and the first best alpha in grid order wins.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from modinterp.probes.ridge import (Centering, RidgeProbe, as_float64, check_alphas, fit_ridge_probes, r2_per_target,
                                   ridge_spectrum)
from modinterp.probes.splits import group_kfold

DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-8, 10, 37))
"""10^-8 .. 10^10 in half decades; includes alpha = 1, the original experiment's fixed value.

Wide enough that CV never chose an edge where its score was still changing, in 220 fits on trained and random
8x8 models (docs/probes.md, "The alpha grid"): at the small end ridge is least squares, at the large end it predicts
the training mean. The former 10^-3 .. 10^5 grid chose its edge in 77 of those fits, 76 of them still changing.
Extra alphas cost only a rescaling of one eigendecomposition.
"""
EDGE_PLATEAU_TOLERANCE = 1e-5  # held-out R^2 change between the edge alpha and its neighbour that counts as flat


@dataclass(frozen=True)
class AlphaSelection:
    """Outcome of grouped CV: the chosen alpha and the mean held-out R^2 of every alpha in the grid."""

    alpha: float
    alphas: tuple[float, ...]
    cv_r2: tuple[float, ...]  # mean over folds, same order as alphas
    n_splits: int

    @property
    def at_grid_edge(self) -> bool:
        """True when the best alpha is the smallest or largest in the grid: widen the grid."""
        return at_grid_edge(self.alpha, self.alphas)

    @property
    def at_open_edge(self) -> bool:
        """True when the best alpha is at the grid's edge and the CV score still changes there: the grid is too narrow.

        An edge on a plateau is the limit itself (least squares at the small end; at the large end, nothing to
        decode beyond the mean) and needs no wider grid.
        """
        if not self.at_grid_edge:
            return False
        edge = self.alphas.index(self.alpha)
        neighbour = 1 if edge == 0 else edge - 1
        return abs(self.cv_r2[edge] - self.cv_r2[neighbour]) > EDGE_PLATEAU_TOLERANCE


def at_grid_edge(alpha: float, alphas) -> bool:
    """True when `alpha` is the smallest or largest value of a grid of more than one alpha (CV hit the edge)."""
    grid = np.asarray(alphas, dtype=np.float64)
    return len(grid) > 1 and bool(np.isclose(alpha, grid.min(), rtol=1e-12) or np.isclose(alpha, grid.max(), rtol=1e-12))


def count_at_grid_edge(chosen_alphas, alphas=DEFAULT_ALPHAS) -> int:
    """How many of the chosen alphas (e.g. the `alpha` of every probe record) sit at the grid's edge."""
    return sum(at_grid_edge(float(alpha), alphas) for alpha in chosen_alphas)


def fold_r2_per_target(X: torch.Tensor, Y: torch.Tensor, train: np.ndarray, test: np.ndarray, alphas: torch.Tensor,
                       standardize: bool) -> torch.Tensor:
    """Held-out R^2 (n_alphas, k) of each target column, ridge fitted on rows `train` and scored on rows `test`.

    Scored in Gram form: with Z = the test rows in the spectrum's basis (m, r), T its projected targets (r, k) and
    s_a = 1/(eigenvalues + alpha), SS_res = |R|^2 - 2 s_a.(Z^T R * T) + (s_a T).(Z^T Z s_a T) per column, so no
    (n_alphas, m, k) prediction tensor is formed (r^2 k instead of m r k per alpha; m ~ 20 r here). Constant
    test columns and the dual form (r > m) take the explicit path, `fold_r2_explicit`."""
    spectrum, Z, Y_test, y_mean = _fold_problem(X, Y, train, test, standardize)
    ss_tot = ((Y_test - Y_test.mean(dim=0)) ** 2).sum(dim=0)  # (k,)
    if Z.shape[1] > Z.shape[0] or not bool((ss_tot > 0).all()):
        return _r2_explicit(spectrum, Z, Y_test, y_mean, alphas)
    R, T = Y_test - y_mean, spectrum.projected_targets  # (m, k), (r, k)
    shrink = 1.0 / (spectrum.eigenvalues[None, :] + alphas[:, None])  # (a, r)
    scaled = shrink[:, :, None] * T[None]  # (a, r, k): s_a T
    ss_res = ((R ** 2).sum(dim=0) - 2.0 * shrink @ ((Z.T @ R) * T)
              + (scaled * torch.matmul(Z.T @ Z, scaled)).sum(dim=1)).clamp_min(0.0)
    return 1.0 - ss_res / ss_tot


def _r2_explicit(spectrum, Z: torch.Tensor, Y_test: torch.Tensor, y_mean: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """(n_alphas, k) R^2 from the predictions themselves (scikit-learn's conventions for constant targets)."""
    shrink = 1.0 / (spectrum.eigenvalues[None, :] + alphas[:, None])
    predictions = torch.einsum("mr,ar,rk->amk", Z, shrink, spectrum.projected_targets) + y_mean
    return r2_per_target(Y_test.expand(len(alphas), -1, -1), predictions)


def fold_r2_explicit(X: torch.Tensor, Y: torch.Tensor, train: np.ndarray, test: np.ndarray, alphas: torch.Tensor,
                     standardize: bool) -> torch.Tensor:
    """`fold_r2_per_target` by forming every alpha's predictions: the slow reference it is tested against."""
    return _r2_explicit(*_fold_problem(X, Y, train, test, standardize), alphas)


def _fold_problem(X: torch.Tensor, Y: torch.Tensor, train: np.ndarray, test: np.ndarray, standardize: bool):
    """(spectrum of the fold's centred training rows, test rows in its basis (m, r), test targets, training target
    mean): what both ways of scoring a fold start from."""
    train_t, test_t = torch.as_tensor(train, device=X.device), torch.as_tensor(test, device=X.device)
    centering = Centering.fit(X[train_t], standardize)
    y_mean = Y[train_t].mean(dim=0)
    spectrum = ridge_spectrum(centering.apply(X[train_t]), Y[train_t] - y_mean)
    return spectrum, centering.apply(X[test_t]) @ spectrum.basis, Y[test_t], y_mean


def fold_r2_by_alpha(X: torch.Tensor, Y: torch.Tensor, train: np.ndarray, test: np.ndarray, alphas: torch.Tensor, standardize: bool) -> torch.Tensor:
    """Held-out uniform R^2 (n_alphas,) of ridge fitted on rows `train` and scored on rows `test`."""
    return fold_r2_per_target(X, Y, train, test, alphas, standardize).mean(dim=-1)


def _as_target_blocks(targets: Mapping[Hashable, object], device) -> tuple[torch.Tensor, dict[Hashable, slice]]:
    """Every target block as 2D float64 columns of one matrix, and each block's columns."""
    blocks, spans, start = [], {}, 0
    for name, Y in targets.items():
        Y = as_float64(Y, "Y" if len(targets) == 1 else f"Y[{name!r}]", ndim=(1, 2), device=device)
        Y = Y[:, None] if Y.ndim == 1 else Y
        blocks.append(Y)
        spans[name] = slice(start, start + Y.shape[1])
        start += Y.shape[1]
    return torch.cat(blocks, dim=1), spans


def select_alphas_grouped_cv(X, targets: Mapping[Hashable, object], game_ids, alphas=DEFAULT_ALPHAS, n_splits: int = 5,
                             standardize: bool = False) -> dict[Hashable, AlphaSelection]:
    """`select_alpha_grouped_cv` for several target blocks on the same features at once: each block gets its own
    alpha (its columns' mean held-out R^2), from one eigendecomposition per fold shared by all blocks (ridge
    solves each target column independently, so sharing changes nothing but the cost)."""
    X = as_float64(X, "X")
    Y, spans = _as_target_blocks(targets, X.device)
    game_ids = np.asarray(game_ids)
    if not len(X) == len(Y) == len(game_ids):
        raise ValueError(f"X, Y and game_ids: expected the same number of rows, got {len(X)}, {len(Y)} and {len(game_ids)}")
    grid = check_alphas(alphas).to(X.device)
    folds = group_kfold(game_ids, n_splits)
    per_target = torch.stack([fold_r2_per_target(X, Y, train, test, grid, standardize) for train, test in folds])
    selections = {}
    for name, span in spans.items():
        scores = per_target[:, :, span].mean(dim=-1).mean(dim=0)  # uniform over the block's columns, then folds
        best = int(torch.argmax(scores))  # argmax returns the first maximum, as GridSearchCV's rank does
        selections[name] = AlphaSelection(float(grid[best]), tuple(grid.tolist()), tuple(scores.tolist()), n_splits)
    return selections


def select_alpha_grouped_cv(X, Y, game_ids, alphas=DEFAULT_ALPHAS, n_splits: int = 5, standardize: bool = False) -> AlphaSelection:
    """Pick the alpha with the best mean held-out R^2 over grouped K folds (one eigendecomposition per fold)."""
    return select_alphas_grouped_cv(X, {"Y": Y}, game_ids, alphas, n_splits, standardize)["Y"]


def fit_probes_grouped_cv(X, targets: Mapping[Hashable, object], game_ids, alphas=DEFAULT_ALPHAS, n_splits: int = 5,
                          standardize: bool = False) -> dict[Hashable, tuple[RidgeProbe, AlphaSelection]]:
    """`fit_probe_grouped_cv` for several target blocks on the same features: alphas chosen together
    (`select_alphas_grouped_cv`), then each block refitted on all rows with its own alpha."""
    selections = select_alphas_grouped_cv(X, targets, game_ids, alphas, n_splits, standardize)
    probes = fit_ridge_probes(X, targets, {name: s.alpha for name, s in selections.items()}, standardize)
    return {name: (probes[name], selections[name]) for name in targets}


def fit_probe_grouped_cv(X, Y, game_ids, alphas=DEFAULT_ALPHAS, n_splits: int = 5, standardize: bool = False) -> tuple[RidgeProbe, AlphaSelection]:
    """Select alpha by grouped CV, then refit on all of probe-train with it (RidgeCV's refit)."""
    return fit_probes_grouped_cv(X, {"Y": Y}, game_ids, alphas, n_splits, standardize)["Y"]
