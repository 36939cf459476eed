"""The writer of `DIR/results.json`: gathers the run directories of a finished study into the results schema
(`modinterp.studies.growth.schema`, docs/results-schema.md) and validates through it before writing.

Only deterministic numbers go in (no wall times), so an interrupted-and-resumed study writes the same file
as an uninterrupted one. Loss records carry `loss` = value BCE + w_policy x policy CE (the main task, the same
quantity for every condition) and, beside it, the trainer's weighted `total` and the separate terms.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modinterp.atomic import atomic_write_json
from modinterp.probes import FINAL_LN
from modinterp.studies.growth.config import GrowthStudyConfig
from modinterp.studies.growth.probing import FROZEN_FILE, PASSTHROUGH_FILE, PROBES_FILE, read_probe_log
from modinterp.studies.growth.run import GrowthRun, growth_runs, run_dir
from modinterp.studies.growth.schema import SCHEMA_VERSION, GrowthResults, ResultsError, parse_results, repeated_records
from modinterp.train.metrics import read_metrics

RESULTS_FILE = "results.json"
_LOSS_SPLITS = ("train", "val_quick", "val_full")
_LOSS_TERMS = ("value_loss", "policy_loss", "concept_loss")
_RECORD_FIELDS = ("probes", "losses", "controls", "passthrough", "frozen", "play")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def loss_record(spec: GrowthRun, step: int, split: str, values: dict[str, Any], w_policy: float) -> dict[str, Any]:
    """One `losses` record: main-task loss plus the trainer's total, the terms and any accuracies."""
    record = {"condition": spec.condition, "seed": spec.seed, "step": int(step), "split": split,
              "loss": float(values["value_loss"]) + w_policy * float(values["policy_loss"]),
              "total": float(values["loss"])}
    for key in (*_LOSS_TERMS, "value_acc", "policy_acc"):
        if key in values:
            record[key] = float(values[key])
    return record


def play_records(spec: GrowthRun, step: int, values: dict[str, Any], games: int) -> list[dict[str, Any]]:
    """The `play` records of one evaluation line of metrics.jsonl ("MODE_vs_OPPONENT/win_rate", ... keys)."""
    records = []
    for key in sorted(k for k in values if k.endswith("/win_rate")):
        pairing = key.removesuffix("/win_rate")
        mode, _, opponent = pairing.partition("_vs_")
        records.append({"condition": spec.condition, "seed": spec.seed, "step": int(step), "mode": mode,
                        "opponent": opponent, "games": int(games), "win_rate": float(values[key]),
                        "win_ci_low": float(values[f"{pairing}/win_ci_low"]),
                        "win_ci_high": float(values[f"{pairing}/win_ci_high"])})
    return records


def run_records(config: GrowthStudyConfig, out: Path, spec: GrowthRun) -> dict[str, list[dict]]:
    """probes, losses, controls, passthrough, frozen and play records of one finished run."""
    directory = run_dir(out, spec)
    stage = config.small.train if spec.is_small else config.large.train
    losses, play = [], []
    for line in read_metrics(directory / "metrics.jsonl"):
        split, step = line["split"], line["step"]
        if split == "play":
            play += play_records(spec, step, line, stage.play.games)
        elif split == "probe":  # the step-0 quick validation, logged beside the first probe
            quick = {k.split("/", 1)[1]: v for k, v in line.items() if k.startswith("val_quick/")}
            if quick:
                losses.append(loss_record(spec, step, "val_quick", quick, stage.w_policy))
        elif split in _LOSS_SPLITS:
            losses.append(loss_record(spec, step, split, line, stage.w_policy))
    records = {"probes": read_probe_log(directory / PROBES_FILE), "losses": losses,
               "controls": _read_json(directory / "controls.json"), "passthrough": read_probe_log(directory / PASSTHROUGH_FILE),
               "frozen": read_probe_log(directory / FROZEN_FILE), "play": play}
    _check_own_records(spec, directory, records)
    return records


def _check_own_records(spec: GrowthRun, directory: Path, records: dict[str, list[dict]]) -> None:
    """Refuse records labelled with another run than the folder they were read from (a renamed or copied folder)."""
    for field, found in records.items():
        for record in found:
            if (record.get("condition"), record.get("seed")) != (spec.condition, spec.seed):
                raise ResultsError(f"{directory}: a {field} record is labelled condition={record.get('condition')!r}, "
                                   f"seed={record.get('seed')!r}, but the folder holds run {spec.condition!r} seed "
                                   f"{spec.seed}; was the folder renamed or copied from another run? Delete it and "
                                   "resume the study to retrain that run")


def layer_labels(config: GrowthStudyConfig) -> list[str]:
    """The large model's probe layers ("0".."L-1", "final_ln"); the small models' labels are a subset."""
    return [str(i) for i in range(config.n_large_layers)] + [FINAL_LN]


def verification_summary(config: GrowthStudyConfig, out: Path) -> dict[str, Any]:
    """The worst |difference| over every embedded run, and each run's per-layer report."""
    runs = []
    for spec in growth_runs(config):
        path = run_dir(out, spec) / "verification.json"
        if spec.source is not None:
            report = _read_json(path)
            runs.append({"condition": spec.condition, "seed": spec.seed, **report})
    worst = max(r["max_abs_diff"] for r in runs)
    return {"max_abs_diff": worst, "tolerance": config.verification.tolerance,
            "passed": worst <= config.verification.tolerance, "n_positions": runs[0]["n_positions"],
            "positions": "probe-set positions of validation games (real positions, not random boards)", "runs": runs}


def _sort_key(conditions: tuple[str, ...], layers: list[str]):
    order = {c: i for i, c in enumerate(conditions)}
    position = {name: i for i, name in enumerate(layers)}
    split_order = {s: i for i, s in enumerate(_LOSS_SPLITS)}
    control_order = {"init": 0, "shuffled": 1, "frozen": 2}

    def key(record: dict) -> tuple:
        return (order[record["condition"]], record["seed"], record.get("step", 0), split_order.get(record.get("split"), 0),
                control_order.get(record.get("control"), 0), record.get("concept", ""), position.get(record.get("layer"), 0),
                record.get("mode", ""), record.get("opponent", ""))

    return key


def assemble_results(config: GrowthStudyConfig, out: str | Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The results.json dict of a study whose runs are all complete."""
    out = Path(out)
    layers = layer_labels(config)
    records, runs = {field: [] for field in _RECORD_FIELDS}, {}
    for spec in growth_runs(config):
        for field, found in run_records(config, out, spec).items():
            records[field] += found
        summary = _read_json(run_dir(out, spec) / "run.json")
        runs[spec.name] = {k: summary[k] for k in ("condition", "seed", "steps", "steps_per_epoch", "batch_seed",
                                                    "batch_digest", "untouched_digest", "n_copied", "n_zeroed")
                           if k in summary}
    key = _sort_key(config.conditions, layers)
    return {
        "schema_version": SCHEMA_VERSION,
        "preset": config.preset,
        "conditions": list(config.conditions),
        "seeds": list(config.seeds),
        "layers": layers,
        "last_embedded_layer": config.last_embedded_layer,
        "verification": verification_summary(config, out),
        "config": config.model_dump(mode="json"),
        **{field: sorted(found, key=key) for field, found in records.items()},
        "runs": runs,
        **(extra or {}),
    }


def write_results(out: str | Path, results: dict[str, Any]) -> tuple[Path, GrowthResults]:
    """Validate `results` against the schema (fail here, not in a reader) and write `out/results.json`; a measurement
    recorded twice is refused (each appears once: docs/results-schema.md)."""
    path = Path(out) / RESULTS_FILE
    repeated = repeated_records(results)
    if repeated:
        raise ResultsError(f"{path}: {len(repeated)} records repeat earlier ones, first {repeated[0]}; each measurement "
                           "appears once (a run's records read twice, or a folder carrying another run's labels?)")
    parsed = parse_results(results, path)
    return atomic_write_json(path, results), parsed
