"""A module's scalar activation: what describers explain and scorers predict.

Definition (fitted on the evidence split only, then applied unchanged to held-out positions):
the first principal component of the module's unit activations (centred, unscaled, so that units that
vary more weigh more), with its sign chosen so that the loadings sum to a positive number. `method="norm"`
uses the L2 norm of the centred activations instead (a sign-free "how strongly is it engaged" measure).
"""

from __future__ import annotations

import numpy as np


class ModuleActivation:
    """Estimator: `fit(X_evidence)` learns the centring and direction, `transform(X)` -> (N,) activation."""

    def __init__(self, method: str = "pc1") -> None:
        if method not in ("pc1", "norm"):
            raise ValueError(f"activation method={method!r}; expected 'pc1' or 'norm'")
        self.method = method

    def fit(self, units: np.ndarray) -> "ModuleActivation":
        """Learn the centring and the first principal direction (sign: loadings sum positive)."""
        x = np.asarray(units, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
            raise ValueError(f"module unit activations have shape {x.shape}; expected (N >= 2 positions, n_units >= 1)")
        self.mean_ = x.mean(0)
        xc = x - self.mean_
        # the top right-singular vector of the centred data is the first principal direction
        _, s, vt = np.linalg.svd(xc, full_matrices=False)
        direction = vt[0]
        if direction.sum() < 0 or (abs(direction.sum()) < 1e-12 and direction[np.argmax(np.abs(direction))] < 0):
            direction = -direction
        self.direction_ = direction
        total = float((s**2).sum())
        self.explained_variance_ratio_ = float(s[0] ** 2 / total) if total > 0 else 0.0
        self.n_units_ = x.shape[1]
        return self

    def transform(self, units: np.ndarray) -> np.ndarray:
        """The activation (N,) of unit activations with the fitted centring and direction."""
        x = np.asarray(units, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_units_:
            raise ValueError(f"unit activations have shape {x.shape}; expected (N, {self.n_units_}) as in fit")
        xc = x - self.mean_
        if self.method == "norm":
            return np.sqrt((xc * xc).sum(1))
        return xc @ self.direction_

    def fit_transform(self, units: np.ndarray) -> np.ndarray:
        """`fit(units)` then `transform(units)`."""
        return self.fit(units).transform(units)
