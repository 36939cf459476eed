"""The growth study's report: standard sections from results.json, plus any sections other stages add.

    build_growth_report("runs/demo")                       # -> runs/demo/report.html
    build_growth_report("runs/demo", extra_sections=[...])  # e.g. gap-analysis sections
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

from modinterp.report.html import CodeBlock, FigureBlock, Section, TableBlock, TextBlock, write_report
from modinterp.studies.growth.aggregate import (SeedSummary, control_seed_profile, final_loss_summary,
                                                final_seed_profile)
from modinterp.studies.growth.gap import late_window_gaps
from modinterp.studies.growth.plots import (R2_FLOOR, plot_controls, plot_final_profile, plot_frozen_over_training,
                                            plot_late_window_answer, plot_losses, plot_probe_over_training)
from modinterp.studies.growth.schema import GrowthResults, ResultsError, load_results
from modinterp.studies.growth.sources import (comparison_sentence, format_measure, load_source_matches, pooled_line,
                                              source_comparison)

VERIFICATION_TOLERANCE = 1e-5  # fp32 tolerance of `verify_embedding`


def fmt_seed(cell: SeedSummary, interval: bool = False, boot: bool = False, digits: int = 3) -> str:
    """'0.312 ± 0.010' (mean ± SE over seeds), with ' [0.285, 0.339]' (95% t-interval over seeds) and
    ' · boot 0.004' (test-game bootstrap SE) when asked; '–' for a missing value, '(1 seed)' where no SE exists."""
    if not math.isfinite(cell.mean):
        return "–"
    text = f"{cell.mean:.{digits}f}"
    if cell.n > 1 and math.isfinite(cell.se):
        text += f" ± {cell.se:.{digits}f}"
        if interval:
            text += f" [{cell.low:.{digits}f}, {cell.high:.{digits}f}]"
    else:
        text += " (1 seed)"
    if boot and math.isfinite(cell.boot_se):
        text += f" · boot {cell.boot_se:.{digits}f}"
    return text


SEED_SE_NOTE = ("mean over seeds ± seed SE (standard error over seeds: the headline uncertainty){interval}; "
                "boot: test-game bootstrap SE (each seed's probe R² resampled over probe-test games, averaged over "
                "seeds: the probe-set sampling alone)")


def seed_se_note(interval: bool) -> str:
    """The caption that tells a reader which uncertainty is which."""
    return SEED_SE_NOTE.format(interval=", [95% t-interval over seeds]" if interval else "")


def _flatten(mapping: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            items.extend(_flatten(value, name + "."))
        else:
            items.append((name, value))
    return items


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-3 and value != 0 else f"{value:.6g}"
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def load_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    """`run_dir/manifest.json` if present (the report shows it), else None."""
    path = Path(run_dir) / "manifest.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path}: not valid JSON ({error})") from None


def verification_section(results: GrowthResults) -> Section:
    worst = results.verification.max_abs_diff
    verdict = "passes" if worst <= VERIFICATION_TOLERANCE else "FAILS"
    runs = (results.verification.model_dump().get("runs") or [])
    rows = [[f"{run.get('condition', '?')} s{run.get('seed', '?')}", _show(run.get("max_abs_diff"))] for run in runs]
    blocks: list = [TextBlock(f"Largest |difference| between the small model and the grown model on real positions: "
                              f"{worst:.3g} ({verdict} the fp32 tolerance {VERIFICATION_TOLERANCE:g}).")]
    if rows:
        blocks.append(TableBlock(["run", "max |difference|"], rows, caption="Per embedded run"))
    blocks.append(CodeBlock(json.dumps(results.verification.model_dump(), indent=2, sort_keys=True, default=str),
                            caption="results.json 'verification' in full", folded=True))
    return Section("Embedding verification", blocks)


def _interval(gap: dict) -> str:
    if not math.isfinite(gap["low"]):
        return f"{gap['mean']:+.3f} (one seed, no interval)"
    return f"{gap['mean']:+.3f} [{gap['low']:+.3f}, {gap['high']:+.3f}]"


def answer_sentences(answer: dict) -> str:
    """Two or three sentences per preserve_outputs setting: per concept, embed-aux against the compute-matched
    control in the passthrough-free measure with the raw R² beside it, which intervals exclude 0, and the seed count."""
    concepts = list(dict.fromkeys(e["concept"] for e in answer["entries"]))
    if not concepts:
        return ("No passthrough records in results.json, so the late-window gap cannot be computed "
                "(study outputs from before passthrough-free probes; rerun the study).")
    first = next(iter(answer["entries"]))
    window = f"the last {100 * answer['fraction']:.0f}% of training (steps {first['window_steps'][0]:g}-{first['window_steps'][-1]:g})"
    settings = list(dict.fromkeys(e["setting"] for e in answer["entries"]))
    texts = [_setting_sentences(answer, concepts, setting, window, len(settings) > 1) for setting in settings]
    return " ".join(t for t in texts if t)


def _setting_sentences(answer: dict, concepts: list[str], setting: str, window: str, name_setting: bool) -> str:
    """The answer's sentences for one preserve_outputs setting."""
    by_key = {(e["concept"], e["control"], e["metric"]): e for e in answer["entries"] if e["setting"] == setting}
    parts, persists, n, pair = [], [], None, None
    for concept in concepts:
        free, raw = by_key.get((concept, "compute-matched control", "r2_nonlinear")), by_key.get(
            (concept, "compute-matched control", "r2"))
        if free is None or raw is None:
            continue
        n, pair = free["gap"]["n"], (free["minuend"], free["subtracted"])
        parts.append(f"{concept} {_interval(free['gap'])} (raw {_interval(raw['gap'])})")
        if math.isfinite(free["gap"]["low"]) and free["gap"]["low"] > 0:
            persists.append(concept)
    if not parts:
        return ""
    lead = f"With {setting}: over {window}" if name_setting else f"Over {window}"
    text = (f"{lead}, {pair[0]} minus the compute-matched control {pair[1]}, in the passthrough-free "
            f"probe R² at layer {answer['layer']} (mean, 95% t-interval over {n} seeds): {'; '.join(parts)}. ")
    text += (f"The gap persists (interval above 0) for {', '.join(persists)}." if persists else
             "For no concept does the passthrough-free interval lie above 0: no persisting gap is shown at this precision.")
    trained = answer.get("trained_concept")
    if trained in persists:
        text += " " + specificity_sentence(trained, [c for c in persists if c != trained], by_key)
    return text


def specificity_sentence(trained: str, controls: list[str], by_key: dict) -> str:
    """Whether the trained concept's persisting gap is specific: the concepts the aux loss did not train are its
    controls (a gap they share is the aux loss shaping a family of features, not the trained concept)."""
    if not controls:
        return f"The concepts the aux loss did not train show no persisting gap: the effect is specific to {trained}."
    gap = {c: by_key[(c, "compute-matched control", "r2_nonlinear")]["gap"]["mean"] for c in [trained, *controls]}
    largest = max(controls, key=lambda c: gap[c])
    ratio = gap[trained] / gap[largest] if gap[largest] > 0 else math.inf
    return (f"Not specific to {trained}: concepts the aux loss did not train keep a gap too ({', '.join(controls)}); "
            f"the trained concept's is {ratio:.1f} times the largest of theirs ({largest}).")


def answer_section(results: GrowthResults) -> Section:
    """The report's opening: the late-window gap per concept (and preserve_outputs setting), passthrough-free beside
    raw, in words and one figure."""
    answer = late_window_gaps(results)
    blocks: list = [TextBlock(answer_sentences(answer))]
    if answer["entries"]:
        blocks.append(FigureBlock.from_figure(
            "answer-late-window-gap", plot_late_window_answer(answer),
            "Late-window paired gap (per seed: mean over the window of the large-embed-aux minus control difference; "
            "then mean over seeds with a 95% Student-t interval). Filled: R² of the concept's part that no linear map "
            "of the board explains (passthrough-free); open: raw probe R². Against the compute-matched control "
            "(large-embed-noaux of the same preserve_outputs setting, which has seen its small model's batches too)"
            + (" and the baseline." if "large-baseline" in results.conditions else "; this study ran no baseline.")))
        rows = [[e["setting"], e["concept"], f"{e['minuend']} − {e['subtracted']}", e["metric"], _interval(e["gap"]),
                 e["verdict"]] for e in answer["entries"]]
        blocks.append(TableBlock(["embedding", "concept", "pair", "measure", "gap [95% t]",
                                  "verdict"], rows, caption=f"Late-window gaps at layer {answer['layer']}"))
    if results.passthrough:
        blocks.append(TextBlock(alpha_edge_line(results)))
    for note in answer["skipped"]:
        blocks.append(TextBlock(f"skipped: {note}"))
    return Section("Answer: does the gap persist?", blocks, anchor="answer")


def sources_section(results: GrowthResults, matches: list[dict[str, Any]]) -> Section | None:
    """Do the grown models outgrow their sources? Paired per-seed differences (large minus its own source) in final
    validation losses and play, and the head-to-head match; None when results.json holds no full validation."""
    rows = source_comparison(results, matches)
    if not rows:
        return None
    table = [[f"{row['condition']} − {row['source']}" if k == 0 else "", m["name"], format_measure(m),
              ", ".join(f"s{seed} {v:+.3f}" if m["reference"] == 0 else f"s{seed} {v:.3f}" for seed, v in m["per_seed"].items()),
              m["verdict"]]
             for row in rows for k, m in enumerate(row["measures"])]
    texts = [comparison_sentence(row) + (f" Head to head, pooled: {pooled_line(row)}." if row["head_to_head_pooled"] else "")
             for row in rows]
    if not matches:
        texts.append("No head-to-head matches were played (add [source_match] to the config, or run "
                     "`modinterp study sources DIR`).")
    return Section("Do the grown models outgrow their sources?", [
        TextBlock(" ".join(texts)),
        TableBlock(["grown − source", "measure", "mean [95% t over seeds]", "per seed", "verdict"], table,
                   caption="Per seed: the grown run minus its own small source (same seed), at each run's last full "
                           "validation and last play evaluation; losses: negative = the grown model is better. Head to "
                           "head: the grown model's win rate against its source (both colours; 0.5 = even). Verdict: "
                           "better / worse where the t-interval over seeds excludes the no-difference value (0, or 0.5 "
                           "head to head) and, for win rates, so does the interval of the games pooled over seeds "
                           "(Wilson; Newcombe's for a difference of rates); 'one seed': no interval. Run-end play "
                           "uses the same openings for every seed, so its interval leaves out opening sampling.")],
                   anchor="sources")


def alpha_edge_line(results: GrowthResults) -> str:
    """How often the passthrough fits chose an edge of the alpha grid, and how often the CV score still changed there."""
    n_fits = 5 * len(results.passthrough)  # raw, board + layer, linear part, nonlinear part, scrambled control
    at_edge = sum(r.n_alphas_at_edge for r in results.passthrough)
    open_edge = sum(r.n_alphas_at_open_edge for r in results.passthrough)
    return (f"Alpha grid: {at_edge} of {n_fits} passthrough probe fits chose its smallest or largest alpha, {open_edge} "
            "of them with the CV score still changing there (a grid too narrow for those).")


def final_numbers_section(results: GrowthResults) -> Section:
    """The final numbers: losses and the last embedded layer's probe R² per condition, then probe R² by layer."""
    layer, missing = results.last_embedded_layer, SeedSummary(float("nan"), float("nan"), float("nan"), float("nan"), 0)
    rows = []
    for condition in results.conditions:
        profile = final_seed_profile(results, condition)
        alpha1 = final_seed_profile(results, condition, "r2_alpha1").get(layer, missing)
        pooled = final_seed_profile(results, condition, "r2_pooled").get(layer, missing)
        best = max(profile, key=lambda name: profile[name].mean) if profile else "–"
        rows.append([condition, *(fmt_seed(final_loss_summary(results, condition, split))
                                  for split in ("train", "val_quick", "val_full")),
                     fmt_seed(profile.get(layer, missing), boot=True), fmt_seed(alpha1), fmt_seed(pooled), best])
    columns = ["condition", "train loss", "val loss (quick)", "val loss (full)", f"R² L{layer} (CV α)",
               f"R² L{layer} (α=1)", f"pooled R² L{layer}", "best layer"]
    by_layer = [[condition, *(fmt_seed(final_seed_profile(results, condition).get(name, missing), interval=True, boot=True)
                              for name in results.layers)] for condition in results.conditions]
    return Section("Final numbers", [
        TableBlock(columns, rows, caption=f"Last logged step; {seed_se_note(False)}. Seeds {results.seeds}"),
        TableBlock(["condition", *results.layers], by_layer,
                   caption=f"Final probe-test R² (CV-selected α) by layer: {seed_se_note(True)}"),
    ])


def controls_section(results: GrowthResults) -> Section:
    blocks: list = [FigureBlock.from_figure("controls", plot_controls(results),
                                            "Controls: init = same probe on the model at initialisation; shuffled = rows of "
                                            "the targets permuted; frozen = probe fitted on the small model, applied unchanged "
                                            "to the grown model's same layer (embedded conditions only). Error bars: 95% "
                                            f"t-interval over seeds. R² axes stop at {R2_FLOOR:g}: values below are counted in the panel.")]
    if results.frozen:
        blocks.append(FigureBlock.from_figure(
            "frozen-over-training", plot_frozen_over_training(results),
            "Frozen control over training: the small model's probe on the grown model's matching layer, raw (left, axis "
            f"clipped at {R2_FLOOR:g} with the count below it noted) and after a per-target slope and intercept, fitted "
            "on probe-train, that map its predictions onto the small model's own (right; equal to raw at step 0)."))
    rows = []
    for control in ("init", "shuffled", "frozen"):
        for condition in results.conditions:
            profile = control_seed_profile(results, condition, control)
            if profile:
                rows.append([f"{condition} / {control}", *(fmt_seed(profile[name]) if name in profile else "–"
                                                           for name in results.layers)])
    if rows:
        blocks.append(TableBlock(["condition / control", *results.layers], rows,
                                 caption="Control R² by layer: mean over seeds ± seed SE (standard error over seeds)"))
    return Section("Controls", blocks)


def growth_sections(results: GrowthResults, manifest: dict[str, Any] | None = None,
                    matches: list[dict[str, Any]] = ()) -> list[Section]:
    """The standard sections, in reading order (`matches`: the head-to-head matches of DIR/sources.json)."""
    layer = results.last_embedded_layer
    sources = sources_section(results, list(matches))
    sections = [
        answer_section(results),
        *([sources] if sources is not None else []),
        Section("Training", [FigureBlock.from_figure(
            "losses", plot_losses(results),
            "Training loss (left) and seed-matched validation loss (right) per condition: a thin line per seed, a thick "
            "line for the mean over seeds, open circles for full validation.")]),
        Section("Probe over training", [FigureBlock.from_figure(
            "probe-r2-over-training", plot_probe_over_training(results),
            f"Probe-test R² (ridge, α by grouped CV, averaged uniformly over targets) at layer {layer}, the last embedded "
            "layer, over training.")]),
        Section("Probe by layer", [FigureBlock.from_figure(
            "probe-r2-profile", plot_final_profile(results),
            "Final probe-test R² at every layer per condition; error bars: 95% t-interval over seeds.")]),
        controls_section(results),
        verification_section(results),
        final_numbers_section(results),
        Section("Configuration", [CodeBlock(json.dumps(results.config, indent=2, sort_keys=True, default=str),
                                            caption="the study's configuration (JSON)", folded=True)]),
        Section("Manifest", [CodeBlock(json.dumps(manifest, indent=2, sort_keys=True, default=str),
                                       caption="manifest.json", folded=True)] if manifest
                else [TextBlock("No manifest.json was found next to results.json.")]),
    ]
    return sections


def build_growth_report(run_dir: str | Path, extra_sections: Iterable[Section] = (), results_name: str = "results.json",
                        title: str = "modinterp growth study") -> Path:
    """Read `run_dir/results.json` (+ manifest.json) and write `run_dir/report.html`; extra sections go before the config."""
    run_dir = Path(run_dir)
    results = load_results(run_dir / results_name)
    sections = growth_sections(results, load_manifest(run_dir), load_source_matches(run_dir))
    split = len(sections) - 2  # configuration and manifest stay last
    sections = sections[:split] + list(extra_sections) + sections[split:]
    subtitle = (f"preset {results.preset} · conditions {', '.join(results.conditions)} · seeds {results.seeds} · "
                f"last embedded layer {results.last_embedded_layer}")
    return write_report(sections, run_dir, title, subtitle)
