"""The alpha grid's edge: counting edge choices, and telling a plateau (the limit itself) from a too-narrow grid."""

from __future__ import annotations

import numpy as np

from modinterp.probes.cv import DEFAULT_ALPHAS, AlphaSelection, at_grid_edge, count_at_grid_edge, select_alpha_grouped_cv

GRID = (0.1, 1.0, 10.0, 100.0)


def linear_problem(seed: int, n: int = 300, noise: float = 0.01):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    return X, X @ rng.normal(size=(6, 2)) + noise * rng.normal(size=(n, 2)), np.repeat(np.arange(n // 3), 3)


def test_count_at_grid_edge_counts_both_ends_of_the_grid():
    chosen = [DEFAULT_ALPHAS[0], 1.0, DEFAULT_ALPHAS[-1], DEFAULT_ALPHAS[-1], 10.0]
    assert count_at_grid_edge(chosen) == 3
    assert at_grid_edge(100.0, GRID) and at_grid_edge(0.1, GRID) and not at_grid_edge(1.0, GRID)
    assert not at_grid_edge(1.0, (1.0,))  # a one-alpha grid has no edge to hit


def test_edge_on_a_plateau_is_not_open_but_a_still_changing_edge_is():
    flat_top = AlphaSelection(100.0, GRID, (-0.5, -0.1, -0.010001, -0.01), 5)  # nothing to decode: mean-only limit
    rising_top = AlphaSelection(100.0, GRID, (-0.5, -0.1, -0.05, -0.01), 5)
    flat_bottom = AlphaSelection(0.1, GRID, (0.9, 0.9 - 1e-7, 0.8, 0.5), 5)  # least-squares limit
    assert flat_top.at_grid_edge and not flat_top.at_open_edge
    assert rising_top.at_open_edge
    assert flat_bottom.at_grid_edge and not flat_bottom.at_open_edge
    assert not AlphaSelection(1.0, GRID, (0.1, 0.9, 0.5, 0.2), 5).at_open_edge  # interior choice


def test_narrow_grid_on_clean_linear_data_is_open_and_the_default_grid_reaches_the_plateau():
    X, Y, games = linear_problem(0)
    assert select_alpha_grouped_cv(X, Y, games, alphas=[10.0, 100.0, 1000.0]).at_open_edge
    default = select_alpha_grouped_cv(X, Y, games)
    assert not default.at_open_edge  # with almost no noise the best alpha is tiny, and the grid reaches least squares
