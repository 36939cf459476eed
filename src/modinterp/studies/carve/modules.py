"""The modules of a run: load a trained BoardTransformer, cut it into k modules, print the module table and
write modules.json (node names per module) and a dendrogram of the Gomory-Hu tree (`modinterp modules`).
With `ablation` (default), each module's mean-ablation effects beside random unit sets of the same size and
kinds (`modinterp.modularity.ablation`) go into modules.json and a dissociation table is printed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table
from scipy.cluster.hierarchy import dendrogram

from modinterp.atomic import atomic_write, atomic_write_json
from modinterp.describe.evidence.transformer import modules_from_labels
from modinterp.describe.subjects.board import BoardSubject
from modinterp.errors import ModinterpError
from modinterp.games import domineering as dom
from modinterp.modularity.ablation import (
    NO_UNITS_JSON, OUTPUTS, AblationData, ModuleImportance, dissociation_table, module_importance,
)
from modinterp.modularity.construct import ln_std_scaled
from modinterp.modularity.construct.board_transformer import construction_labels
from modinterp.modularity.cut import VIEWS, ModuleCut, cut_model
from modinterp.modularity.gomory_hu import GomoryHuTree
from modinterp.modularity.metrics import modularity_report
from modinterp.modularity.partition import linkage_matrix
from modinterp.models import BoardTransformer
from modinterp.train.checkpoint import ModelPathError, load_trained_model

__all__ = ["modules_of_run", "modules_summary", "ModelPathError", "AblationSettings",
           "ablation_data", "NONTRIVIAL_FRACTION"]

PARTITIONS = ("tree", "masks")  # where the modules come from: the Gomory-Hu tree, or a modular model's masks
NONTRIVIAL_FRACTION = 0.05  # a tree edge shows a module when its smaller side holds this share of the units
UNIT_KINDS = ("head", "neuron")  # the units counted: embedding rows and output units (split per residual slice in a
# modular model: 42% of its nodes) do not make a side a module


class PartitionError(ModinterpError, ValueError):
    """The partition asked for is unknown, or does not exist for this model (masks of a model without subspaces)."""


@dataclass
class AblationSettings:
    """Positions and controls of the ablation check: `n_games` games per split (reference: means and probes;
    scoring), `per_game` positions each, from the GameStore `games` (val / test splits) or fresh random games
    (seed `seed`); `n_random` random unit sets per module."""

    n_games: int = 100
    per_game: int = 8
    games: str | None = None
    seed: int = 0
    n_random: int = 20


def modules_of_run(path: Path, k: int = 8, *, top_k: int | None = 16, backend: str = "gusfield", n_jobs: int = 1,
                   views: bool = False, out: Path | None = None, model_preset: str | None = None,
                   board: int | None = None, console: Console | None = None,
                   ablation: AblationSettings | None = AblationSettings(), canonical: bool = False,
                   couplings: str = "all", partition: str = "tree", ln_std: AblationSettings | None = None) -> dict:
    """Cut the model at `path` into k modules, print the table, write modules.json and dendrogram.png to `out`
    (default: <checkpoint folder>/modules); returns modules.json's content. `views`: read the modules as
    `ModularityLoss` does (densest sparse view whose tree holds k modules, one refinement pass). `ablation`: the
    positions and controls of the mean-ablation check (None skips it). `canonical`: cut the graph of the
    canonical weights (heads balanced, LayerNorm gains folded; the ablation runs on the model as trained).
    `couplings`: the graph definition, "all" or "adjacent" (`construct.graph_of`; as `modularity.graph`).
    `partition`: "tree" (read off the Gomory-Hu tree) or "masks" (a modular model's modules by construction,
    `construction_labels`: the table, metrics and ablation of the masks' partition; the tree is still built and
    its non-trivial edges counted). `ln_std`: positions (their reference split) whose LayerNorm stds weigh the
    graph (`ln_std_scaled`: each gain divided by the std it divides by), so that scaling a normalised residual group
    cannot move the tree (construct/canonical.py); None: raw gains."""
    console = console or Console()
    model, folder = load_trained_model(path, model_preset=model_preset, board=board)
    options = {"views": VIEWS, "refine_passes": 1} if views else {}
    if partition not in PARTITIONS:
        raise PartitionError(f"--partition {partition}: expected one of {', '.join(PARTITIONS)}")
    if ln_std is not None and canonical:
        raise PartitionError("--canonical with --ln-std: balancing a head pairs its scaled reads with a W_O that carries "
                             "the residual group's free scale, so the graph would move with it; use one of the two")
    if partition == "masks" and not model.config.modular:
        raise PartitionError(f"--partition masks needs a model with per-module subspaces; {path} has n_modules="
                             f"{model.config.n_modules} (no masks): use --partition tree")
    positions = ablation_data(model, ablation) if ablation is not None else None
    graph_model = model
    if ln_std is not None:  # the ablation's positions when the settings are the same (the CLI's): built once
        graph_model = ln_std_scaled(model, (positions if ln_std == ablation else ablation_data(model, ln_std)).reference)
    tree_cut = cut_model(graph_model, k, top_k=top_k or None, canonical=canonical, couplings=couplings, backend=backend,
                         n_jobs=n_jobs, progress=True, **options)
    cut = tree_cut
    if partition == "masks":
        cut = replace(tree_cut, labels=construction_labels(model, tree_cut.graph.nodes))
    print_cut(console, cut, k, top_k or None)
    report = modularity_report(cut.graph, cut.labels)
    console.print(", ".join(f"{key} {value:.4g}" for key, value in report.items()))
    out_dir = out or folder / "modules"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_dendrogram(cut.tree, out_dir / "dendrogram.png", cut.labels)
    record = {"k": k, "top_k": top_k or None, "views": views, "canonical": canonical,
              "ln_std": False if ln_std is None else {k: v for k, v in asdict(ln_std).items() if k != "n_random"},
              "graph": couplings,
              "partition": partition,
              "metrics": report, "modules": modules_summary(cut),
              "tree_nontrivial_edges": cut.tree.nontrivial_edges(NONTRIVIAL_FRACTION,
                                                                 np.isin(cut.graph.nodes.kind, UNIT_KINDS)),
              "fallback_used": fallback_used(tree_cut)}
    if ablation is not None:
        record["ablation"] = ablate_modules(model, cut, ablation, positions, record["modules"], console)
    atomic_write_json(out_dir / "modules.json", record)
    console.print(f"wrote {out_dir / 'dendrogram.png'} and {out_dir / 'modules.json'}")
    return record


def fallback_used(cut: ModuleCut) -> bool:
    """True when a sparse view or the refinement pass, not the full graph's tree alone, chose the partition."""
    return cut.view_index is not None and (cut.info.get("view_top_k") is not None or cut.info.get("refined_nodes", 0) > 0)


def ablation_data(model: BoardTransformer, settings: AblationSettings) -> AblationData:
    """Reference and scoring positions (disjoint games), their legal moves and board concepts."""
    spec = dom.BoardSpec(model.config.rows, model.config.cols)
    subject = BoardSubject(spec)
    reference, scoring = subject.splits(settings.n_games, settings.per_game, settings.seed, settings.games)
    concepts_ref, concepts = subject.concept_table(reference.inputs), subject.concept_table(scoring.inputs)
    return AblationData(subject.tokens(model, reference.inputs), subject.tokens(model, scoring.inputs),
                        subject.legal(scoring.inputs),
                        {n: concepts_ref.column(n) for n in concepts_ref.names},
                        {n: concepts.column(n) for n in concepts.names})


def ablate_modules(model: BoardTransformer, cut: ModuleCut, settings: AblationSettings, data: AblationData,
                   records: list[dict], console: Console) -> dict:
    """Add each module's ablation effects to its record (in place), print the dissociation table; returns the
    settings and probe fits for modules.json."""
    units = modules_from_labels(cut.graph.nodes.name, cut.labels)
    with_units = [u for u in units if u.n_units > 0]
    results, probes = module_importance(model, with_units, data, settings.n_random,
                                        settings.seed)
    by_name = {r.name: r for r in results}
    for rec, unit in zip(records, units):
        result = by_name.get(unit.name)
        rec.update(result.to_json() if result else NO_UNITS_JSON)
    print_dissociation(console, results)
    return {**asdict(settings), "probe_r2": probes.r2, "probed_concepts": probes.names}


def print_dissociation(console: Console, results: list[ModuleImportance]) -> None:
    """Outputs (and the probed concepts some module beats its random sets on, or is specific to) x modules:
    effect / random p95, marked where the module is specific to the row (one column per module, so it fits)."""
    columns, rows = dissociation_table(results)
    shown = [i for i, c in enumerate(columns)
             if c in OUTPUTS or any(row[i] > 1 for row in rows) or any(c in r.specific_to for r in results)]
    table = Table(title="mean-ablation effect / 95th percentile of random unit sets (same size and kinds); > 1 beats; "
                        "* specific: moves it more than the other modules do, beyond every random partition")
    table.add_column("output or concept")
    for result in results:
        table.add_column(f"{result.name} ({result.n_units} units{', counts' if result.counts else ''})")
    for i in shown:
        table.add_row(columns[i], *(f"{row[i]:.2f}{' *' if columns[i] in r.specific_to else ''}"
                                    for r, row in zip(results, rows)))
    console.print(table)


def print_cut(console: Console, cut: ModuleCut, k: int, top_k: int | None) -> None:
    """The graph and tree line, the view line (view search only) and the module table."""
    graph, tree, info = cut.graph, cut.tree, cut.info
    console.print(f"graph ({graph.info.get('couplings', 'all')} couplings): {graph.n_nodes} nodes, "
                  f"{graph.n_edges} edges (top_k={top_k}); tree "
                  f"{tree.info['seconds']:.1f}s; singleton tree edges {100 * tree.singleton_fraction():.1f}%")
    if cut.view_index is not None:
        console.print(f"view: each unit's {info['view_top_k'] or 'all'} strongest edges per direction "
                      f"({info['trees_built']} trees tried); {info['refined_nodes']} nodes moved by refinement")
    table = Table(title=f"{cut.n_modules} modules (asked for {k})")
    for col in ("module", "size", "kinds", "internal", "interface", "weakest min cut to"):
        table.add_column(col)
    for rec in modules_summary(cut):
        weakest = min(rec["min_cut_to"].items(), key=lambda kv: kv[1], default=("-", float("nan")))
        table.add_row(str(rec["module"]), str(rec["size"]), ", ".join(f"{c} {n}" for n, c in rec["kinds"].items()),
                      f"{rec['internal_weight']:.3g}", f"{rec['interface_weight']:.3g}",
                      f"{weakest[1]:.3g} (module {weakest[0]})")
    console.print(table)


def modules_summary(cut: ModuleCut) -> list[dict]:
    """One JSON-ready record per module: size, node kinds, node names, weights and min cuts. `strongest_degree` is
    the largest weighted degree of its nodes. For one Gomory-Hu tree edge (u, v) to cut off exactly this module, its
    interface weight must be the min u-v cut, never heavier than cutting u or v alone: interface <= strongest_degree
    (and <= the strongest degree outside) is necessary for that, not sufficient. A module bordered by m tree edges
    needs only interface <= m x strongest_degree."""
    out = []
    degrees = cut.graph.degrees()
    for m in cut.modules:
        kinds, counts = np.unique(cut.graph.nodes.kind[m.nodes], return_counts=True)
        out.append({"module": m.label, "size": m.size, "kinds": {str(k): int(c) for k, c in zip(kinds, counts)},
                    "internal_weight": m.internal_weight, "interface_weight": m.interface_weight,
                    "strongest_degree": float(degrees[m.nodes].max()) if m.size else 0.0,
                    "min_cut_to": {str(k): v for k, v in m.min_cut_to.items()},
                    "nodes": [str(n) for n in cut.graph.nodes.name[m.nodes]]})
    return out


def write_dendrogram(tree: GomoryHuTree, path: Path, labels: np.ndarray) -> None:
    """The tree's module hierarchy as a PNG (merge height: -log10 conductance of the tree edge)."""
    z = linkage_matrix(tree)
    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    if len(z) and z[:, 2].max() > 0:
        dendrogram(z, ax=ax, truncate_mode="lastp", p=min(40, tree.n_nodes), no_labels=True, color_threshold=None)
    else:  # every merge at height 0 (singleton cuts only): nothing to draw, and matplotlib would warn
        ax.text(0.5, 0.5, "no hierarchy: every tree edge at conductance 1 (singleton cuts)", ha="center",
                va="center", transform=ax.transAxes)
    ax.set_ylabel("-log10 conductance of the tree edge")
    ax.set_title(f"Gomory-Hu module hierarchy ({tree.n_nodes} nodes, {int(labels.max()) + 1} modules cut)")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
