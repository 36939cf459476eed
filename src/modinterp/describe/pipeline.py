"""Describe every module of a trained BoardTransformer run: partition, evidence, descriptions, scores, interfaces.

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

from modinterp.describe.activation import ModuleActivation
from modinterp.describe.board_concepts import concept_table
from modinterp.describe.describers import ConceptDescriber, LLMDescriber
from modinterp.describe.evaluate import mean_scores, score_descriptions
from modinterp.describe.evidence import build_evidence
from modinterp.describe.interfaces import interface_flows, summaries_for
from modinterp.describe.llm import LLMSettings
from modinterp.describe.scoring import assert_disjoint
from modinterp.describe.transformer_modules import (
    ablated, load_run_model, mean_activations, model_outputs, module_writes, modules_from_labels, total_write,
)
from modinterp.games import domineering as dom
from modinterp.modularity.construct import graph_of
from modinterp.modularity.cut import cut_model
from modinterp.modularity.partition import module_table


@dataclass
class DescribeConfig:
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
    partition: str = "gh"  # "gh": k modules from the Gomory-Hu tree; "layers": one module per layer's heads / neurons


def _positions(spec: dom.BoardSpec, cfg: DescribeConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(evidence boards, evidence game ids, held-out boards, held-out game ids) from disjoint games."""
    rng = np.random.default_rng(cfg.seed)
    if cfg.games is not None:
        from modinterp.data.store import GameStore

        store = GameStore.load(cfg.games)
        if (store.spec.rows, store.spec.cols) != (spec.rows, spec.cols):
            raise ValueError(f"{cfg.games}: games are {store.spec}, the model plays {spec}; pass games of the model's board")
        moves, lengths = store.moves, store.lengths
        ev_games, ho_games = store.split_indices("val"), store.split_indices("test")
        ev_games, ho_games = ev_games[: cfg.n_games], ho_games[: cfg.n_games]
    else:
        from modinterp.games.players import random_games

        records = random_games(spec, 2 * cfg.n_games, seed=cfg.seed)
        moves, lengths = records.moves, records.lengths
        ev_games, ho_games = np.arange(cfg.n_games), np.arange(cfg.n_games, 2 * cfg.n_games)
    out = []
    for games in (ev_games, ho_games):
        game = np.repeat(games, cfg.positions_per_game)
        ply = (rng.random(len(game)) * (lengths[game].astype(np.int64) + 1)).astype(np.int64)
        out += [dom.replay_boards(spec, moves, game, ply), game]
    assert_disjoint(out[1], out[3], what="game")
    return out[0], out[1], out[2], out[3]


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
    if method == "gh":
        cut = cut_model(model, k, min_size=min_size)
        graph, labels, table = cut.graph, cut.labels, cut.modules
    elif method == "layers":
        graph = graph_of(model)
        labels = layer_labels(graph.nodes.name)
        table = module_table(graph, labels)
    else:
        raise ValueError(f"partition={method!r}; expected 'gh' (Gomory-Hu tree) or 'layers'")
    cuts = {(m.label, other): cut for m in table for other, cut in m.min_cut_to.items()}
    return graph, labels, table, cuts


def describe_run(run_dir: str | Path, out_dir: str | Path | None = None, config: DescribeConfig | None = None,
                 llm: LLMSettings | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Describe and score every module of the run's final model; returns (and writes) the results."""
    from modinterp.atomic import atomic_write_json
    from modinterp.describe.cards import write_cards
    from modinterp.manifest import write_manifest

    started = time.time()
    cfg = config or DescribeConfig()
    out_dir = Path(out_dir) if out_dir is not None else Path(run_dir) / "describe"
    from modinterp.device import pick_device

    model = load_run_model(run_dir, pick_device(cfg.device))
    spec = dom.BoardSpec(model.config.rows, model.config.cols)
    boards_ev, _, boards_ho, _ = _positions(spec, cfg)
    table_ev, table_ho = concept_table(spec, boards_ev, cfg.sector), concept_table(spec, boards_ho, cfg.sector)
    graph, labels, mtable, cuts = _partition(model, cfg.k, cfg.min_module_size, cfg.partition)
    all_modules = modules_from_labels(graph.nodes.name, labels)
    modules = [m for m in all_modules if m.n_units > 0]
    writes_ev, writes_ho = module_writes(model, boards_ev, modules), module_writes(model, boards_ho, modules)
    flows = interface_flows(model, graph, labels, modules, cuts, writes_ev, writes_ho, table_ev, table_ho)
    means = mean_activations(model, boards_ev[:256])
    evidences, act_ev, act_ho, activations = [], {}, {}, {}
    with Progress(disable=not show_progress, transient=True) as bar:
        task = bar.add_task("collecting evidence", total=len(modules))
        for m in modules:
            act = ModuleActivation().fit(total_write(writes_ev[m.name]))
            act_ev[m.name], act_ho[m.name] = act.transform(total_write(writes_ev[m.name])), act.transform(total_write(writes_ho[m.name]))
            activations[m.name] = act

            def activation_fn(b, m=m, act=act):
                return act.transform(total_write(module_writes(model, b, [m])[m.name]))

            def outputs_fn(b, ablate, m=m):
                if not ablate:
                    return model_outputs(model, b)
                with ablated(model, m, means):
                    return model_outputs(model, b)

            evidences.append(build_evidence(m.name, m.summary(), spec, boards_ev, act_ev[m.name], table_ev, activation_fn,
                                            outputs_fn, summaries_for(m.name, flows), cfg.n_attribution_boards, seed=cfg.seed,
                                            extra={"pc1_explained_variance": round(act.explained_variance_ratio_, 4)}))
            bar.advance(task)
    describers: list[Any] = [ConceptDescriber()] + ([LLMDescriber(llm)] if llm is not None else [])
    results: dict[str, Any] = {}
    for describer in describers:
        descriptions, report = describer.describe(evidences, table_ev)
        scores = score_descriptions(descriptions, act_ev, act_ho, table_ev, table_ho, cfg.top_fraction, cfg.seed)
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
