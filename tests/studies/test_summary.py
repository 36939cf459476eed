"""Final-number tables from the typed results: the last probed step of each run, mean ± sd over seeds."""

from __future__ import annotations

import os

import pytest
from rich.console import Console

from modinterp.studies.growth.aggregate import final_loss, final_profile
from modinterp.studies.growth.schema import parse_results
from modinterp.studies.growth.summary import markdown_table, summary_rows, summary_table


def probe(condition, seed, step, layer, r2):
    return {"condition": condition, "seed": seed, "step": step, "layer": layer, "r2": r2, "r2_alpha1": r2,
            "r2_pooled": r2, "alpha": 1.0, "n_train": 80, "n_test": 20}


@pytest.fixture
def results():
    return parse_results({
        "schema_version": 1, "preset": "test", "verification": {"max_abs_diff": 0.0}, "config": {},
        "conditions": ["a", "b"], "seeds": [0, 1], "layers": ["0", "final_ln"], "last_embedded_layer": "0",
        "probes": [probe("a", 0, 0, "0", 0.9), probe("a", 0, 10, "0", 0.2), probe("a", 1, 10, "0", 0.4),
                   probe("b", 0, 20, "final_ln", 0.5)],
        "losses": [{"condition": "a", "seed": 0, "step": 10, "split": "val_full", "loss": 1.0},
                   {"condition": "a", "seed": 0, "step": 5, "split": "val_full", "loss": 9.0},
                   {"condition": "a", "seed": 1, "step": 10, "split": "val_full", "loss": 2.0}],
        "controls": [],
    })


def test_final_probe_uses_the_last_step_of_each_run(results):
    mean, sd, n = final_profile(results, "a")["0"]
    assert (mean, n) == (pytest.approx(0.3), 2) and sd == pytest.approx(0.1414213, abs=1e-6)


def test_final_loss_is_the_last_record_of_each_run(results):
    assert final_loss(results, "a", "val_full") == (1.5, pytest.approx(0.7071068), 2)


def test_rows_mark_missing_values_and_render_as_markdown(results):
    header, rows = summary_rows(results)
    assert header[:3] == ["condition", "R² L0", "R² final_ln"]
    assert rows[1][1] == "–" and rows[1][2] == "0.500"
    assert markdown_table(header, rows).splitlines()[1] == "|---|---|---|---|---|"


def _first_column(rendered: str) -> str:
    """The first column's text of a rendered rich table, its folded lines joined."""
    return "".join(line.split("│")[1].strip() for line in rendered.splitlines() if line.count("│") > 2)


@pytest.mark.parametrize("width", [40, 60, 80])
def test_the_terminal_table_folds_long_run_names_instead_of_cutting_them(width):
    names = ["conditioned-large-embed-aux", "small-baseline-with-a-long-name"]
    long = parse_results({
        "schema_version": 1, "preset": "test", "verification": {"max_abs_diff": 0.0}, "config": {},
        "conditions": names, "seeds": [0], "layers": ["0", "1", "2", "final_ln"], "last_embedded_layer": "0",
        "probes": [probe(c, 0, 10, layer, 0.123456) for c in names for layer in ["0", "1", "2", "final_ln"]],
        "losses": [], "controls": [],
    })
    with open(os.devnull, "w") as sink:
        console = Console(width=width, record=True, file=sink)
        console.print(summary_table(long))
    rendered = console.export_text()
    assert "…" not in rendered and max(len(line) for line in rendered.splitlines()) <= width
    column = _first_column(rendered)
    assert all(name in column for name in names), column
