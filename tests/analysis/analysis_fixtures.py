"""Helpers for the analysis tests: a small synthetic study results.json that follows the growth study schema (studies/growth/schema.py)."""

from __future__ import annotations


import numpy as np

CONDITIONS = ["small-aux", "small-noaux", "large-baseline", "large-embed-aux", "large-embed-noaux"]
LARGE = CONDITIONS[2:]
LAYERS = ["0", "1", "2", "final_ln"]
STEPS = [1000 * k for k in range(1, 21)]
SEEDS = [42, 123, 456]


def condition_r2(condition: str, seed: int, step: int, layer: str) -> float:
    """Known probe R^2: the aux condition starts 0.15 above baseline and decays to +0.04 (tau 5000 steps)."""
    base = 0.30 + 0.001 * SEEDS.index(seed) + 0.01 * LAYERS.index(layer)
    if condition == "large-embed-aux":
        return base + 0.04 + 0.15 * float(np.exp(-(step - 1000) / 5000))
    if condition == "large-embed-noaux":
        return base - 0.01
    return base


def make_results(conditions=CONDITIONS, steps=STEPS, seeds=SEEDS, noise: float = 0.0) -> dict:
    rng = np.random.default_rng(0)
    probes = []
    for condition in conditions:
        if condition not in LARGE:
            continue  # the small models are probed only at the end in this fixture: no gap series for them
        for seed in seeds:
            for step in steps:
                for layer in LAYERS:
                    r2 = condition_r2(condition, seed, step, layer) + noise * rng.standard_normal()
                    probes.append({"condition": condition, "seed": seed, "step": step, "layer": layer, "r2": r2,
                                   "r2_alpha1": r2, "r2_pooled": r2, "alpha": 1.0, "n_train": 800, "n_test": 200})
    return {"schema_version": 1, "preset": "test", "conditions": list(conditions), "seeds": list(seeds), "layers": LAYERS,
            "last_embedded_layer": "2", "verification": {"max_abs_diff": 0.0}, "config": {}, "probes": probes,
            "losses": [], "controls": []}
