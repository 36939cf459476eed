"""Closed-form ridge regression probes in torch (float64), equal to scikit-learn's `Ridge`.

A probe maps activations X (n, d) to concept targets Y (n, k). `RidgeProbe` fits one alpha;
`ridge_path` solves many alphas from one eigendecomposition, which is what makes grouped
cross-validation over an alpha grid cheap (see `modinterp.probes.cv`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
import torch



def as_float64(values, name: str, ndim: tuple[int, ...] = (2,), device: torch.device | None = None) -> torch.Tensor:
    """Convert an array or tensor to a float64 tensor, failing early on a wrong shape or non-finite values."""
    tensor = values.detach() if isinstance(values, torch.Tensor) else torch.from_numpy(np.asarray(values))
    tensor = tensor.to(device=device if device is not None else tensor.device, dtype=torch.float64)
    if tensor.ndim not in ndim:
        raise ValueError(
            f"{name}: expected a {' or '.join(f'{n}D' for n in ndim)} array, got shape {tuple(tensor.shape)}; "
            "reshape it, e.g. X.reshape(len(X), -1) or y.reshape(-1, 1)"
        )
    if tensor.numel() and not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name}: contains NaN or infinite values; drop or impute those rows before probing")
    return tensor


def _as_targets(Y, device: torch.device | None = None) -> tuple[torch.Tensor, bool]:
    """Targets as a 2D float64 tensor plus whether the caller gave 1D targets (predictions then come back 1D)."""
    tensor = as_float64(Y, "Y", ndim=(1, 2), device=device)
    return (tensor[:, None], True) if tensor.ndim == 1 else (tensor, False)


@dataclass(frozen=True)
class Centering:
    """Feature offsets and scales learned on training rows (scikit-learn's StandardScaler conventions)."""

    mean: torch.Tensor
    scale: torch.Tensor

    @classmethod
    def fit(cls, X: torch.Tensor, standardize: bool) -> "Centering":
        mean = X.mean(dim=0)
        if not standardize:
            return cls(mean, torch.ones_like(mean))
        std = X.std(dim=0, correction=0)
        # Constant features keep scale 1 (as StandardScaler does) instead of dividing by zero.
        return cls(mean, torch.where(std > 10 * torch.finfo(std.dtype).eps * mean.abs().clamp_min(1.0), std, torch.ones_like(std)))

    def apply(self, X: torch.Tensor) -> torch.Tensor:
        return (X - self.mean) / self.scale


@dataclass(frozen=True)
class RidgeSpectrum:
    """Everything needed to produce ridge coefficients for any alpha: Xc = centred X, Yc = centred Y.

    Primal form (n >= d): eigh(Xc^T Xc) = V diag(s) V^T and W(alpha) = V diag(1/(s+alpha)) V^T Xc^T Yc.
    Dual form (n < d): eigh(Xc Xc^T) = U diag(s) U^T and W(alpha) = Xc^T U diag(1/(s+alpha)) U^T Yc.
    """

    basis: torch.Tensor  # (d, r) columns spanning the solution space
    eigenvalues: torch.Tensor  # (r,)
    projected_targets: torch.Tensor  # (r, k)

    def coefficients(self, alphas: torch.Tensor) -> torch.Tensor:
        """Ridge weights (n_alphas, d, k) for each alpha."""
        shrink = 1.0 / (self.eigenvalues[None, :] + alphas[:, None])  # (a, r)
        return torch.einsum("dr,ar,rk->adk", self.basis, shrink, self.projected_targets)

    def predictions(self, Xc_new: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
        """Centred predictions (n_alphas, m, k) for new centred rows, without forming each W(alpha)."""
        shrink = 1.0 / (self.eigenvalues[None, :] + alphas[:, None])
        return torch.einsum("mr,ar,rk->amk", Xc_new @ self.basis, shrink, self.projected_targets)


def ridge_spectrum(Xc: torch.Tensor, Yc: torch.Tensor) -> RidgeSpectrum:
    """Decompose the centred problem once so that every alpha costs only a rescaling."""
    n, d = Xc.shape
    if n >= d:
        eigenvalues, V = torch.linalg.eigh(Xc.T @ Xc)
        return RidgeSpectrum(V, eigenvalues.clamp_min(0.0), V.T @ (Xc.T @ Yc))
    eigenvalues, U = torch.linalg.eigh(Xc @ Xc.T)
    eigenvalues = eigenvalues.clamp_min(0.0)
    # W = Xc^T U diag(1/(s+a)) U^T Yc: the basis is Xc^T U (d, n), the projected targets U^T Yc (n, k).
    return RidgeSpectrum(Xc.T @ U, eigenvalues, U.T @ Yc)


def check_alphas(alphas) -> torch.Tensor:
    """Alphas as a 1D float64 tensor of positive values, or a clear error."""
    values = torch.as_tensor(np.atleast_1d(np.asarray(alphas, dtype=np.float64)))
    if values.ndim != 1 or values.numel() == 0:
        raise ValueError(f"alphas: expected a non-empty 1D list of positive numbers, got {alphas!r}")
    if not bool((values > 0).all()) or not bool(torch.isfinite(values).all()):
        raise ValueError(f"alphas: every alpha must be a finite number > 0, got {values.tolist()}; use e.g. np.logspace(-3, 5, 17)")
    return values


def r2_per_target(Y: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """R^2 of each target column (scikit-learn's `r2_score(..., multioutput='raw_values')`, force_finite=True).

    A constant target scores 1.0 when predicted exactly and 0.0 otherwise, as in scikit-learn.
    Works on any leading batch dimensions: Y (..., n, k), P (..., n, k) -> (..., k).
    """
    ss_res = ((Y - P) ** 2).sum(dim=-2)
    ss_tot = ((Y - Y.mean(dim=-2, keepdim=True)) ** 2).sum(dim=-2)
    ss_tot = ss_tot.expand_as(ss_res)
    r2 = 1.0 - ss_res / torch.where(ss_tot > 0, ss_tot, torch.ones_like(ss_tot))
    constant = ss_tot == 0
    return torch.where(constant, torch.where(ss_res == 0, torch.ones_like(r2), torch.zeros_like(r2)), r2)


def r2_uniform(Y: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """R^2 averaged uniformly over targets (what scikit-learn's `Ridge.score` reports)."""
    return r2_per_target(Y, P).mean(dim=-1)


def r2_pooled(Y: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Pooled R^2 = 1 - sum SS_res / sum SS_tot over targets (scikit-learn's 'variance_weighted')."""
    ss_res = ((Y - P) ** 2).sum(dim=(-2, -1))
    ss_tot = ((Y - Y.mean(dim=-2, keepdim=True)) ** 2).sum(dim=(-2, -1))
    ss_tot = ss_tot.expand_as(ss_res)
    r2 = 1.0 - ss_res / torch.where(ss_tot > 0, ss_tot, torch.ones_like(ss_tot))
    return torch.where(ss_tot == 0, torch.where(ss_res == 0, torch.ones_like(r2), torch.zeros_like(r2)), r2)


class RidgeProbe:
    """Linear probe: closed-form ridge with intercept, solved in float64 (equals `sklearn.linear_model.Ridge`).

    With `standardize=True` the features are scaled by their training standard deviation first, which equals
    `make_pipeline(StandardScaler(), Ridge(alpha))`; use it when residual-stream norms drift during training.

    Learned attributes: `coef_` (k, d) or (d,) for 1D targets, `intercept_` (k,) or scalar, `feature_mean_`,
    `feature_scale_`, `n_features_in_`, all as float64 numpy arrays.
    """

    def __init__(self, alpha: float = 1.0, standardize: bool = False):
        self.alpha = alpha
        self.standardize = standardize

    def fit(self, X, Y) -> "RidgeProbe":
        fitted = fit_ridge_probes(X, {"Y": Y}, {"Y": self.alpha}, self.standardize)["Y"]
        self.__dict__.update({k: v for k, v in fitted.__dict__.items() if k not in ("alpha", "standardize")})
        return self

    def _set_learned(self, W: torch.Tensor, intercept: torch.Tensor, centering: Centering, one_d: bool) -> None:
        """Store weights in raw feature units so that predict needs no scaling step."""
        self._weights = W
        self._intercept = intercept
        self._one_d = one_d
        self.feature_mean_ = centering.mean.cpu().numpy()
        self.feature_scale_ = centering.scale.cpu().numpy()
        self.n_features_in_ = W.shape[0]
        coef = W.T.cpu().numpy()
        self.coef_ = coef[0] if one_d else coef
        self.intercept_ = float(intercept[0]) if one_d else intercept.cpu().numpy()

    def _check_fitted(self, X) -> torch.Tensor:
        if not hasattr(self, "_weights"):
            raise RuntimeError("this RidgeProbe is not fitted yet; call .fit(X, Y) first")
        X = as_float64(X, "X", device=self._weights.device)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X: expected {self.n_features_in_} features (as in fit), got {X.shape[1]}")
        return X

    def predict_tensor(self, X) -> torch.Tensor:
        """Predictions as a float64 tensor (n, k), kept 2D even for 1D training targets."""
        X = self._check_fitted(X)
        return X @ self._weights + self._intercept

    def predict(self, X) -> np.ndarray:
        P = self.predict_tensor(X).cpu().numpy()
        return P[:, 0] if self._one_d else P

    def score(self, X, Y) -> float:
        """R^2 averaged uniformly over targets, as `sklearn.linear_model.Ridge.score`."""
        P = self.predict_tensor(X)
        Y, _ = _as_targets(Y, device=P.device)
        return float(r2_uniform(Y, P))

    def score_pooled(self, X, Y) -> float:
        """Pooled (variance-weighted) R^2 over targets."""
        P = self.predict_tensor(X)
        Y, _ = _as_targets(Y, device=P.device)
        return float(r2_pooled(Y, P))

    def get_params(self, deep: bool = True) -> dict:
        return {"alpha": self.alpha, "standardize": self.standardize}

    def set_params(self, **params) -> "RidgeProbe":
        for key, value in params.items():
            if key not in ("alpha", "standardize"):
                raise ValueError(f"RidgeProbe has no parameter {key!r}; valid parameters: alpha, standardize")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        return f"RidgeProbe(alpha={self.alpha!r}, standardize={self.standardize!r})"


def fit_ridge_probes(X, targets: Mapping[Hashable, object], alphas: Mapping[Hashable, float],
                     standardize: bool = False) -> dict[Hashable, RidgeProbe]:
    """One `RidgeProbe` per target block on the same features X, block `name` with alpha `alphas[name]`, from one
    eigendecomposition: each equals `RidgeProbe(alphas[name], standardize).fit(X, targets[name])` (ridge solves
    every target column independently)."""
    X = as_float64(X, "X")
    blocks = {name: _as_targets(Y, device=X.device) for name, Y in targets.items()}
    for name, (Y, _) in blocks.items():
        if len(X) != len(Y) or len(X) < 2:
            label = "Y" if len(blocks) == 1 else f"Y[{name!r}]"
            raise ValueError(f"X and {label}: expected the same number of rows (at least 2), got {len(X)} and {len(Y)}")
    grid = {}
    for name in blocks:
        alpha = check_alphas(alphas[name])
        if alpha.numel() != 1:
            raise ValueError(f"alpha: expected one positive number, got {alphas[name]!r}; use select_alpha_grouped_cv for a grid")
        grid[name] = alpha.to(X.device)
    Y = torch.cat([Y for Y, _ in blocks.values()], dim=1)
    centering = Centering.fit(X, standardize)
    y_mean = Y.mean(dim=0)
    spectrum = ridge_spectrum(centering.apply(X), Y - y_mean)
    probes, start = {}, 0
    for name, (block, one_d) in blocks.items():
        span = slice(start, start + block.shape[1])
        start = span.stop
        W = spectrum.coefficients(grid[name])[0][:, span] / centering.scale[:, None]  # (d, k) in raw feature units
        probe = RidgeProbe(alpha=alphas[name], standardize=standardize)
        probe._set_learned(W, y_mean[span] - centering.mean @ W, centering, one_d)
        probes[name] = probe
    return probes
