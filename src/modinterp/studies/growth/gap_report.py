"""The growth study's gap-analysis report sections: the verdict table and, per pair, the fit, prefix-forecast and
horizon-stability figures, read from `DIR/gap_analysis.json` (`modinterp.studies.growth.gap`).

    build_study_report("runs/demo")   # report.html with the gap sections when gap_analysis.json exists
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from modinterp.analysis.plots import gap_fits_figure, horizon_stability_figure, prefix_predictions_figure
from modinterp.report import FigureBlock, Section, TableBlock, TextBlock
from modinterp.studies.growth.report import build_growth_report
from modinterp.studies.growth.gap import load_gap_analysis


def _fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def best_forecaster(verdict: dict) -> str:
    """The family with the lowest prefix-CV error, or '–' where no family's forecasts could be validated."""
    validated = [row for row in verdict["rows"] if row.get("prefix_rmse_mean") is not None]
    return (verdict.get("best_prefix_cv") or "–") if validated else "– (no validation)"


def verdict_table(gap: dict):
    """One row per pair and model: offset, its interval, whether it contains 0, BIC, prefix-CV error, best forecaster."""
    rows = []
    for analysis in gap["series"]:
        verdict = analysis["verdict"]
        for k, row in enumerate(verdict["rows"]):
            interval = f"[{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}] ({row['ci_method']})"
            zero = "fit failed" if not row["fit_success"] else {True: "yes", False: "no", None: "n/a"}[row["contains_zero"]]
            rows.append([analysis["label"] if k == 0 else "", row["model"], _fmt(row["offset"]) + ("†" if row.get("at_bound") else ""),
                         interval, zero, _fmt(row["bic"], 1), _fmt(row["prefix_rmse_mean"]),
                         best_forecaster(verdict) if k == 0 else ""])
    caption = (f"Gap = later minus earlier condition, probe R² at layer {gap['layer']}, per matched seed. Interval: "
               "t-interval over per-seed fits (see docs/analysis.md); † a parameter sits at the edge of its data-derived range.")
    return TableBlock(["pair", "model", "offset", "95% interval", "contains 0", "BIC", "prefix-CV RMSE", "best forecaster"],
                      rows, caption)


def gap_sections(gap: dict) -> list:
    """Report sections: the verdict table, then per pair the fits with bands, prefix forecasts and horizon stability."""
    blocks = [TextBlock("Curve fits of the raw probe-R² gap: three families fitted by variable projection, a family's "
                        "offset is its limit as training goes on. They extrapolate only a gap seen decaying from above "
                        "(see the answer's verdicts); for any other pair the figures are left out and the verdict says why."),
              verdict_table(gap)]
    for note in gap.get("skipped", []):
        blocks.append(TextBlock(f"skipped: {note}"))
    for analysis in gap["series"]:
        late = analysis.get("late_window")
        if late is not None and not late["decaying_from_above"]:
            blocks.append(TextBlock(f"{analysis['label']}: {late['verdict']}"))
            continue
        slug = "".join(ch if ch.isalnum() else "_" for ch in analysis["label"]).strip("_").lower()
        for name, make, caption in (("fits", gap_fits_figure, "per-seed gaps, seed mean and each family's fit with its band"),
                                    ("prefix", prefix_predictions_figure, "forecasts from the first 20-80% of training"),
                                    ("horizon", horizon_stability_figure, "offset estimate against the share of training used")):
            try:
                figure = make(analysis)
            except (ValueError, KeyError, IndexError) as err:  # too few points for a panel: say so, keep the rest
                blocks.append(TextBlock(f"{analysis['label']}: no {name} plot ({err})"))
                continue
            blocks.append(FigureBlock.from_figure(f"gap_{slug}_{name}", figure, f"{analysis['label']}: {caption}"))
            plt.close(figure)
    return [Section("Curve fits of the raw probe-R² gap", blocks, anchor="gap")]


def build_study_report(out: str | Path) -> Path:
    """Write `out/report.html` from results.json, with the gap-analysis sections when gap_analysis.json exists."""
    gap = load_gap_analysis(out)
    return build_growth_report(out, extra_sections=gap_sections(gap) if gap else ())
