"""The carve study's describe step: every module of a trained BoardTransformer run partitioned, its evidence
collected, described and scored, its interfaces read (the library stages live in `modinterp.describe`).

    describe_run("runs/x", out_dir="runs/x/describe", config=DescribeConfig(k=6), llm=None)

writes `descriptions.json` and `descriptions.html` (cards) in `out_dir`. Evidence and scoring positions come
from disjoint sets of games (checked), either fresh random games or a GameStore's val and test splits.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from modinterp.atomic import atomic_write_json
from modinterp.describe.cards import write_cards
from modinterp.describe.describers import make_describers
from modinterp.describe.evidence import EvidenceConfig, ModuleActivation, build_evidence
from modinterp.describe.evidence.interfaces import interface_flows, summaries_for
from modinterp.describe.evidence.transformer import (
    TransformerModuleRunner, mean_activations, module_writes, modules_from_labels, total_write,
)
from modinterp.describe.llm import LLMSettings
from modinterp.describe.scoring import Controls, mean_scores, score_descriptions
from modinterp.describe.subjects.board import BoardSubject
from modinterp.device import pick_device
from modinterp.games import domineering as dom
from modinterp.manifest import write_manifest
from modinterp.modularity.construct import graph_of
from modinterp.modularity.construct.board_transformer import construction_labels
from modinterp.modularity.cut import cut_model
from modinterp.modularity.partition import module_table, random_partition_like
from modinterp.train.checkpoint import load_trained_model

PHASE = "fill_fraction"  # game phase, regressed out of every simulation score beside the raw one
DESCRIBERS = ("concept",)  # offline describers of every run; an LLM joins when --llm-* is given


@dataclass
class DescribeConfig:
    """What `describe_run` does: the partition (k, method), how many positions per split, the seed."""

    k: int = 6
    n_games: int = 300  # per split (evidence, held-out)
    positions_per_game: int = 10
    seed: int = 0
    sector: tuple[int, int] = (4, 4)
    n_attribution_boards: int = 64
    top_fraction: float = 0.1
    min_module_size: int = 2
    games: str | None = None  # a GameStore: evidence from its "val" split, scores on its "test" split
    device: str | None = None  # None: CUDA when present (modinterp.device.pick_device), else CPU
    # "gh": k modules from the Gomory-Hu tree; "layers": one module per layer's heads / neurons; "masks": a modular
    # model's modules by construction (`construction_labels`; the bus copies of inputs and outputs are their own label)
    partition: str = "gh"


def layer_labels(node_names: np.ndarray) -> np.ndarray:
    """A structural partition: one module per layer's attention heads and per layer's MLP neurons; input and
    output nodes join the first and last module. For networks with no modular structure to find."""
    groups = []
    for name in node_names:
        parts = str(name).split(".")
        groups.append(f"{int(parts[1]):03d}.{parts[2]}" if parts[0] == "blocks" else ("000" if "embed" in parts[0] else "999"))
    keys = sorted(set(groups))
    labels = np.array([keys.index(g) for g in groups])
    unit_keys = [i for i, key in enumerate(keys) if key not in ("000", "999")]
    labels[labels == keys.index("000")] = unit_keys[0] if "000" in keys else labels[labels == keys.index("000")]
    if "999" in keys:
        labels[np.array(groups) == "999"] = unit_keys[-1]
    _, labels = np.unique(labels, return_inverse=True)
    return labels


def _partition(model, k: int, min_size: int, method: str = "gh"):
    """(weight graph, node labels, module table, min cut between every two modules) of the model."""
    if method == "gh":
        cut = cut_model(model, k, min_size=min_size)
        graph, labels, table = cut.graph, cut.labels, cut.modules
    elif method in ("layers", "masks"):
        graph = graph_of(model)
        labels = layer_labels(graph.nodes.name) if method == "layers" else construction_labels(model, graph.nodes)
        table = module_table(graph, labels)
    else:
        raise ValueError(f"partition={method!r}; expected 'gh' (Gomory-Hu tree), 'layers' or 'masks'")
    cuts = {(m.label, other): cut for m in table for other, cut in m.min_cut_to.items()}
    return graph, labels, table, cuts


def random_partition_activations(model, graph, labels: np.ndarray, tokens_ev, tokens_ho,
                                 seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per module name, the (evidence, held-out) activation of the module with the same label in a random
    partition of the units with the same sizes (`random_partition_like`): PC1 of its write, as for real ones."""
    units = np.isin(graph.nodes.kind, ("head", "neuron"))
    shuffled = [m for m in modules_from_labels(graph.nodes.name, random_partition_like(labels, units, seed))
                if m.n_units > 0]
    writes_ev, writes_ho = module_writes(model, tokens_ev, shuffled), module_writes(model, tokens_ho, shuffled)
    out = {}
    for m in shuffled:
        pc1 = ModuleActivation().fit(total_write(writes_ev[m.name]))
        out[m.name] = (pc1.transform(total_write(writes_ev[m.name])), pc1.transform(total_write(writes_ho[m.name])))
    return out


def describe_run(run_dir: str | Path, out_dir: str | Path | None = None, config: DescribeConfig | None = None,
                 llm: LLMSettings | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Describe and score every module of the run's final model; returns (and writes) the results."""
    started = time.time()
    cfg = config or DescribeConfig()
    out_dir = Path(out_dir) if out_dir is not None else Path(run_dir) / "describe"
    model, _ = load_trained_model(run_dir, device=pick_device(cfg.device))
    subject = BoardSubject(dom.BoardSpec(model.config.rows, model.config.cols), cfg.sector)
    evidence_split, heldout_split = subject.splits(cfg.n_games, cfg.positions_per_game, cfg.seed, cfg.games)
    boards_ev, boards_ho = evidence_split.inputs, heldout_split.inputs
    table_ev, table_ho = subject.concept_table(boards_ev), subject.concept_table(boards_ho)
    graph, labels, mtable, cuts = _partition(model, cfg.k, cfg.min_module_size, cfg.partition)
    all_modules = modules_from_labels(graph.nodes.name, labels)
    modules = [m for m in all_modules if m.n_units > 0]
    tokens_ev, tokens_ho = subject.tokens(model, boards_ev), subject.tokens(model, boards_ho)
    writes_ev, writes_ho = module_writes(model, tokens_ev, modules), module_writes(model, tokens_ho, modules)
    flows = interface_flows(model, graph, labels, modules, cuts, writes_ev, writes_ho, table_ev, table_ho)
    means = mean_activations(model, tokens_ev[:256])
    evidence_config = EvidenceConfig(n_attribution=cfg.n_attribution_boards, seed=cfg.seed)
    evidences, act_ev, act_ho = [], {}, {}
    with Progress(disable=not show_progress, transient=True) as bar:
        task = bar.add_task("collecting evidence", total=len(modules))
        for m in modules:
            pc1 = ModuleActivation().fit(total_write(writes_ev[m.name]))
            act_ev[m.name], act_ho[m.name] = pc1.transform(total_write(writes_ev[m.name])), pc1.transform(total_write(writes_ho[m.name]))
            runner = TransformerModuleRunner(model, m, pc1, means, subject)
            evidences.append(build_evidence(runner, subject, boards_ev, act_ev[m.name], table_ev, evidence_config,
                                            interfaces=summaries_for(m.name, flows),
                                            extra={"pc1_explained_variance": round(pc1.explained_variance_ratio_, 4)}))
            bar.advance(task)
    controls = Controls(table_ev.column(PHASE), table_ho.column(PHASE),
                        random_partition_activations(model, graph, labels, tokens_ev, tokens_ho, cfg.seed))
    results: dict[str, Any] = {}
    for describer in make_describers(DESCRIBERS, subject.prompt_words, llm, cfg.seed):
        descriptions, report = describer.describe(evidences, table_ev)
        scores = score_descriptions(descriptions, act_ev, act_ho, table_ev, table_ho, cfg.top_fraction, cfg.seed,
                                    controls)
        results[describer.name] = {
            "report": report.to_json(), "mean_scores": mean_scores(scores),
            "modules": {d.module: {**d.to_json(), "scores": scores[d.module].to_json()} for d in descriptions},
        }
    output = {
        "schema_version": 1, "run_dir": str(run_dir), "config": {**asdict(cfg), "sector": list(cfg.sector)},
        "activation": "first principal component (evidence split) of the module's write into the residual stream at CLS",
        "n_evidence": len(boards_ev), "n_heldout": len(boards_ho), "concept_features": table_ev.names,
        "partition": {"k_requested": cfg.k, "n_modules": int(labels.max()) + 1,
                      "skipped_without_units": [m.name for m in all_modules if m.n_units == 0],
                      "modules": [{"module": f"M{m.label}", "size": m.size, "internal_weight": m.internal_weight,
                                   "interface_weight": m.interface_weight} for m in mtable]},
        "evidence": {ev.module: ev.to_json() for ev in evidences},
        "interfaces": [{**f.to_json(), "sentence": f.sentence(table_ev)} for f in flows],
        "describers": results, "wall_s": round(time.time() - started, 2),
    }
    atomic_write_json(out_dir / "descriptions.json", output)
    write_cards(output, out_dir)
    write_manifest(out_dir, output["config"], [cfg.seed], started, stage="describe", llm_model=llm.model if llm else None)
    return output


def summary_lines(output: dict[str, Any]) -> list[str]:
    """One line per describer: modules described, mean simulation r beside its controls, detection."""
    lines = []
    for name, res in output["describers"].items():
        s = res["mean_scores"]
        lines.append(f"{name}: {res['report']['n_described']}/{res['report']['n_modules']} modules described; mean simulation r "
                     f"{s.get('simulation_r')} (random description {s.get('random_description_simulation_r')}, random "
                     f"partition {s.get('random_partition_simulation_r')}, shuffled {s.get('shuffled_simulation_r')}); "
                     f"after regressing out {PHASE}: {s.get('simulation_r_phase_regressed')} (random description "
                     f"{s.get('random_description_simulation_r_phase_regressed')}, random partition "
                     f"{s.get('random_partition_simulation_r_phase_regressed')}); detection {s.get('detection_bacc')}")
        failures = len(res["report"].get("parse_failures", {})) + len(res["report"].get("request_failures", {}))
        if failures:
            lines.append(f"  {failures} module(s) not described (see descriptions.json: report)")
    return lines


def describe_and_report(run_dir: str | Path, out_dir: str | Path | None, config: DescribeConfig,
                        llm: LLMSettings | None = None) -> dict[str, Any]:
    """`modinterp describe RUN_DIR`: describe_run, then its summary and the files written, on stdout."""
    output = describe_run(run_dir, out_dir, config, llm)
    folder = Path(out_dir) if out_dir is not None else Path(run_dir) / "describe"
    for line in summary_lines(output):
        print(line)
    print(f"wrote {folder / 'descriptions.json'} and {folder / 'descriptions.html'}")
    return output
