"""Choosing the ridge alpha by grouped K-fold cross-validation on probe-train (folds never split a game).

Equivalent to `GridSearchCV(Ridge(), {"alpha": alphas}, cv=GroupKFold(n_splits)).fit(X, Y, groups=game_ids)`
(with a StandardScaler inside each fold when `standardize=True`): the score of an alpha is the mean over
folds of the held-out R^2 averaged uniformly over targets, and the first best alpha in grid order wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from modinterp.probes.ridge import Centering, RidgeProbe, as_float64, check_alphas, r2_uniform, ridge_spectrum
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


def fold_r2_by_alpha(X: torch.Tensor, Y: torch.Tensor, train: np.ndarray, test: np.ndarray, alphas: torch.Tensor, standardize: bool) -> torch.Tensor:
    """Held-out uniform R^2 (n_alphas,) of ridge fitted on rows `train` and scored on rows `test`."""
    train_t = torch.as_tensor(train, device=X.device)
    test_t = torch.as_tensor(test, device=X.device)
    X_fit, Y_fit = X[train_t], Y[train_t]
    centering = Centering.fit(X_fit, standardize)
    y_mean = Y_fit.mean(dim=0)
    spectrum = ridge_spectrum(centering.apply(X_fit), Y_fit - y_mean)
    predictions = spectrum.predictions(centering.apply(X[test_t]), alphas) + y_mean  # (a, m, k)
    return r2_uniform(Y[test_t].expand(len(alphas), -1, -1), predictions)


def select_alpha_grouped_cv(X, Y, game_ids, alphas=DEFAULT_ALPHAS, n_splits: int = 5, standardize: bool = False) -> AlphaSelection:
    """Pick the alpha with the best mean held-out R^2 over grouped K folds (one eigendecomposition per fold)."""
    X = as_float64(X, "X")
    Y = as_float64(Y, "Y", ndim=(1, 2), device=X.device)
    Y = Y[:, None] if Y.ndim == 1 else Y
    game_ids = np.asarray(game_ids)
    if not len(X) == len(Y) == len(game_ids):
        raise ValueError(f"X, Y and game_ids: expected the same number of rows, got {len(X)}, {len(Y)} and {len(game_ids)}")
    grid = check_alphas(alphas).to(X.device)
    folds = group_kfold(game_ids, n_splits)
    scores = torch.stack([fold_r2_by_alpha(X, Y, train, test, grid, standardize) for train, test in folds]).mean(dim=0)
    best = int(torch.argmax(scores))  # argmax returns the first maximum, as GridSearchCV's rank does
    return AlphaSelection(float(grid[best]), tuple(grid.tolist()), tuple(scores.tolist()), n_splits)


def fit_probe_grouped_cv(X, Y, game_ids, alphas=DEFAULT_ALPHAS, n_splits: int = 5, standardize: bool = False) -> tuple[RidgeProbe, AlphaSelection]:
    """Select alpha by grouped CV, then refit on all of probe-train with it (RidgeCV's refit)."""
    selection = select_alpha_grouped_cv(X, Y, game_ids, alphas, n_splits, standardize)
    return RidgeProbe(alpha=selection.alpha, standardize=standardize).fit(X, Y), selection
