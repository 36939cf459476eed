"""The growth study's gap analysis: probe-R² gap series between conditions (per matched seed, from the typed
results), and after the study the fits of the three pairs the study asks about (`modinterp.analysis`).

Written to `DIR/gap_analysis.json`, so `modinterp report DIR` can rebuild the same sections without refitting.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np

from modinterp.analysis.compare import AnalysisConfig, analyse_series, jsonable
from modinterp.analysis.late_window import DEFAULT_FRACTION, late_window_gap, paired_gap
from modinterp.analysis.series import GapSeries, seed_key, series_from_rows
from modinterp.atomic import atomic_write_json
from modinterp.studies.growth.config import BASELINE, EMBEDDING_OF, SMALL_CONDITIONS, embedded_condition
from modinterp.studies.growth.schema import GrowthResults

GAP_FILE = "gap_analysis.json"


def preserve_settings_of(conditions) -> list[bool]:
    """The preserve_outputs settings whose embedded pair (aux and noaux) are both among `conditions`, in order."""
    present = set(conditions)
    return [p for p in dict.fromkeys(EMBEDDING_OF[c][1] for c in conditions if c in EMBEDDING_OF)
            if {embedded_condition(s, p) for s in SMALL_CONDITIONS} <= present]


def gap_pairs(conditions) -> list[tuple[str, str]]:
    """The original's three comparisons per preserve_outputs setting, as (subtracted, minuend): the gap is
    R²[minuend] - R²[subtracted]."""
    pairs = []
    for p in preserve_settings_of(conditions):
        aux, noaux = embedded_condition("small-aux", p), embedded_condition("small-noaux", p)
        pairs += [(BASELINE, aux), (noaux, aux), (BASELINE, noaux)]
    return pairs


def late_window_pairs(conditions) -> list[tuple[str, str, str, bool]]:
    """The late-window answer per preserve_outputs setting: embed-aux against the compute-matched control (embed-noaux
    of the same setting, which has seen its small model's batches too) and against the baseline, as (subtracted,
    minuend, name of the control, preserve_outputs); the baseline pair only when the study ran the baseline."""
    pairs = []
    for p in preserve_settings_of(conditions):
        aux, noaux = embedded_condition("small-aux", p), embedded_condition("small-noaux", p)
        pairs += [(noaux, aux, "compute-matched control", p)]
        if BASELINE in conditions:
            pairs += [(BASELINE, aux, "baseline", p)]
    return pairs


def setting_label(preserve: bool) -> str:
    """How the report names a preserve_outputs setting."""
    return f"preserve_outputs={str(preserve).lower()}"


# The passthrough-free measure the answer leads with, and the raw R² beside it.
LATE_WINDOW_METRICS = ("r2_nonlinear", "r2")


def study_gap(results: GrowthResults, condition_a: str, condition_b: str, layer: str, metric: str = "r2",
              source: str | Path = "results.json") -> GapSeries:
    """Gap `metric[b] - metric[a]` per seed present in both conditions, at one layer, on their common steps."""
    curves, duplicates = {}, 0
    for condition in (condition_a, condition_b):
        curves[condition], n_dup = _condition_curves(results, condition, str(layer), metric, str(source))
        duplicates += n_dup
    seeds = sorted(set(curves[condition_a]) & set(curves[condition_b]), key=seed_key)
    if not seeds:
        raise ValueError(f"{source}: no seed has probes for both {condition_a!r} and {condition_b!r} at layer {layer!r}")
    rows = {}
    for seed in seeds:
        a, b = curves[condition_a][seed], curves[condition_b][seed]
        rows[seed] = {step: b[step] - a[step] for step in sorted(set(a) & set(b))}
    series = series_from_rows(rows, f"{condition_b} - {condition_a} @ layer {layer}", str(source))
    dropped = sorted(set(curves[condition_a]) ^ set(curves[condition_b]), key=seed_key)
    if dropped:
        series.notes.append(f"seeds without a partner dropped: {dropped}")
    if duplicates:
        series.notes.append(f"{duplicates} repeated (condition, seed, step, layer) probe records ignored; the first of each was kept")
    return series


def _condition_curves(results: GrowthResults, condition: str, layer: str, metric: str, source: str,
                      field: str = "probes", concept: str | None = None) -> tuple[dict[str, dict[int, float]], int]:
    """{seed: {step: metric}} of one condition at one layer (of one concept, for passthrough records), and how many
    repeated records were ignored."""
    curves: dict[str, dict[int, float]] = {}
    duplicates = 0
    for i, record in enumerate(getattr(results, field)):
        if record.condition != condition or record.layer != layer or (concept is not None and record.concept != concept):
            continue
        value = getattr(record, metric, None)
        if value is None:
            raise ValueError(f"{source}: {field}[{i}] lacks metric {metric!r}")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{source}: {field}[{i}].{metric} = {value!r} is not a finite number")
        per_seed = curves.setdefault(str(record.seed), {})
        if record.step in per_seed:
            duplicates += 1  # e.g. a final probe written at the last training step: keep the in-training record
            continue
        per_seed[record.step] = float(value)
    return curves, duplicates


def study_pairs(results: GrowthResults, layer: str | None = None, metric: str = "r2",
                source: str | Path = "results.json") -> tuple[list[GapSeries], list[str]]:
    """Gap series for every pair of conditions (later minus earlier in `conditions`) at one layer.

    The layer defaults to `last_embedded_layer`. Pairs without common seeds are skipped and reported.
    """
    layer = str(layer if layer is not None else results.last_embedded_layer)
    series, skipped = [], []
    for a, b in itertools.combinations(results.conditions, 2):
        try:
            series.append(study_gap(results, a, b, layer, metric, source))
        except ValueError as err:
            skipped.append(f"{b} - {a} @ layer {layer}: {err}")
    return series, skipped


def gap_series_of_layers(results: GrowthResults, layer: str | None, metric: str,
                         source: str | Path) -> tuple[list[GapSeries], list[str]]:
    """`study_pairs` at one layer, or at every layer when `layer == "all"` (for `modinterp analyze study`)."""
    layers = list(results.layers) if layer == "all" else [layer]
    series_list, skipped = [], []
    for one in layers:
        found, missing = study_pairs(results, one, metric, source)
        series_list += found
        skipped += missing
    return series_list, skipped


def analyse_study_gaps(results: GrowthResults, n_boot: int = 500, seed: int = 0) -> dict:
    """Fit the large conditions' matched-seed gaps at the last embedded layer; failed fits stay in the output as such.

    `modinterp analyze study` covers every pair and layer; the report keeps to the three the seed asks about."""
    layer = results.last_embedded_layer
    series_list, skipped = [], []
    for earlier, later in gap_pairs(results.conditions):
        if {earlier, later} <= set(results.conditions):
            try:
                series_list.append(study_gap(results, earlier, later, layer))
            except ValueError as err:
                skipped.append(f"{later} - {earlier}: {err}")
    config = AnalysisConfig(n_boot=n_boot, horizon_boot=min(n_boot, 300), seed=seed)
    fraction = late_fraction(results)
    analyses = [{**analyse_series(series, config), "late_window": late_window_of(series, fraction)}
                for series in series_list]
    return jsonable({"layer": layer, "n_boot": n_boot, "series": analyses, "skipped": skipped})


def paired_matrices(results: GrowthResults, minuend: str, subtracted: str, layer: str, concept: str, metric: str,
                    source: str = "results.json") -> tuple[list[str], list[int], np.ndarray, np.ndarray]:
    """(seeds, steps, A, B): the passthrough metric of both conditions on the seeds and steps they all share."""
    a, _ = _condition_curves(results, minuend, layer, metric, source, "passthrough", concept)
    b, _ = _condition_curves(results, subtracted, layer, metric, source, "passthrough", concept)
    seeds = sorted(set(a) & set(b), key=seed_key)
    if not seeds:
        raise ValueError(f"{source}: no seed has {concept!r} passthrough records for both {minuend!r} and {subtracted!r} "
                         f"at layer {layer!r}")
    steps = sorted(set.intersection(*(set(a[s]) & set(b[s]) for s in seeds)))
    A = np.array([[a[s][t] for t in steps] for s in seeds])
    B = np.array([[b[s][t] for t in steps] for s in seeds])
    return seeds, steps, A, B


def late_fraction(results: GrowthResults) -> float:
    """The late window's share of training: the study's [probes] late_fraction (the log schedule probes that window
    evenly), or DEFAULT_FRACTION for results written before the setting existed."""
    return float(results.config.get("probes", {}).get("late_fraction", DEFAULT_FRACTION))


def late_window_gaps(results: GrowthResults, fraction: float | None = None, layer: str | None = None,
                     source: str = "results.json") -> dict:
    """The decisive statistic per probed concept, pair of `late_window_pairs` and metric of LATE_WINDOW_METRICS: the
    paired per-seed gap averaged over the last `fraction` (default: `late_fraction`) of training, with its
    t-interval over seeds. The mean is over the probe steps in the window: evenly spaced over it under the log
    schedule; under the linear one, the grid steps inside it (which may start after the window opens)."""
    layer = str(layer if layer is not None else results.last_embedded_layer)
    fraction = late_fraction(results) if fraction is None else fraction
    concepts = list(dict.fromkeys(r.concept for r in results.passthrough))
    entries, skipped = [], []
    for concept in concepts:
        for subtracted, minuend, control, preserve in late_window_pairs(results.conditions):
            for metric in LATE_WINDOW_METRICS:
                label = f"{minuend} - {subtracted} ({control}, {setting_label(preserve)}), {concept}, {metric}"
                try:
                    seeds, steps, A, B = paired_matrices(results, minuend, subtracted, layer, concept, metric, source)
                    result = late_window_gap(steps, paired_gap(A, B), fraction)
                except ValueError as err:
                    skipped.append(f"{label}: {err}")
                    continue
                entries.append({"concept": concept, "minuend": minuend, "subtracted": subtracted, "control": control,
                                "preserve_outputs": preserve, "setting": setting_label(preserve), "metric": metric, "seeds": seeds, "label": label, **result.to_dict()})
    trained = results.config.get("concept", {}).get("name")  # the aux loss's target; the other concepts are its controls
    return {"layer": layer, "fraction": fraction, "trained_concept": trained, "entries": entries, "skipped": skipped}


def late_window_of(series: GapSeries, fraction: float = DEFAULT_FRACTION) -> dict | None:
    """The late-window statistic of one gap series (None when it has fewer than two steps): decides whether the
    report shows its curve fits (only when the gap is seen decaying from above)."""
    try:
        return late_window_gap(series.steps, series.values, fraction).to_dict()
    except ValueError:
        return None


def write_gap_analysis(out: str | Path, gap: dict) -> Path:
    return atomic_write_json(Path(out) / GAP_FILE, gap)


def load_gap_analysis(out: str | Path) -> dict | None:
    path = Path(out) / GAP_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
