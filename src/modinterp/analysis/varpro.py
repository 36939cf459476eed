"""Variable projection, vectorised over many curves at once (bootstrap replicates, seeds, prefixes).

For each curve: evaluate the exact linear least-squares solution (offset, amplitudes) at every point of a
log-spaced grid over the nonlinear parameters, keep the best point that respects the data-derived bounds, then
zoom in with successively finer local grids. The grid makes the fit free of starting points and local minima;
the zoom brings it to the least-squares optimum (checked against scipy.optimize.least_squares in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modinterp.analysis.models import CurveModel, TimeScales

_CHUNK_BYTES = 64 * 2**20  # memory per chunk of curves; keeps the grid products in cache-friendly pieces
_ZOOM_POINTS = 7  # local grid points per nonlinear parameter at each zoom level
_ZOOM_LEVELS = 5  # each level shrinks the spacing by 3: final spacing = coarse / 243
_N_STARTS = 3  # distinct grid optima refined per curve
_START_SEPARATION = 3  # grid steps (Chebyshev distance) between two starts


SIGNS = ("free", "positive", "negative")


@dataclass(frozen=True)
class FitBounds:
    """Bounds on the linear parameters, derived from the values of the series being analysed."""

    offset_low: float
    offset_high: float
    amplitude_low: float
    amplitude_high: float

    @classmethod
    def from_values(
        cls, values: np.ndarray, offset_margin: float = 1.0, amplitude_margin: float = 10.0, sign: str = "free"
    ) -> "FitBounds":
        """Offset within the value range widened by `offset_margin` ranges; |amplitude| <= `amplitude_margin` ranges.

        `sign="positive"` keeps amplitudes >= 0 (a gap that decays from above, as the original assumed).
        """
        if sign not in SIGNS:
            raise ValueError(f"sign={sign!r}; expected one of {SIGNS}")
        values = np.asarray(values, dtype=float)
        lo, hi = float(np.min(values)), float(np.max(values))
        spread = hi - lo if hi > lo else max(abs(hi), 1e-12)
        amp = amplitude_margin * spread
        amp_low, amp_high = {"free": (-amp, amp), "positive": (0.0, amp), "negative": (-amp, 0.0)}[sign]
        return cls(lo - offset_margin * spread, hi + offset_margin * spread, amp_low, amp_high)

    def offset_at_edge(self, offset: np.ndarray, fraction: float = 0.005) -> np.ndarray:
        """Offsets within `fraction` of the offset range of a bound: the data did not pin the offset down."""
        margin = fraction * (self.offset_high - self.offset_low)
        with np.errstate(invalid="ignore"):
            return (np.asarray(offset) <= self.offset_low + margin) | (np.asarray(offset) >= self.offset_high - margin)

    def feasible(self, coef: np.ndarray) -> np.ndarray:
        """Mask of coefficient vectors (..., n_linear) inside the bounds."""
        offset_ok = (coef[..., 0] >= self.offset_low) & (coef[..., 0] <= self.offset_high)
        amp_ok = np.all((coef[..., 1:] >= self.amplitude_low) & (coef[..., 1:] <= self.amplitude_high), axis=-1)
        return offset_ok & amp_ok & np.all(np.isfinite(coef), axis=-1)


@dataclass
class BatchFit:
    """Least-squares fits of one family to R curves. `params` are natural parameters in `model.param_names` order."""

    model: CurveModel
    t: np.ndarray
    params: np.ndarray  # (R, k), NaN where the fit failed
    rss: np.ndarray  # (R,), inf where the fit failed
    success: np.ndarray  # (R,) bool
    at_bound: np.ndarray  # (R,) bool: a nonlinear parameter or the offset sits on the edge of its range

    @property
    def offset(self) -> np.ndarray:
        return self.params[:, 0]

    @property
    def time_scale(self) -> np.ndarray:
        return self.model.time_scale(self.params, float(self.t[0]))

    @property
    def n_failed(self) -> int:
        return int(np.sum(~self.success))


def fit_batch(
    model: CurveModel, t: np.ndarray, curves: np.ndarray, bounds: FitBounds, zoom_levels: int = _ZOOM_LEVELS, n_starts: int = _N_STARTS
) -> BatchFit:
    """Fit `model` by least squares to every row of `curves` (R, T) sampled at times `t` (T,).

    The `n_starts` best grid points that are at least 3 grid steps apart are each refined, and the best refined
    point wins: two basins with similar RSS (common for the double exponential) cannot trap the fit in the
    worse one because of grid discretisation.
    """
    t = np.asarray(t, dtype=float)
    curves = np.atleast_2d(np.asarray(curves, dtype=float))
    if curves.shape[1] != t.size:
        raise ValueError(f"curves have {curves.shape[1]} time points but the time axis has {t.size}")
    if not np.all(np.isfinite(curves)):
        raise ValueError("curves contain NaN or inf; drop or impute those points before fitting")
    scales = TimeScales.of(t)
    log_bounds = model.log_bounds(scales)
    starts, start_rss = _coarse_grid(model, t, curves, bounds, model.log_grid(scales), model.grid_steps(scales), n_starts)
    n_rep, n_st, q = starts.shape
    flat_theta, flat_rss = starts.reshape(-1, q), start_rss.reshape(-1)
    flat_coef = np.full((flat_theta.shape[0], model.n_linear), np.nan)
    found = np.isfinite(flat_rss)
    rows = np.repeat(np.arange(n_rep), n_st)[found]
    flat_theta[found], flat_coef[found], flat_rss[found] = _zoom(
        model, t, curves[rows], flat_theta[found], model.grid_steps(scales), log_bounds, bounds, zoom_levels
    )
    pick = np.argmin(flat_rss.reshape(n_rep, n_st), axis=1) + np.arange(n_rep) * n_st
    log_theta, coef, rss = flat_theta[pick], flat_coef[pick], flat_rss[pick]
    success = np.isfinite(rss)
    params = np.full((n_rep, model.n_params), np.nan)
    params[success] = np.concatenate([coef[success], np.exp(log_theta[success])], axis=1)
    edge = np.isclose(log_theta, log_bounds[:, 0], rtol=0, atol=1e-9) | np.isclose(log_theta, log_bounds[:, 1], rtol=0, atol=1e-9)
    edge = np.any(edge, axis=1) | bounds.offset_at_edge(params[:, 0])
    return BatchFit(model, t, params, np.where(success, rss, np.inf), success, success & edge)


def _coarse_grid(model: CurveModel, t: np.ndarray, curves: np.ndarray, bounds: FitBounds, grid: np.ndarray, steps: np.ndarray, n_starts: int):
    """The `n_starts` best feasible, mutually distant grid points per curve: (R, n_starts, q) and their RSS.

    One QR per grid point and a matrix product over all curves; missing starts are NaN with RSS inf.
    """
    design = model.design(t, grid)  # (G, T, p)
    q_mat, r_mat = np.linalg.qr(design)
    with np.errstate(all="ignore"):
        r_inv = np.linalg.inv(r_mat)  # (G, p, p); near-singular points give huge coefficients, rejected by bounds
    n_grid, n_t, p = design.shape
    qt = q_mat.transpose(0, 2, 1).reshape(n_grid * p, n_t)
    cell = np.round((grid - grid.min(axis=0)) / steps).astype(np.int64)  # integer grid coordinates
    chunk = max(1, _CHUNK_BYTES // (8 * n_grid * p * 2))
    best_theta = np.full((curves.shape[0], n_starts, grid.shape[1]), np.nan)
    best_rss = np.full((curves.shape[0], n_starts), np.inf)
    for start in range(0, curves.shape[0], chunk):
        y = curves[start : start + chunk]
        rows = np.arange(y.shape[0])
        qty = (qt @ y.T).reshape(n_grid, p, -1)  # (G, p, Rc)
        coef = np.einsum("gij,gjr->rgi", r_inv, qty)
        rss = np.einsum("ij,ij->i", y, y)[:, None] - np.einsum("gpr,gpr->rg", qty, qty)
        rss = np.where(bounds.feasible(coef), np.maximum(rss, 0.0), np.inf)
        for k in range(n_starts):
            idx = np.argmin(rss, axis=1)
            best_rss[start : start + chunk, k] = rss[rows, idx]
            best_theta[start : start + chunk, k] = grid[idx]
            if k + 1 < n_starts:  # exclude the neighbourhood of this start before looking for the next
                near = np.max(np.abs(cell[None, :, :] - cell[idx][:, None, :]), axis=-1) < _START_SEPARATION
                rss[near] = np.inf
    best_theta[~np.isfinite(best_rss)] = np.nan
    return best_theta, best_rss


def _zoom(model, t, curves, log_theta, coarse_step, log_bounds, bounds, levels):
    """Refine each curve's grid optimum with local product grids of shrinking spacing (centre always included).

    The final coefficients and RSS are recomputed from explicit residuals at the chosen point.
    """
    q = log_theta.shape[1]
    offsets = np.arange(_ZOOM_POINTS) - _ZOOM_POINTS // 2
    n_cand = _ZOOM_POINTS**q
    chunk = max(1, _CHUNK_BYTES // (8 * n_cand * t.size * 2))
    theta_out = log_theta.copy()
    for start in range(0, curves.shape[0], chunk):
        sl = slice(start, start + chunk)
        theta, y = log_theta[sl], curves[sl]
        step = np.asarray(coarse_step, dtype=float)
        best_rss = np.full(theta.shape[0], np.inf)
        rows = np.arange(theta.shape[0])
        for _ in range(max(levels, 1)):
            step = step / 3.0
            axes = [np.clip(theta[:, d, None] + offsets * step[d], *log_bounds[d]) for d in range(q)]
            cand, coef, rss = _product_fit(model, t, y, axes)
            rss = np.where(bounds.feasible(coef) & model.valid(cand), rss, np.inf)
            idx = np.argmin(rss, axis=1)
            better = rss[rows, idx] <= best_rss  # the centre is a candidate, so this only fails if all are infeasible
            theta = np.where(better[:, None], cand[rows, idx], theta)
            best_rss = np.where(better, rss[rows, idx], best_rss)
        theta_out[sl] = theta
    coef_out, rss_out = solve_normal(model.design(t, theta_out), curves)
    rss_out = np.where(bounds.feasible(coef_out), rss_out, np.inf)
    return theta_out, coef_out, rss_out


def _product_fit(model: CurveModel, t: np.ndarray, y: np.ndarray, axes: list[np.ndarray]):
    """Exact linear solve at every combination of per-parameter candidates (axes: q arrays (R, P) of log values).

    Uses sums over time (Gram entries) so each basis function is evaluated once per candidate value where the
    family allows it (the two exponentials of the double exponential are evaluated separately).
    Returns candidates (R, M, q), coefficients (R, M, p) and RSS (R, M), with M = P**q.
    """
    n_rep, n_pts = axes[0].shape
    dt = (t - t[0])[None, None, :]
    if model.name == "exponential":
        phis = [np.exp(-dt / np.exp(axes[0])[..., None])]  # (R, P, T)
    elif model.name == "power_law":
        t0 = np.exp(axes[1])[..., None]  # (R, P, 1)
        log_ratio = np.log((t[None, None, :] + t0) / (t[0] + t0))  # (R, P_t0, T)
        alpha = np.exp(axes[0])[:, :, None, None]  # (R, P_alpha, 1, 1)
        phis = [np.exp(-alpha * log_ratio[:, None, :, :])]  # (R, P_alpha, P_t0, T)
    elif model.name == "double_exponential":
        phi1 = np.exp(-dt / np.exp(axes[0])[..., None])
        phi2 = np.exp(-dt / np.exp(axes[1])[..., None])
        phis = [phi1[:, :, None, :], phi2[:, None, :, :]]  # broadcast to (R, P, P, T)
    else:
        raise ValueError(f"unknown model {model.name!r}")
    grid_shape = (n_rep,) + (n_pts,) * len(axes)
    y_b = y.reshape((n_rep,) + (1,) * len(axes) + (t.size,))
    p = 1 + len(phis)
    gram = np.empty(grid_shape + (p, p))
    rhs = np.empty(grid_shape + (p,))
    gram[..., 0, 0] = t.size
    rhs[..., 0] = y_b.sum(axis=-1)
    for j, phi_j in enumerate(phis, start=1):
        gram[..., 0, j] = gram[..., j, 0] = phi_j.sum(axis=-1)
        rhs[..., j] = (phi_j * y_b).sum(axis=-1)
        for k, phi_k in enumerate(phis[: j], start=1):
            gram[..., j, k] = gram[..., k, j] = (phi_j * phi_k).sum(axis=-1)
    with np.errstate(all="ignore"):
        if p > 2:  # jitter keeps coincident time scales (rejected later by model.valid) from raising
            jitter = 1e-12 * np.trace(gram, axis1=-2, axis2=-1)[..., None, None] * np.eye(p)
            coef = np.linalg.solve(gram + jitter, rhs[..., None])[..., 0]
        else:
            coef = _solve_2x2(gram, rhs)
        rss = np.einsum("rt,rt->r", y, y).reshape((n_rep,) + (1,) * len(axes)) - np.einsum("...p,...p->...", coef, rhs)
    rss = np.where(np.isfinite(rss), np.maximum(rss, 0.0), np.inf)
    mesh = np.meshgrid(*[np.arange(n_pts)] * len(axes), indexing="ij")
    cand = np.stack([ax[:, m.ravel()] for ax, m in zip(axes, mesh)], axis=-1)  # (R, M, q)
    return cand, coef.reshape(n_rep, -1, p), rss.reshape(n_rep, -1)


def _solve_2x2(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Closed-form solution of stacked symmetric 2x2 systems."""
    a, b, d = gram[..., 0, 0], gram[..., 0, 1], gram[..., 1, 1]
    det = a * d - b * b
    return np.stack([(d * rhs[..., 0] - b * rhs[..., 1]) / det, (a * rhs[..., 1] - b * rhs[..., 0]) / det], axis=-1)


def solve_normal(design: np.ndarray, y: np.ndarray):
    """Least squares for stacked designs (..., T, p) and targets (..., T) via (jittered) normal equations.

    Returns coefficients (..., p) and residual sums of squares (...,), computed from explicit residuals.
    """
    gram = np.swapaxes(design, -1, -2) @ design
    rhs = np.einsum("...tp,...t->...p", design, np.broadcast_to(y, design.shape[:-1]))
    jitter = 1e-12 * np.trace(gram, axis1=-2, axis2=-1)[..., None, None] * np.eye(gram.shape[-1])
    with np.errstate(all="ignore"):
        coef = np.linalg.solve(gram + jitter, rhs[..., None])[..., 0]
        resid = y - np.einsum("...tp,...p->...t", design, coef)
    rss = np.einsum("...t,...t->...", resid, resid)
    return coef, np.where(np.isfinite(rss), rss, np.inf)
