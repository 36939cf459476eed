"""Final numbers of a study from its results.json dict: probe R² by condition and layer, losses, controls
(mean ± sd over seeds), as rows for a terminal table or a Markdown table (docs/results.md)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from rich.table import Table


def mean_sd(values: list[float]) -> tuple[float, float, int]:
    if not values:
        return float("nan"), float("nan"), 0
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values)


def fmt(stats: tuple[float, float, int], digits: int = 3) -> str:
    mean, sd, n = stats
    if n == 0:
        return "–"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" if n > 1 else f"{mean:.{digits}f}"


def final_probe_table(results: dict[str, Any], key: str = "r2") -> dict[str, dict[str, tuple[float, float, int]]]:
    """{condition: {layer: (mean, sd, n seeds)}} of `key` at each run's last probed step."""
    last: dict[tuple[str, int], int] = {}
    for p in results["probes"]:
        run = (p["condition"], p["seed"])
        last[run] = max(last.get(run, -1), p["step"])
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in results["probes"]:
        if p["step"] == last[(p["condition"], p["seed"])]:
            values[p["condition"]][p["layer"]].append(p[key])
    return {c: {layer: mean_sd(v) for layer, v in layers.items()} for c, layers in values.items()}


def probe_at_step(results: dict[str, Any], layer: str, step: int, key: str = "r2") -> dict[str, tuple[float, float, int]]:
    values: dict[str, list[float]] = defaultdict(list)
    for p in results["probes"]:
        if p["layer"] == layer and p["step"] == step:
            values[p["condition"]].append(p[key])
    return {c: mean_sd(v) for c, v in values.items()}


def final_losses(results: dict[str, Any], split: str = "val_full") -> dict[str, tuple[float, float, int]]:
    """{condition: stats} of the main-task loss at each run's last record of `split`."""
    last: dict[tuple[str, int], dict] = {}
    for r in results["losses"]:
        run = (r["condition"], r["seed"])
        if r["split"] == split and (run not in last or r["step"] >= last[run]["step"]):
            last[run] = r
    values: dict[str, list[float]] = defaultdict(list)
    for (condition, _), record in sorted(last.items()):
        values[condition].append(record["loss"])
    return {c: mean_sd(v) for c, v in values.items()}


def control_table(results: dict[str, Any], layer: str) -> dict[str, dict[str, tuple[float, float, int]]]:
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in results["controls"]:
        if r["layer"] == layer:
            values[r["condition"]][r["control"]].append(r["r2"])
    return {c: {k: mean_sd(v) for k, v in kinds.items()} for c, kinds in values.items()}


def summary_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: condition, final probe R² per layer, final full-validation and train loss."""
    layers, table = results["layers"], final_probe_table(results)
    val, train = final_losses(results, "val_full"), final_losses(results, "train")
    header = ["condition", *(f"R² L{layer}" if layer.isdigit() else f"R² {layer}" for layer in layers), "val loss", "train loss"]
    rows = [[c, *(fmt(table.get(c, {}).get(layer, (0, 0, 0))) for layer in layers), fmt(val.get(c, (0, 0, 0))),
             fmt(train.get(c, (0, 0, 0)))] for c in results["conditions"]]
    return header, rows


def summary_table(results: dict[str, Any]) -> Table:
    header, rows = summary_rows(results)
    table = Table(title=f"final numbers (mean ± sd over seeds {results['seeds']}); "
                        f"last embedded layer {results['last_embedded_layer']}")
    for name in header:
        table.add_column(name, justify="left" if name == "condition" else "right")
    for row in rows:
        table.add_row(*row)
    return table


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
