"""The planted check end to end: build planted networks, describe every module with each describer, report
top-1 (does the description name the planted concept?) and held-out scores with their controls.

A random-concept describer runs in the same call as the chance baseline.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from rich.progress import Progress

from modinterp.describe.describers import ConceptDescriber, DescribeReport, Description, LLMDescriber
from modinterp.describe.evaluate import mean_scores, score_descriptions
from modinterp.describe.llm import LLMSettings
from modinterp.describe.module_evidence import ModuleEvidence
from modinterp.describe.planted import PlantedConfig, build_planted, planted_top1
from modinterp.describe.predicates import ConceptTable, Predicate


class RandomConceptDescriber:
    """Chance baseline: names a uniformly drawn library feature (seeded), with no look at the evidence."""

    name = "random-concept"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def describe(self, evidences: list[ModuleEvidence], table: ConceptTable) -> tuple[list[Description], DescribeReport]:
        rng = np.random.default_rng(self.seed)
        picks = rng.integers(0, len(table.names), size=len(evidences))
        out = [Description(ev.module, self.name, f"Tracks {table.meaning(table.names[p])} (random guess).", table.names[p],
                           Predicate.feature(table.names[p])) for ev, p in zip(evidences, picks)]
        return out, DescribeReport(self.name, len(evidences), len(out))


def run_planted_check(cfg: PlantedConfig, llm: LLMSettings | None = None, min_heldout_r2: float = 0.5,
                      show_progress: bool = True) -> dict[str, Any]:
    """Everything `bench/planted_descriptions.py` and `modinterp describe --planted` report, as JSON-ready data."""
    started = time.time()
    with Progress(disable=not show_progress, transient=True) as bar:
        task = bar.add_task("training planted networks", total=cfg.n_networks)
        modules, ev_table, ho_table = build_planted(cfg, progress=lambda done: bar.update(task, completed=done))
    build_s = time.time() - started
    evidences = [m.evidence for m in modules]
    act_ev = {m.module: m.evidence.activation for m in modules}
    act_ho = {m.module: m.activation_heldout for m in modules}
    describers: list[Any] = [ConceptDescriber(), RandomConceptDescriber(seed=cfg.seed)]
    if llm is not None:
        describers.append(LLMDescriber(llm))
    results: dict[str, Any] = {}
    descriptions_by: dict[str, list[Description]] = {}
    for describer in describers:
        t0 = time.time()
        descriptions, report = describer.describe(evidences, ev_table)
        scores = score_descriptions(descriptions, act_ev, act_ho, ev_table, ho_table, seed=cfg.seed)
        results[describer.name] = {**planted_top1(modules, descriptions, min_heldout_r2), "mean_scores": mean_scores(scores),
                                   "report": report.to_json(), "wall_s": round(time.time() - t0, 2)}
        descriptions_by[describer.name] = descriptions
    baseline = results["random-concept"]["top1_accuracy"] or 0.0
    for name, res in results.items():
        res["top1_ratio_to_random"] = round(res["top1_accuracy"] / baseline, 2) if baseline and res["top1_accuracy"] is not None else None
    return {
        "config": cfg.__dict__, "min_heldout_r2": min_heldout_r2, "n_modules": len(modules), "n_features": len(ev_table.names),
        "build_s": round(build_s, 2), "describers": results,
        "modules": [{"module": m.module, "target": m.target, "train_r2": round(m.train_r2, 4), "heldout_r2": round(m.heldout_r2, 4),
                     "descriptions": {k: next((d.text for d in v if d.module == m.module), None) for k, v in descriptions_by.items()}}
                    for m in modules],
    }


def planted_table(result: dict[str, Any]) -> list[tuple[str, ...]]:
    """Rows (describer, top-1, top-1 all, sim r, random-description r, shuffled r, detection, random, shuffled)."""
    rows = []
    for name, res in result["describers"].items():
        s = res["mean_scores"]

        def f(v):
            return "-" if v is None else f"{v:.3f}"
        rows.append((name, f(res["top1_accuracy"]), f(res["top1_accuracy_all_modules"]), f(s.get("simulation_r")),
                     f(s.get("random_description_simulation_r")), f(s.get("shuffled_simulation_r")), f(s.get("detection_bacc")),
                     f(s.get("random_description_detection_bacc")), f(s.get("shuffled_detection_bacc"))))
    return rows


PLANTED_HEADER = ("describer", "top1", "top1 (all)", "sim r", "  ctl: random desc", "  ctl: shuffled", "detect bacc",
                  "  ctl: random desc", "  ctl: shuffled")
