"""The carve study's describe step: every module of a trained BoardTransformer run partitioned, its evidence
collected, described and scored, its interfaces read (the library stages live in `modinterp.describe`).

    describe_run("runs/x", out_dir="runs/x/describe", config=DescribeConfig(k=6), llm=None)

writes `descriptions.json` and `descriptions.html` (cards) in `out_dir`. Evidence and scoring positions come
from disjoint sets of games (checked), either fresh random games or a GameStore's val and test splits.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from modinterp.atomic import atomic_write_json
from modinterp.describe.cards import write_cards
from modinterp.describe.describers import ConceptDescriber, make_describers
from modinterp.describe.evidence import EvidenceConfig, build_evidence
from modinterp.describe.evidence.interfaces import interface_flows, summaries_for
from modinterp.describe.evidence.readouts import READOUT_MEANING, Readouts, check_readout
from modinterp.describe.evidence.transformer import (
    TransformerModuleRunner, mean_activations, module_writes, modules_from_labels,
)
from modinterp.describe.llm import LLMSettings
from modinterp.describe.evidence.records import ModuleEvidence
from modinterp.describe.scoring import Controls, held_out_r, mean_scores, null_summary, score_descriptions
from modinterp.describe.subjects.board import BoardSubject
from modinterp.describe.subjects.board_moves import BoardMoveSubject
from modinterp.device import pick_device
from modinterp.games import domineering as dom
from modinterp.manifest import write_manifest
from modinterp.modularity.construct import graph_of
from modinterp.modularity.construct.board_transformer import construction_labels
from modinterp.modularity.cut import cut_model
from modinterp.modularity.partition import module_table, random_partition_like
from modinterp.studies.carve.modules import UNIT_KINDS
from modinterp.train.checkpoint import load_trained_model

PHASE = "fill_fraction"  # game phase, regressed out of every simulation score beside the raw one
N_REFERENCE = 256  # distinct evidence boards mean ablation averages over
CONSTANT = 1e-9  # an activation whose standard deviation is at most this is constant: nothing to describe
PARTITIONS = ("tree", "layers", "masks")  # where the modules come from (`_partition`)
DESCRIBERS = ("concept",)  # offline describers of every run; an LLM joins when --llm-* is given
VERDICT = {True: "beats", False: "does not beat", None: "n/a"}  # a null's `beats_*` flag in the summary


@dataclass
class DescribeConfig:
    """What `describe_run` does: the partition (k, method), the activation described, how many positions per
    split, how many random partitions the scores stand beside, the seed."""

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
    # "tree": k modules from the Gomory-Hu tree; "layers": one module per layer's heads / neurons; "masks": a modular
    # model's modules by construction (`construction_labels`; the bus copies of inputs and outputs are their own label)
    partition: str = "tree"
    # what a module's activation is (`describe.evidence.readouts`): "pc1" of its write at CLS, or its contribution
    # to the "value" output, to the greedy move's log-probability ("policy"), or to a given move's on (board, move)
    # pairs ("move": 2 legal moves per board, and the move concepts join the library)
    activation: str = "pc1"
    random_partitions: int = 20  # random partitions of the same module sizes, the null every score stands beside

    def __post_init__(self) -> None:
        if self.partition not in PARTITIONS:
            renamed = " (the Gomory-Hu tree's partition is now called tree, as in `modinterp modules`)" if self.partition == "gh" else ""
            raise ValueError(f"partition (--partition) {self.partition!r}: expected one of {', '.join(PARTITIONS)}{renamed}")
        check_readout(self.activation)
        if self.random_partitions < 0:
            raise ValueError(f"random_partitions (--random-partitions) {self.random_partitions}: expected 0 (no control) or more")


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


def _partition(model, k: int, min_size: int, method: str = "tree"):
    """(weight graph, node labels, module table, min cut between every two modules) of the model."""
    if method == "tree":
        cut = cut_model(model, k, min_size=min_size)
        graph, labels, table = cut.graph, cut.labels, cut.modules
    else:  # "layers" or "masks" (DescribeConfig checks the name)
        graph = graph_of(model)
        labels = layer_labels(graph.nodes.name) if method == "layers" else construction_labels(model, graph.nodes)
        table = module_table(graph, labels)
    cuts = {(m.label, other): cut for m in table for other, cut in m.min_cut_to.items()}
    return graph, labels, table, cuts


def random_partition_activations(graph, labels: np.ndarray, readouts: Readouts, boards_ev: np.ndarray,
                                 boards_ho: np.ndarray, n_draws: int,
                                 seed: int) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Per module name, the (evidence, held-out) activation of the module with the same label in each of
    `n_draws` random partitions that keep every module's number of heads and of neurons (labels permuted among
    the heads and among the neurons, `random_partition_like`), read out as the real modules are (`readouts`,
    fitted on the evidence split). Layers are not matched."""
    kinds = np.asarray(graph.nodes.kind)
    out: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for draw in np.random.default_rng(seed).integers(0, 2**31 - 1, size=(n_draws, len(UNIT_KINDS))):
        shuffled = labels
        for kind, kind_seed in zip(UNIT_KINDS, draw):
            shuffled = random_partition_like(shuffled, kinds == kind, int(kind_seed))
        modules = [m for m in modules_from_labels(graph.nodes.name, shuffled) if m.n_units > 0]
        for name, both in readouts.activations(modules, boards_ev, boards_ho).items():
            out.setdefault(name, []).append(both)
    return out


def described_random_scores(randoms: dict[str, list[tuple[np.ndarray, np.ndarray]]], table_ev,
                            table_ho) -> dict[str, list[float | None]]:
    """Per module name, the held-out simulation r of the offline `ConceptDescriber`'s own description of each of
    its random counterparts (None where a counterpart's activation is constant): the null for "a random set of
    units of the same size is described as well"."""
    describer, out = ConceptDescriber(), {}
    for name, draws in randoms.items():
        out[name] = []
        for ev, ho in draws:
            if float(np.std(ev)) <= CONSTANT:
                out[name].append(None)
                continue
            predicate = describer.describe_one(ModuleEvidence(name, "random units", ev, []), table_ev).predicate
            out[name].append(held_out_r(predicate.evaluate(table_ev), ev, predicate.evaluate(table_ho), ho))
    return out


def subject_and_inputs(cfg: DescribeConfig, spec: dom.BoardSpec):
    """(subject, evidence inputs, held-out inputs, reference boards): boards, or with activation "move" (board,
    move) pairs of the same boards; the reference boards (mean ablation's averages) are a seeded sample of 256
    distinct evidence boards, the same whatever the activation."""
    boards = BoardSubject(spec, cfg.sector)
    evidence, heldout = boards.splits(cfg.n_games, cfg.positions_per_game, cfg.seed, cfg.games)
    distinct = np.unique(evidence.inputs, axis=0)
    pick = np.random.default_rng(cfg.seed).choice(len(distinct), size=min(N_REFERENCE, len(distinct)), replace=False)
    reference = distinct[np.sort(pick)]
    if cfg.activation != "move":
        return boards, evidence.inputs, heldout.inputs, reference
    pairs = BoardMoveSubject(spec, cfg.sector)
    return pairs, pairs.with_moves(evidence, cfg.seed).inputs, pairs.with_moves(heldout, cfg.seed + 1).inputs, reference


def collect_evidence(readouts: Readouts, modules, boards: tuple[np.ndarray, np.ndarray], table_ev, flows,
                     cfg: DescribeConfig, show_progress: bool = True):
    """(evidences, activations on the evidence and held-out boards {module: (N,)}, {module: why not described}):
    a module whose activation is constant on the evidence boards (a routed module's contribution to a head it
    does not feed is exactly 0) has nothing to describe and is listed with the reason instead."""
    boards_ev, boards_ho = boards
    evidence_config = EvidenceConfig(n_attribution=cfg.n_attribution_boards, seed=cfg.seed)
    evidences, act_ev, act_ho, not_described = [], {}, {}, {}
    with Progress(disable=not show_progress, transient=True) as bar:
        task = bar.add_task("collecting evidence", total=len(modules))
        for m in modules:
            bar.advance(task)
            readout = readouts.of(m).fit(boards_ev)
            evidence_activation = readout(boards_ev)
            if float(np.std(evidence_activation)) <= CONSTANT:
                not_described[m.name] = (f"its activation ({cfg.activation}) is constant on the evidence boards "
                                         f"({float(evidence_activation[0]):.3g}): the module does not move it")
                continue
            act_ev[m.name], act_ho[m.name] = evidence_activation, readout(boards_ho)
            runner = TransformerModuleRunner(readouts.model, m, readout, readouts.means, readouts.subject)
            evidences.append(build_evidence(runner, readouts.subject, boards_ev, act_ev[m.name], table_ev, evidence_config,
                                            interfaces=summaries_for(m.name, flows), extra=readout.info()))
    return evidences, act_ev, act_ho, not_described


def describe_run(run_dir: str | Path, out_dir: str | Path | None = None, config: DescribeConfig | None = None,
                 llm: LLMSettings | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Describe and score every module of the run's final model; returns (and writes) the results."""
    started = time.time()
    cfg = config or DescribeConfig()
    out_dir = Path(out_dir) if out_dir is not None else Path(run_dir) / "describe"
    model, _ = load_trained_model(run_dir, device=pick_device(cfg.device))
    spec = dom.BoardSpec(model.config.rows, model.config.cols)
    subject, boards_ev, boards_ho, reference = subject_and_inputs(cfg, spec)
    table_ev, table_ho = subject.concept_table(boards_ev), subject.concept_table(boards_ho)
    graph, labels, mtable, cuts = _partition(model, cfg.k, cfg.min_module_size, cfg.partition)
    all_modules = modules_from_labels(graph.nodes.name, labels)
    modules = [m for m in all_modules if m.n_units > 0]
    tokens_ev, tokens_ho = subject.tokens(model, boards_ev), subject.tokens(model, boards_ho)
    writes_ev, writes_ho = module_writes(model, tokens_ev, modules), module_writes(model, tokens_ho, modules)
    flows = interface_flows(model, graph, labels, modules, cuts, (writes_ev, writes_ho), (table_ev, table_ho),
                            (table_ev.column(PHASE), table_ho.column(PHASE)), cfg.seed)
    means = mean_activations(model, BoardSubject(spec).tokens(model, reference))
    readouts = Readouts(cfg.activation, model, subject, means)
    evidences, act_ev, act_ho, not_described = collect_evidence(readouts, modules, (boards_ev, boards_ho), table_ev,
                                                                flows, cfg, show_progress)
    randoms = random_partition_activations(graph, labels, readouts, boards_ev, boards_ho, cfg.random_partitions,
                                           cfg.seed)
    controls = Controls(table_ev.column(PHASE), table_ho.column(PHASE), randoms)
    described_randoms = described_random_scores(randoms, table_ev, table_ho)
    results: dict[str, Any] = {}
    for describer in make_describers(DESCRIBERS, subject.prompt_words, llm, cfg.seed):
        descriptions, report = describer.describe(evidences, table_ev)
        scores = score_descriptions(descriptions, act_ev, act_ho, table_ev, table_ho, cfg.top_fraction, cfg.seed,
                                    controls)
        scores = {m: replace(sc, **null_summary(sc.simulation_r, described_randoms.get(m, []), null="described_random_module"))
                  for m, sc in scores.items()}
        results[describer.name] = {
            "report": report.to_json(), "mean_scores": mean_scores(scores),
            "modules": {d.module: {**d.to_json(), "scores": scores[d.module].to_json()} for d in descriptions},
        }
    output = {
        "schema_version": 1, "run_dir": str(run_dir), "config": {**asdict(cfg), "sector": list(cfg.sector)},
        "activation": READOUT_MEANING[cfg.activation],
        "n_evidence": len(boards_ev), "n_heldout": len(boards_ho), "concept_features": table_ev.names,
        "partition": {"k_requested": cfg.k, "n_modules": int(labels.max()) + 1,
                      "skipped_without_units": [m.name for m in all_modules if m.n_units == 0],
                      "not_described": not_described,
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
    """Per describer: modules described and mean scores beside their controls, then one line per module with its
    score beside its random partitions' (mean, 95th percentile), raw and after regressing out game phase; then one
    line per interface."""
    lines = [f"{module} not described: {why}" for module, why in output["partition"]["not_described"].items()]
    for name, res in output["describers"].items():
        s = res["mean_scores"]
        lines.append(f"{name}: {res['report']['n_described']}/{res['report']['n_modules']} modules described; mean simulation r "
                     f"{s.get('simulation_r')} (random description {s.get('random_description_simulation_r')}, random "
                     f"partition {s.get('random_partition_simulation_r')}, shuffled {s.get('shuffled_simulation_r')}); "
                     f"after regressing out {PHASE}: {s.get('simulation_r_phase_regressed')} (random description "
                     f"{s.get('random_description_simulation_r_phase_regressed')}, random partition "
                     f"{s.get('random_partition_simulation_r_phase_regressed')}); detection {s.get('detection_bacc')}")
        for module, record in sorted(res["modules"].items()):
            scores = record["scores"]
            lines.append(f"  {module} {record['concept']}: "
                         + "; ".join(_versus_random(scores, suffix) for suffix in ("", "_phase_regressed"))
                         + f"; random modules described on their own: {_fmt(scores.get('described_random_module_simulation_r'))}"
                         f" (max {_fmt(scores.get('described_random_module_simulation_r_max'))}, p "
                         f"{_fmt(scores.get('described_random_module_p'))}): "
                         + VERDICT[scores.get("beats_described_random_module")])
        failures = len(res["report"].get("parse_failures", {})) + len(res["report"].get("request_failures", {}))
        if failures:
            lines.append(f"  {failures} module(s) not described (see descriptions.json: report)")
    return lines + [f"interface {flow['sentence']}" for flow in output["interfaces"]]


def _versus_random(scores: dict, suffix: str) -> str:
    """'r 0.67 vs random partitions 0.03 (max 0.10, p 0.048 of 20): beats' for the raw (suffix '') or
    phase-regressed score."""
    real, mean = scores.get(f"simulation_r{suffix}"), scores.get(f"random_partition_simulation_r{suffix}")
    top = scores.get(f"random_partition_simulation_r{suffix}_max")
    p, n = scores.get(f"random_partition_p{suffix}"), scores.get(f"random_partition_n{suffix}")
    verdict = VERDICT[scores.get(f"beats_random_partition{suffix}")]
    label = "r" if not suffix else "phase-regressed r"
    return f"{label} {_fmt(real)} vs random partitions {_fmt(mean)} (max {_fmt(top)}, p {_fmt(p)} of {n}): {verdict}"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def describe_and_report(run_dir: str | Path, out_dir: str | Path | None, config: DescribeConfig,
                        llm: LLMSettings | None = None) -> dict[str, Any]:
    """`modinterp describe RUN_DIR`: describe_run, then its summary and the files written, on stdout."""
    output = describe_run(run_dir, out_dir, config, llm)
    folder = Path(out_dir) if out_dir is not None else Path(run_dir) / "describe"
    for line in summary_lines(output):
        print(line)
    print(f"wrote {folder / 'descriptions.json'} and {folder / 'descriptions.html'}")
    return output
