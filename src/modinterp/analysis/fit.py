"""Single-curve fits: variable-projection grid, then scipy.optimize.least_squares polish (optionally robust).

A fit that fails (no grid point inside the data-derived bounds, or the optimiser not converging) comes back as a
FitResult with `success=False` and the reason in `message`; nothing is replaced by a fallback value.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import least_squares

from modinterp.analysis.models import CurveModel, TimeScales, get_model
from modinterp.analysis.varpro import BatchFit, FitBounds, fit_batch

LOSSES = ("linear", "huber", "soft_l1")


@dataclass
class FitResult:
    """Outcome of fitting one family to one curve. `params` is empty when no feasible point was found."""

    model: str
    success: bool
    message: str
    params: dict[str, float]
    offset: float
    time_scale: float
    rss: float
    n_points: int
    n_params: int
    loss: str
    t_first: float
    at_bound: list[str] = field(default_factory=list)

    @property
    def aic(self) -> float:
        """Gaussian AIC, n*ln(RSS/n) + 2k (k counts the curve parameters)."""
        return information_criterion(self.rss, self.n_points, self.n_params, 2.0)

    @property
    def bic(self) -> float:
        """Gaussian BIC, n*ln(RSS/n) + k*ln(n)."""
        return information_criterion(self.rss, self.n_points, self.n_params, math.log(self.n_points))

    def predict(self, t: np.ndarray) -> np.ndarray:
        """Curve values at times `t`; NaN if the fit failed."""
        t = np.asarray(t, dtype=float)
        if not self.params:
            return np.full(t.shape, np.nan)
        model = get_model(self.model)
        return model.predict(t, np.array([self.params[n] for n in model.param_names]), self.t_first)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(aic=self.aic, bic=self.bic)
        return out


def information_criterion(rss: float, n: int, k: int, penalty_per_param: float) -> float:
    """n*ln(RSS/n) + k*penalty; +inf for a failed fit, and a floor on RSS so a perfect fit stays finite."""
    if not np.isfinite(rss) or n <= 0:
        return math.inf
    return n * math.log(max(rss, 1e-300) / n) + k * penalty_per_param


def fit_curve(
    model: CurveModel | str,
    t: np.ndarray,
    y: np.ndarray,
    loss: str = "linear",
    f_scale: float | None = None,
    bounds: FitBounds | None = None,
    max_nfev: int | None = None,
) -> FitResult:
    """Fit one family to one curve: global grid (exact linear solve), zoom, then least_squares from that point.

    `loss` is passed to least_squares ("linear" = plain least squares; "huber"/"soft_l1" are robust);
    `f_scale` defaults to 1.4826*MAD of the grid-fit residuals. `bounds` default to ones derived from `y`.
    """
    model = get_model(model) if isinstance(model, str) else model
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not supported; expected one of {LOSSES}")
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    if y.shape != t.shape:
        raise ValueError(f"y has shape {y.shape} but t has shape {t.shape}; pass one value per time point")
    if t.size <= model.n_params:
        return _failed(model, t, f"{t.size} points cannot determine {model.n_params} parameters; need at least {model.n_params + 1}", loss)
    bounds = bounds or FitBounds.from_values(y)
    grid_fit = fit_batch(model, t, y[None], bounds)
    if not grid_fit.success[0]:
        return _failed(
            model,
            t,
            f"no grid point satisfies the data-derived bounds (offset in [{bounds.offset_low:.4g}, "
            f"{bounds.offset_high:.4g}], amplitudes in [{bounds.amplitude_low:.4g}, {bounds.amplitude_high:.4g}])",
            loss,
        )
    start = grid_fit.params[0]
    return _polish(model, t, y, start, bounds, loss, f_scale, max_nfev)


def _polish(model, t, y, start, bounds: FitBounds, loss, f_scale, max_nfev) -> FitResult:
    """least_squares over (offset, amplitudes, log theta) within the same bounds as the grid."""
    scales = TimeScales.of(t)
    log_b = model.log_bounds(scales)
    n_lin = model.n_linear
    lower = np.concatenate([[bounds.offset_low], np.full(n_lin - 1, bounds.amplitude_low), log_b[:, 0]])
    upper = np.concatenate([[bounds.offset_high], np.full(n_lin - 1, bounds.amplitude_high), log_b[:, 1]])
    x0 = np.concatenate([start[:n_lin], np.log(start[n_lin:])])
    width = upper - lower
    x0 = np.clip(x0, lower + 1e-9 * width, upper - 1e-9 * width)

    def residuals(x: np.ndarray) -> np.ndarray:
        params = np.concatenate([x[:n_lin], np.exp(x[n_lin:])])
        return model.predict(t, params, t[0]) - y

    if f_scale is None:
        resid0 = residuals(x0)
        f_scale = max(1.4826 * float(np.median(np.abs(resid0 - np.median(resid0)))), 1e-12)
    res = least_squares(residuals, x0, bounds=(lower, upper), loss=loss, f_scale=f_scale, max_nfev=max_nfev, x_scale="jac")
    params = np.concatenate([res.x[:n_lin], np.exp(res.x[n_lin:])])
    message = str(res.message)
    if loss == "linear" and 0.5 * np.sum(residuals(x0) ** 2) < res.cost:
        params = start  # least_squares ended above the grid optimum it started from: keep the better point, and say so
        message += " (least_squares ended above its starting grid optimum; the grid optimum is reported)"
    rss = float(np.sum((model.predict(t, params, t[0]) - y) ** 2))
    edge = np.isclose(np.log(params[n_lin:]), log_b[:, 0], atol=1e-6) | np.isclose(np.log(params[n_lin:]), log_b[:, 1], atol=1e-6)
    return FitResult(
        model=model.name,
        success=bool(res.success),
        message=message,
        params={name: float(v) for name, v in zip(model.param_names, params)},
        offset=float(params[0]),
        time_scale=float(model.time_scale(params, float(t[0]))),
        rss=rss,
        n_points=int(t.size),
        n_params=model.n_params,
        loss=loss,
        t_first=float(t[0]),
        at_bound=[name for name, e in zip(model.nonlinear, edge) if e] + (["offset"] if bounds.offset_at_edge(params[0]) else []),
    )


def robust_batch(model: CurveModel, t: np.ndarray, curves: np.ndarray, bounds: FitBounds, loss: str) -> BatchFit:
    """Batch fit with a robust loss: vectorised least-squares grid fit, then least_squares per curve (slow path)."""
    start = fit_batch(model, t, curves, bounds)
    params, rss, success = start.params.copy(), start.rss.copy(), start.success.copy()
    for i in np.flatnonzero(start.success):
        res = _polish(model, t, curves[i], start.params[i], bounds, loss, None, None)
        params[i] = [res.params[n] for n in model.param_names]
        rss[i], success[i] = res.rss, res.success
    params[~success], rss[~success] = np.nan, np.inf
    return BatchFit(model, np.asarray(t, dtype=float), params, rss, success, start.at_bound & success)


def _failed(model: CurveModel, t: np.ndarray, message: str, loss: str) -> FitResult:
    return FitResult(model.name, False, message, {}, math.nan, math.nan, math.inf, int(t.size), model.n_params, loss, float(t[0]) if t.size else math.nan)


class CurveFit:
    """Estimator wrapper (scikit-learn style): `CurveFit("exponential").fit(t, y).predict(t_new)`."""

    def __init__(self, model: str = "exponential", loss: str = "linear", f_scale: float | None = None):
        self.model = model
        self.loss = loss
        self.f_scale = f_scale

    def fit(self, t: np.ndarray, y: np.ndarray) -> "CurveFit":
        self.result_ = fit_curve(self.model, t, y, loss=self.loss, f_scale=self.f_scale)
        self.params_ = dict(self.result_.params)
        self.offset_ = self.result_.offset
        self.success_ = self.result_.success
        return self

    def predict(self, t: np.ndarray) -> np.ndarray:
        if not hasattr(self, "result_"):
            raise RuntimeError("CurveFit is not fitted yet; call fit(t, y) first")
        return self.result_.predict(t)
