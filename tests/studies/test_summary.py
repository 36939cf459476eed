"""Final-number tables from the typed results: the last probed step of each run, mean ± seed SE over seeds with the
test-game bootstrap SE beside it."""

from __future__ import annotations

import os

import pytest
from rich.console import Console

from modinterp.studies.growth.aggregate import final_loss_summary, final_seed_profile, seed_summary
from modinterp.studies.growth.report import final_numbers_section, fmt_seed
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
    cell = final_seed_profile(results, "a")["0"]
    assert (cell.mean, cell.n) == (pytest.approx(0.3), 2) and cell.se == pytest.approx(0.1, abs=1e-9)


def test_final_loss_is_the_last_record_of_each_run(results):
    cell = final_loss_summary(results, "a", "val_full")
    assert (cell.mean, cell.se, cell.n) == (1.5, pytest.approx(0.5), 2)


def test_rows_mark_missing_values_and_render_as_markdown(results):
    header, rows = summary_rows(results)
    assert header[:3] == ["condition", "R² L0", "R² final_ln"]
    assert rows[1][1] == "–" and rows[1][2] == "0.500 (1 seed)"
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


def _three_seeds():
    """Final R² 0.1, 0.2, 0.3 at layer 0 (bootstrap SEs 0.01, 0.02, 0.03), after an earlier step that must not count."""
    records = [{**probe("a", seed, 10, "0", r2), "r2_se": se} for seed, r2, se in ((0, 0.1, 0.01), (1, 0.2, 0.02), (2, 0.3, 0.03))]
    records.append({**probe("a", 0, 5, "0", 0.9), "r2_se": 0.5})
    return parse_results({
        "schema_version": 1, "preset": "test", "verification": {"max_abs_diff": 0.0}, "config": {},
        "conditions": ["a"], "seeds": [0, 1, 2], "layers": ["0"], "last_embedded_layer": "0",
        "probes": records, "losses": [], "controls": [],
    })


def test_seed_summary_of_a_hand_computed_case():
    # mean 0.2, sd 0.1, seed SE 0.1 / sqrt(3) = 0.05774; t(0.975, 2) = 4.302653 -> half-width 0.248414
    cell = final_seed_profile(_three_seeds(), "a")["0"]
    assert cell.mean == pytest.approx(0.2) and cell.n == 3
    assert cell.se == pytest.approx(0.0577350, abs=1e-6)
    assert (cell.low, cell.high) == (pytest.approx(0.2 - 0.248414, abs=1e-6), pytest.approx(0.2 + 0.248414, abs=1e-6))
    assert cell.boot_se == pytest.approx(0.02)  # mean of the seeds' bootstrap SEs at their final step


def test_tables_lead_with_the_seed_se_and_label_the_bootstrap_beside_it():
    results = _three_seeds()
    assert fmt_seed(final_seed_profile(results, "a")["0"], interval=True, boot=True) == "0.200 ± 0.058 [-0.048, 0.448] · boot 0.020"
    header, rows = summary_rows(results)
    assert rows[0][1] == "0.200 ± 0.058 · boot 0.020"
    assert "seed SE" in str(summary_table(results).title) and "bootstrap" in str(summary_table(results).title)
    section = final_numbers_section(results)
    by_layer = section.blocks[1]
    assert by_layer.rows[0][1] == "0.200 ± 0.058 [-0.048, 0.448] · boot 0.020"
    assert "seed SE" in by_layer.caption and "test-game bootstrap SE" in by_layer.caption and "t-interval" in by_layer.caption


def test_one_seed_has_no_seed_se():
    assert fmt_seed(seed_summary([0.25], [0.01]), boot=True) == "0.250 (1 seed) · boot 0.010"
    assert fmt_seed(seed_summary([])) == "–"
