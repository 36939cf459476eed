"""Is the probe set big enough? The standard error of probe-test R^2 by a bootstrap over test *games*.

Positions of one game are correlated, so resampling positions would understate the error; whole games are
resampled instead. The study checks that the standard error is at most 0.01 (the original's 200 test
positions gave about +-0.03).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TARGET_STANDARD_ERROR = 0.01


@dataclass(frozen=True)
class R2Sizing:
    """Bootstrap summary of probe-test R^2 (uniform over targets)."""

    r2: float
    standard_error: float
    n_games: int
    n_positions: int
    n_boot: int

    def is_sufficient(self, target: float = TARGET_STANDARD_ERROR) -> bool:
        return self.standard_error <= target

    def describe(self) -> str:
        return (f"probe-test R^2 = {self.r2:.4f} +- {self.standard_error:.4f} (bootstrap SE over {self.n_games} games, "
                f"{self.n_positions} positions, {self.n_boot} resamples)")


def _per_game_sums(Y: np.ndarray, P: np.ndarray, game_ids: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per game: position count (G,), sum y, sum y^2 and sum of squared residuals (G, k)."""
    _, game = np.unique(game_ids, return_inverse=True)
    n_games = game.max() + 1

    def per_game(values: np.ndarray) -> np.ndarray:
        out = np.zeros((n_games, values.shape[1]))
        np.add.at(out, game, values)
        return out

    return np.bincount(game).astype(np.float64), per_game(Y), per_game(Y * Y), per_game((Y - P) ** 2)


def r2_from_sums(count, sum_y, sum_yy, sum_res) -> np.ndarray:
    """Uniform-average R^2 from pooled sums; works on stacked resamples (..., k) -> (...)."""
    ss_tot = sum_yy - sum_y ** 2 / count[..., None]
    ss_tot = np.where(ss_tot > 1e-12 * np.maximum(sum_yy, 1e-300), ss_tot, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1.0 - sum_res / np.where(ss_tot > 0, ss_tot, 1.0), np.where(sum_res == 0, 1.0, 0.0))
    return r2.mean(axis=-1)


def bootstrap_r2_by_game(Y, P, game_ids, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """R^2 (uniform over targets) of `n_boot` resamples of whole test games, drawn with replacement (seeded)."""
    Y = np.asarray(Y, dtype=np.float64)
    P = np.asarray(P, dtype=np.float64)
    Y, P = (Y[:, None], P[:, None]) if Y.ndim == 1 else (Y, P)
    game_ids = np.asarray(game_ids)
    if Y.shape != P.shape or len(game_ids) != len(Y):
        raise ValueError(f"Y {Y.shape}, predictions {P.shape} and game_ids ({len(game_ids)},): expected matching rows")
    count, sum_y, sum_yy, sum_res = _per_game_sums(Y, P, game_ids)
    n_games = len(count)
    if n_games < 2:
        raise ValueError(f"game_ids: need at least 2 test games to bootstrap, got {n_games}")
    # A resample is a vector of how often each game is drawn; the pooled sums are then one matrix product.
    draws = np.random.default_rng(seed).multinomial(n_games, np.full(n_games, 1.0 / n_games), size=n_boot).astype(np.float64)
    return r2_from_sums(draws @ count, draws @ sum_y, draws @ sum_yy, draws @ sum_res)


def r2_standard_error(Y, P, game_ids, n_boot: int = 1000, seed: int = 0) -> R2Sizing:
    """Probe-test R^2 and its bootstrap standard error over test games (ddof=1)."""
    Y = np.asarray(Y, dtype=np.float64)
    P = np.asarray(P, dtype=np.float64)
    Y2, P2 = (Y[:, None], P[:, None]) if Y.ndim == 1 else (Y, P)
    count, sum_y, sum_yy, sum_res = _per_game_sums(Y2, P2, np.asarray(game_ids))
    r2 = float(r2_from_sums(np.asarray(count.sum()), sum_y.sum(0), sum_yy.sum(0), sum_res.sum(0)))
    samples = bootstrap_r2_by_game(Y, P, game_ids, n_boot, seed)
    return R2Sizing(r2, float(samples.std(ddof=1)), len(count), len(Y2), n_boot)


def probe_standard_error(probe, X_test, Y_test, test_game_ids, n_boot: int = 1000, seed: int = 0) -> R2Sizing:
    """`r2_standard_error` for a fitted probe's predictions on probe-test."""
    return r2_standard_error(Y_test, np.asarray(probe.predict(X_test)), test_game_ids, n_boot, seed)
