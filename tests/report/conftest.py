"""A synthetic results.json that follows the growth-study schema (generated here, not a study output)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

CONDITIONS = ["small-aux", "small-noaux", "large-baseline", "large-embed-aux", "large-embed-noaux"]
LARGE_LAYERS = ["0", "1", "2", "3", "4", "5", "final_ln"]
SMALL_LAYERS = ["0", "1", "2", "final_ln"]
CONCEPTS = ["sector_move_difference", "safe_moves"]


def passthrough_record(condition: str, seed: int, step: int, layer: str, concept: str, r2: float, r2_nonlinear: float) -> dict:
    """A passthrough record with a fixed board reference (0.45) and a scrambled control near 0."""
    return {"condition": condition, "seed": seed, "step": step, "layer": layer, "concept": concept, "r2": r2,
            "r2_board": 0.45, "r2_board_layer": 0.45 + r2_nonlinear, "r2_gain": r2_nonlinear, "r2_linear_part": r2 + 0.1,
            "r2_nonlinear": r2_nonlinear, "r2_control_nonlinear": 0.001, "selectivity": max(r2_nonlinear, 0) - 0.001,
            "nonlinear_share": 0.54, "alpha": 10.0, "alpha_nonlinear": 100.0, "n_alphas_at_edge": 0,
            "n_alphas_at_open_edge": 0}


def synthetic_results(seed: int = 0, seeds=(0, 1), steps=range(0, 1001, 100)) -> dict:
    """Smooth decaying losses and rising R^2 with seed noise, for every condition, seed, step and layer."""
    rng = np.random.default_rng(seed)
    steps = list(steps)
    probes, losses, controls, passthrough, frozen = [], [], [], [], []
    for c, condition in enumerate(CONDITIONS):
        layers = SMALL_LAYERS if condition.startswith("small") else LARGE_LAYERS
        for s in seeds:
            for step in steps:
                t = step / max(steps)
                for split, every in (("train", 1), ("val_quick", 1)):
                    losses.append({"condition": condition, "seed": s, "step": step, "split": split,
                                   "loss": float(2.0 * np.exp(-3 * t) + 0.5 + 0.05 * c + 0.02 * rng.normal())})
                if step in (steps[len(steps) // 2], steps[-1]):
                    losses.append({"condition": condition, "seed": s, "step": step, "split": "val_full",
                                   "loss": float(2.0 * np.exp(-3 * t) + 0.52 + 0.05 * c)})
                for i, layer in enumerate(layers):
                    r2 = float(0.3 * (1 - np.exp(-4 * t)) + 0.02 * i + 0.01 * c + 0.01 * rng.normal())
                    probes.append({"condition": condition, "seed": s, "step": step, "layer": layer, "r2": r2,
                                   "r2_alpha1": r2 - 0.01, "r2_pooled": r2 + 0.01, "alpha": 10.0,
                                   "n_train": 20000, "n_test": 5000})
                    for k, concept in enumerate(CONCEPTS):
                        passthrough.append(passthrough_record(condition, s, step, layer, concept, r2 - 0.05 * k,
                                                              0.1 * r2 + 0.01 * c + 0.005 * rng.normal()))
                if condition.startswith("large-embed"):
                    frozen.append({"condition": condition, "seed": s, "step": step, "layer": "0", "r2": float(-50000 * t),
                                   "r2_recalibrated": float(0.1 - 0.05 * t), "r2_source_recalibrated": 0.1,
                                   "retention": float(1 - 0.5 * t)})
            for layer in layers:
                controls.append({"condition": condition, "seed": s, "layer": layer, "control": "init",
                                 "r2": float(0.1 + 0.01 * rng.normal())})
                controls.append({"condition": condition, "seed": s, "layer": layer, "control": "shuffled",
                                 "r2": float(-0.001 + 0.001 * rng.normal())})
                if condition.startswith("large-embed") and layer in SMALL_LAYERS:
                    controls.append({"condition": condition, "seed": s, "layer": layer, "control": "frozen",
                                     "r2": float(0.2 + 0.02 * rng.normal())})
    return {
        "schema_version": 1, "preset": "synthetic", "conditions": CONDITIONS, "seeds": list(seeds),
        "layers": LARGE_LAYERS, "last_embedded_layer": "2",
        "verification": {"max_abs_diff": 3.1e-7, "per_layer": {"0": 1.2e-7, "1": 2.0e-7, "2": 3.1e-7},
                         "heads": {"value": 0.0, "policy": 0.0},
                         "runs": [{"condition": c, "seed": s, "max_abs_diff": 3.1e-7 if (c, s) == ("large-embed-aux", 1)
                                   else 1.0e-7} for c in ("large-embed-aux", "large-embed-noaux") for s in seeds]},
        "config": {"board": "8x8", "sector": [2, 2], "steps": max(steps), "note": "<b>escaped</b>"},
        "probes": probes, "losses": losses, "controls": controls, "passthrough": passthrough, "frozen": frozen,
    }


@pytest.fixture(scope="session")
def make_results():
    """The `synthetic_results(seed, seeds, steps)` generator above."""
    return synthetic_results


@pytest.fixture(scope="session")
def built_report(tmp_path_factory):
    """(run_dir, report path) of one report built from synthetic results plus an extra section; built once
    because drawing the figures is the slow part of these tests."""
    from matplotlib.figure import Figure

    from modinterp.report import FigureBlock, Section, TextBlock
    from modinterp.studies.growth.report import build_growth_report

    run_dir = tmp_path_factory.mktemp("run")
    (run_dir / "results.json").write_text(json.dumps(synthetic_results()))
    (run_dir / "manifest.json").write_text(json.dumps({"git_commit": "abc123", "wall_time_s": 12.5}))
    figure = Figure(figsize=(2.0, 1.5))
    figure.add_subplot().plot([0, 1], [1, 0])
    extra = Section("Gap analysis", [TextBlock("fitted by the analysis stage"), FigureBlock.from_figure("gap", figure)])
    return run_dir, build_growth_report(run_dir, extra_sections=[extra])


@pytest.fixture
def results_dict() -> dict:
    return synthetic_results()


@pytest.fixture
def run_dir(tmp_path, results_dict):
    """A run folder with results.json and manifest.json, as the study leaves it."""
    (tmp_path / "results.json").write_text(json.dumps(results_dict))
    (tmp_path / "manifest.json").write_text(json.dumps({"git_commit": "abc123", "wall_time_s": 12.5, "seeds": [0, 1]}))
    return tmp_path


CHROMIUM_PACKAGES = ("chromium", "chromium-driver")


def _chromium_paths() -> tuple[str | None, str | None]:
    return (shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver"))


@pytest.fixture(scope="session")
def chromium():
    """(browser, driver) paths of headless Chromium; skips, naming the packages to install, when either is missing.

    The tests never install anything themselves (no apt-get from inside `make test`)."""
    browser, driver = _chromium_paths()
    if not (browser and driver):
        missing = " and ".join(name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path)
        pytest.skip(f"headless Chromium is needed: {missing} not on PATH; install the Debian/Ubuntu packages "
                    f"{' '.join(CHROMIUM_PACKAGES)} (e.g. `sudo apt-get install -y {' '.join(CHROMIUM_PACKAGES)}`)")
    return browser, driver
