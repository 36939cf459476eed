"""The growth study's gap analysis: after results.json, fit the probe-R² gap of every pair of conditions at the
last embedded layer (modinterp.analysis) and turn the verdicts and plots into report sections.

Written to `DIR/gap_analysis.json`, so `modinterp report DIR` can rebuild the same sections without refitting.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from modinterp.atomic import atomic_write_json

GAP_FILE = "gap_analysis.json"


# The original's three comparisons, as (subtracted, minuend): the gap is R²[minuend] - R²[subtracted].
GAP_PAIRS = (("large-baseline", "large-embed-aux"), ("large-embed-noaux", "large-embed-aux"),
             ("large-baseline", "large-embed-noaux"))


def analyse_study_gaps(results: dict, n_boot: int = 500, seed: int = 0) -> dict:
    """Fit the large conditions' matched-seed gaps at the last embedded layer; failed fits stay in the output as such.

    `modinterp analyze study` covers every pair and layer; the report keeps to the three the seed asks about."""
    from modinterp.analysis.compare import AnalysisConfig, analyse_series, jsonable
    from modinterp.analysis.series import study_gap

    layer = str(results["last_embedded_layer"])
    series_list, skipped = [], []
    for earlier, later in GAP_PAIRS:
        if {earlier, later} <= set(results["conditions"]):
            try:
                series_list.append(study_gap(results, earlier, later, layer))
            except ValueError as err:
                skipped.append(f"{later} - {earlier}: {err}")
    config = AnalysisConfig(n_boot=n_boot, horizon_boot=min(n_boot, 300), seed=seed)
    analyses = [analyse_series(series, config) for series in series_list]
    return jsonable({"layer": layer, "n_boot": n_boot, "series": analyses, "skipped": skipped})


def write_gap_analysis(out: str | Path, gap: dict) -> Path:
    return atomic_write_json(Path(out) / GAP_FILE, gap)


def load_gap_analysis(out: str | Path) -> dict | None:
    import json

    path = Path(out) / GAP_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def verdict_table(gap: dict):
    """One row per pair and model: offset, its interval, whether it contains 0, BIC, prefix-CV error, best forecaster."""
    from modinterp.report import TableBlock

    rows = []
    for analysis in gap["series"]:
        verdict = analysis["verdict"]
        for k, row in enumerate(verdict["rows"]):
            interval = f"[{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}] ({row['ci_method']})"
            zero = "fit failed" if not row["fit_success"] else {True: "yes", False: "no", None: "n/a"}[row["contains_zero"]]
            rows.append([analysis["label"] if k == 0 else "", row["model"], _fmt(row["offset"]) + ("†" if row.get("at_bound") else ""),
                         interval, zero, _fmt(row["bic"], 1), _fmt(row["prefix_rmse_mean"]),
                         (verdict["best_prefix_cv"] or "n/a") if k == 0 else ""])
    caption = (f"Gap = later minus earlier condition, probe R² at layer {gap['layer']}, per matched seed. Interval: "
               "t-interval over per-seed fits (see docs/analysis.md); † a parameter sits at the edge of its data-derived range.")
    return TableBlock(["pair", "model", "offset", "95% interval", "contains 0", "BIC", "prefix-CV RMSE", "best forecaster"],
                      rows, caption)


def gap_sections(gap: dict) -> list:
    """Report sections: the verdict table, then per pair the fits with bands, prefix forecasts and horizon stability."""
    from modinterp.analysis.plots import gap_fits_figure, horizon_stability_figure, prefix_predictions_figure
    from modinterp.report import FigureBlock, Section, TextBlock

    blocks = [TextBlock("Does the probe-R² gap between conditions settle above zero or decay to nothing? Three curve "
                        "families fitted by variable projection; a family's offset is its limit as training goes on."),
              verdict_table(gap)]
    for note in gap.get("skipped", []):
        blocks.append(TextBlock(f"skipped: {note}"))
    for analysis in gap["series"]:
        slug = "".join(ch if ch.isalnum() else "_" for ch in analysis["label"]).strip("_").lower()
        for name, make, caption in (("fits", gap_fits_figure, "per-seed gaps, seed mean and each family's fit with its band"),
                                    ("prefix", prefix_predictions_figure, "forecasts from the first 20-80% of the curve"),
                                    ("horizon", horizon_stability_figure, "offset estimate against the share of training used")):
            try:
                figure = make(analysis)
            except (ValueError, KeyError, IndexError) as err:  # too few points for a panel: say so, keep the rest
                blocks.append(TextBlock(f"{analysis['label']}: no {name} plot ({err})"))
                continue
            blocks.append(FigureBlock.from_figure(f"gap_{slug}_{name}", figure, f"{analysis['label']}: {caption}"))
            plt.close(figure)
    return [Section("Does the gap persist?", blocks, anchor="gap")]
