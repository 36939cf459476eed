"""Final numbers of a study from its typed results: probe R² by condition and layer and the final losses (mean ±
seed SE over seeds, with the probe's test-game bootstrap SE beside it), as rows for a terminal table or a Markdown
table (docs/results.md)."""

from __future__ import annotations

from rich.table import Table

from modinterp.studies.growth.aggregate import SeedSummary, final_loss_summary, final_seed_profile
from modinterp.studies.growth.report import fmt_seed
from modinterp.studies.growth.schema import GrowthResults


def summary_rows(results: GrowthResults) -> tuple[list[str], list[list[str]]]:
    """Header and rows: condition, final probe R² per layer, final full-validation and train loss."""
    layers, missing = results.layers, SeedSummary(float("nan"), float("nan"), float("nan"), float("nan"), 0)
    header = ["condition", *(f"R² L{layer}" if layer.isdigit() else f"R² {layer}" for layer in layers), "val loss", "train loss"]
    rows = []
    for condition in results.conditions:
        profile = final_seed_profile(results, condition)
        rows.append([condition, *(fmt_seed(profile.get(layer, missing), boot=True) for layer in layers),
                     fmt_seed(final_loss_summary(results, condition, "val_full")),
                     fmt_seed(final_loss_summary(results, condition, "train"))])
    return header, rows


def summary_table(results: GrowthResults) -> Table:
    """The rows as a rich table that fits the terminal: a cell too wide folds onto more lines, never cut to '…'."""
    header, rows = summary_rows(results)
    table = Table(title=f"final numbers: mean ± seed SE over seeds {results.seeds} (boot: test-game bootstrap SE of "
                        f"the probe R², averaged over seeds); last embedded layer {results.last_embedded_layer}")
    for name in header:
        table.add_column(name, justify="left" if name == "condition" else "right", overflow="fold", no_wrap=False)
    for row in rows:
        table.add_row(*row)
    return table


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def probe_precision_line(results: GrowthResults, target: float = 0.01) -> str:
    """The largest bootstrap standard error of the final probe R² at the last embedded layer, against `target`."""
    layer = results.last_embedded_layer
    last_step: dict[tuple[str, int], int] = {}
    for r in results.probes:
        key = (r.condition, r.seed)
        last_step[key] = max(last_step.get(key, -1), r.step)
    errors = [r.r2_se for r in results.probes if r.r2_se is not None and r.layer == layer
              and r.step == last_step[(r.condition, r.seed)]]
    if not errors:
        return "probe R² standard error: not recorded"
    verdict = "meets" if max(errors) <= target else "exceeds"
    return (f"probe R² standard error at layer {layer} (final step, bootstrap over test games): largest "
            f"{max(errors):.3f}, {verdict} the {target} target; more probe-test games lower it")
