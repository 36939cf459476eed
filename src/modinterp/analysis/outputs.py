"""One analysis run end to end: fit every gap series, write the analysis JSON (with a manifest) and the plots, and
return the text a terminal shows (verdict table, final-window table, notes). Used by `modinterp analyze`."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
from rich.progress import Progress

from modinterp.analysis.compare import AnalysisConfig, analyse_series, jsonable
from modinterp.analysis.plots import write_plots
from modinterp.analysis.series import GapSeries
from modinterp.analysis.table import final_window_markdown, verdict_markdown
from modinterp.atomic import atomic_write_json
from modinterp.manifest import build_manifest


def analysis_config(models: str, n_boot: int, horizon_boot: int, loss: str, seed: int, primary: str | None,
                    sign: str) -> AnalysisConfig:
    """The AnalysisConfig of a command line (`models` comma-separated)."""
    names = tuple(m.strip() for m in models.split(",") if m.strip())
    return AnalysisConfig(models=names, n_boot=n_boot, horizon_boot=horizon_boot, loss=loss, seed=seed,
                          primary=primary, sign=sign)


def read_schedule(path: Path) -> np.ndarray:
    """LR per step from .npy or a text/CSV file with one number per line."""
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    try:
        return np.loadtxt(path, delimiter=",", ndmin=1)
    except ValueError as err:
        raise ValueError(f"{path}: expected one learning rate per line ({err})") from None


def slug(label: str) -> str:
    """A file-name stem for a series label ('large-embed-aux - large-baseline @ layer 2' -> 'large_embed_...')."""
    return re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_").lower() or "series"


def analyse_and_write(series_list: list[GapSeries], config: AnalysisConfig, out: Path, plots: Path | None,
                      skipped: list[str], inputs: dict) -> dict:
    """Fit every series, write the analysis JSON to `out` (and PNGs into `plots`); returns what was written."""
    started = time.time()
    analyses = []
    with Progress(transient=True) as progress:
        task = progress.add_task("fitting", total=len(series_list) * len(config.models))
        for series in series_list:
            analyses.append(analyse_series(series, config, progress=lambda: progress.advance(task)))
    plot_files = []
    if plots is not None:
        for a in analyses:
            plot_files += [str(p) for p in write_plots(a, plots, slug(a["label"]))]
    payload = jsonable({
        "series": analyses,
        "skipped": skipped,
        "verdict_markdown": verdict_markdown(analyses),
        "final_window_markdown": final_window_markdown(analyses),
        "plots": plot_files,
        "manifest": build_manifest({"inputs": inputs, "analysis": jsonable(vars(config))}, seeds=[config.seed], started_at=started),
    })
    atomic_write_json(out, payload)
    return payload


def summary_text(payload: dict, out: Path, plots: Path | None) -> str:
    """What `modinterp analyze` prints: the verdict and final-window tables, notes, skipped pairs, files written."""
    lines = [payload["verdict_markdown"] + "\n\n" + payload["final_window_markdown"]]  # plain text: markdown tables must not be wrapped
    lines += [f"note ({a['label']}): {note}" for a in payload["series"] for note in a["notes"]]
    lines += [f"skipped: {note}" for note in payload["skipped"]]
    n_plots = len(payload["plots"])
    lines.append(f"wrote {out}" + (f" and {n_plots} plots in {plots}" if n_plots else ""))
    return "\n".join(lines)
