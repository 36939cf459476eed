"""The planted check's terminal table fits a narrow terminal: long describer names fold, never cut to '…'."""

from __future__ import annotations

import os

import pytest
from rich.console import Console

from modinterp.studies.carve.planted import planted_rich_table

NAME = "llm:HuggingFaceTB/SmolLM2-135M-Instruct-Q8_0"


def _result() -> dict:
    scores = {"simulation_r": 0.61234, "random_description_simulation_r": 0.01, "shuffled_simulation_r": -0.02,
              "detection_bacc": 0.8, "random_description_detection_bacc": 0.5, "shuffled_detection_bacc": None}
    return {"n_modules": 6, "n_features": 40,
            "describers": {name: {"mean_scores": scores, "top1_accuracy": 1.0, "top1_accuracy_all_modules": 0.8333}
                           for name in ("concept", NAME)}}


@pytest.mark.parametrize("width", [50, 80])
def test_planted_table_folds_a_long_describer_name_to_the_terminal_width(width):
    with open(os.devnull, "w") as sink:
        console = Console(width=width, record=True, file=sink)
        console.print(planted_rich_table(_result()))
    rendered = console.export_text()
    assert "…" not in rendered and max(len(line) for line in rendered.splitlines()) <= width
    first = "".join(line.split("│")[1].strip() for line in rendered.splitlines() if line.count("│") > 2)
    assert NAME in first and "concept" in first
