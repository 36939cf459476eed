"""Curve families for a gap that changes during training, written for variable projection.

Every family is `offset + sum_j amplitude_j * phi_j(t; theta)`: linear in (offset, amplitudes) once the
nonlinear parameters theta are fixed. Each basis function is normalised to 1 at the first time point, so an
amplitude reads as "excess over the offset at the start of the series". Nonlinear parameters live on a log
scale; their ranges are derived from the time axis (spacing, span, end), never hard-coded for one data set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TimeScales:
    """Summary of a time axis from which grid ranges are derived (works for steps or cumulative LR)."""

    first: float
    last: float
    span: float
    spacing: float

    @classmethod
    def of(cls, t: np.ndarray) -> "TimeScales":
        t = np.asarray(t, dtype=float)
        if t.ndim != 1 or t.size < 3:
            raise ValueError(f"time axis must be 1-D with >= 3 points, got shape {t.shape}")
        diffs = np.diff(t)
        if not np.all(diffs > 0):
            raise ValueError("time axis must be strictly increasing; sort the series or drop duplicate steps")
        return cls(first=float(t[0]), last=float(t[-1]), span=float(t[-1] - t[0]), spacing=float(np.median(diffs)))


@dataclass(frozen=True)
class CurveModel:
    """One family: names of its nonlinear parameters (log-scale grid) and amplitudes, plus its basis."""

    name: str
    formula: str
    nonlinear: tuple[str, ...]
    amplitudes: tuple[str, ...]
    grid_sizes: tuple[int, ...]

    @property
    def n_linear(self) -> int:
        return 1 + len(self.amplitudes)

    @property
    def n_params(self) -> int:
        return self.n_linear + len(self.nonlinear)

    @property
    def param_names(self) -> tuple[str, ...]:
        return ("offset", *self.amplitudes, *self.nonlinear)

    def log_bounds(self, scales: TimeScales) -> np.ndarray:
        """(q, 2) array of [low, high] bounds of log(theta), derived from the time axis."""
        return np.log(np.array([_RANGES[name](scales) for name in self.nonlinear], dtype=float))

    def log_grid(self, scales: TimeScales) -> np.ndarray:
        """(G, q) grid of log(theta): the Cartesian product of per-parameter log-spaced axes, filtered to valid points."""
        axes = [np.linspace(lo, hi, n) for (lo, hi), n in zip(self.log_bounds(scales), self.grid_sizes)]
        grid = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=-1)
        return grid[self.valid(grid)]

    def grid_steps(self, scales: TimeScales) -> np.ndarray:
        """(q,) spacing of the coarse grid in log units (used to size local refinement)."""
        bounds = self.log_bounds(scales)
        return (bounds[:, 1] - bounds[:, 0]) / (np.array(self.grid_sizes) - 1)

    def valid(self, log_theta: np.ndarray) -> np.ndarray:
        """Boolean mask of parameter points the family accepts (e.g. tau1 < tau2 for the double exponential)."""
        if self.name == "double_exponential":
            return log_theta[..., 0] < log_theta[..., 1]
        return np.ones(log_theta.shape[:-1], dtype=bool)

    def basis(self, t: np.ndarray, log_theta: np.ndarray) -> np.ndarray:
        """Basis functions phi_j(t): shape (..., T, n_amplitudes) for log_theta of shape (..., q)."""
        t = np.asarray(t, dtype=float)
        theta = np.exp(log_theta)[..., None, :]  # (..., 1, q)
        dt = t - t[0]
        if self.name == "exponential":
            return np.exp(-dt[:, None] / theta)
        if self.name == "power_law":
            alpha, t0 = theta[..., 0], theta[..., 1]  # each (..., 1), broadcasting against t (T,)
            return (((t + t0) / (t[0] + t0)) ** (-alpha))[..., None]
        if self.name == "double_exponential":
            return np.exp(-dt[:, None] / theta)
        raise ValueError(f"unknown model {self.name!r}")

    def design(self, t: np.ndarray, log_theta: np.ndarray) -> np.ndarray:
        """Design matrix [1, phi_1, ...]: shape (..., T, n_linear)."""
        phi = self.basis(t, log_theta)
        ones = np.ones(phi.shape[:-1] + (1,))
        return np.concatenate([ones, phi], axis=-1)

    def predict(self, t: np.ndarray, params: np.ndarray, t_first: float) -> np.ndarray:
        """Evaluate the curve at times `t` for natural parameters ordered as `param_names` (params: (..., k))."""
        params = np.asarray(params, dtype=float)
        t = np.asarray(t, dtype=float)
        n_lin = self.n_linear
        log_theta = np.log(params[..., n_lin:])
        t_full = np.concatenate([[t_first], t])  # basis is normalised at t_first
        phi = self.basis(t_full, log_theta)[..., 1:, :]
        return params[..., :1] + np.einsum("...tj,...j->...t", phi, params[..., 1:n_lin])

    def time_scale(self, params: np.ndarray, t_first: float) -> np.ndarray:
        """One comparable time scale per fit: the e-folding time of the excess (slow component for two exponentials)."""
        params = np.asarray(params, dtype=float)
        if self.name == "exponential":
            return params[..., 2]
        if self.name == "power_law":
            alpha, t0 = params[..., 2], params[..., 3]
            return (t_first + t0) * np.expm1(1.0 / alpha)
        if self.name == "double_exponential":
            return params[..., 4]
        raise ValueError(f"unknown model {self.name!r}")


# Ranges of the nonlinear parameters as functions of the time axis. Rationale: a time scale shorter than half
# the sampling interval, or longer than ten spans, cannot be told apart from a step or a straight line.
_RANGES = {
    "tau": lambda s: (0.5 * s.spacing, 10.0 * s.span),
    "tau1": lambda s: (0.5 * s.spacing, 10.0 * s.span),
    "tau2": lambda s: (0.5 * s.spacing, 10.0 * s.span),
    "alpha": lambda s: (0.05, 5.0),  # exponent: dimensionless, so the range is scale-free
    "t0": lambda s: (0.1 * s.spacing, 3.0 * max(s.last, s.span)),
}

EXPONENTIAL = CurveModel("exponential", "offset + amplitude*exp(-(t-t1)/tau)", ("tau",), ("amplitude",), (241,))
POWER_LAW = CurveModel(
    "power_law", "offset + amplitude*((t+t0)/(t1+t0))^(-alpha)", ("alpha", "t0"), ("amplitude",), (41, 41)
)
DOUBLE_EXPONENTIAL = CurveModel(
    "double_exponential",
    "offset + amplitude1*exp(-(t-t1)/tau1) + amplitude2*exp(-(t-t1)/tau2), tau1 < tau2",
    ("tau1", "tau2"),
    ("amplitude1", "amplitude2"),
    (41, 41),
)
MODELS: dict[str, CurveModel] = {m.name: m for m in (EXPONENTIAL, POWER_LAW, DOUBLE_EXPONENTIAL)}


def get_model(name: str) -> CurveModel:
    """Look a family up by name, with an error listing the known names."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown curve model {name!r}; expected one of {sorted(MODELS)}") from None
