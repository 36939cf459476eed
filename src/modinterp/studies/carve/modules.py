"""The modules of a run: load a trained BoardTransformer, cut it into k modules, print the module table and
write modules.json (node names per module) and a dendrogram of the Gomory-Hu tree (`modinterp modules`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table
from scipy.cluster.hierarchy import dendrogram

from modinterp.atomic import atomic_write, atomic_write_json
from modinterp.errors import ModinterpError
from modinterp.modularity.cut import VIEWS, ModuleCut, cut_model
from modinterp.modularity.gomory_hu import GomoryHuTree
from modinterp.modularity.metrics import modularity_report
from modinterp.modularity.partition import linkage_matrix
from modinterp.models import BoardTransformer, TransformerConfig, build_model
from modinterp.train.checkpoint import load_model_weights

__all__ = ["modules_of_run", "load_checkpoint_model", "modules_summary", "ModelPathError"]


class ModelPathError(ModinterpError, ValueError):
    """The path given does not lead to a model (no weights, or no config to build the model from)."""


def modules_of_run(path: Path, k: int = 8, *, top_k: int | None = 16, backend: str = "gusfield", n_jobs: int = 1,
                   views: bool = False, out: Path | None = None, model_preset: str | None = None,
                   board: int | None = None, console: Console | None = None) -> dict:
    """Cut the model at `path` into k modules, print the table, write modules.json and dendrogram.png to `out`
    (default: <checkpoint folder>/modules); returns modules.json's content. `views`: read the modules as
    `ModularityLoss` does (densest sparse view whose tree holds k modules, one refinement pass)."""
    console = console or Console()
    model, folder = load_checkpoint_model(path, model_preset, board)
    options = {"views": VIEWS, "refine_passes": 1} if views else {}
    cut = cut_model(model, k, top_k=top_k or None, backend=backend, n_jobs=n_jobs, progress=True, **options)
    print_cut(console, cut, k, top_k or None)
    report = modularity_report(cut.graph, cut.labels)
    console.print(", ".join(f"{key} {value:.4g}" for key, value in report.items()))
    out_dir = out or folder / "modules"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_dendrogram(cut.tree, out_dir / "dendrogram.png", cut.labels)
    record = {"k": k, "top_k": top_k or None, "views": views, "metrics": report, "modules": modules_summary(cut)}
    atomic_write_json(out_dir / "modules.json", record)
    console.print(f"wrote {out_dir / 'dendrogram.png'} and {out_dir / 'modules.json'}")
    return record


def load_checkpoint_model(path: Path, model_preset: str | None = None,
                          board: int | None = None) -> tuple[BoardTransformer, Path]:
    """(model in eval mode, its folder) from a run dir (final/), a checkpoint dir (model.safetensors +
    config.json) or a .safetensors file (config.json beside it, else `model_preset` and `board`)."""
    path = Path(path)
    if path.is_dir() and (path / "final" / "model.safetensors").exists():
        path = path / "final"
    weights = path / "model.safetensors" if path.is_dir() else path
    if not weights.exists():
        raise ModelPathError(f"{weights} does not exist; expected a run directory (with final/model.safetensors),"
                             " a checkpoint directory or a .safetensors file")
    config_path = weights.parent / "config.json"
    if config_path.exists():
        config = json.loads(config_path.read_text())
        if "model" not in config:
            raise ModelPathError(f"{config_path}: no 'model' section; expected the trainer's run config")
        model = BoardTransformer(TransformerConfig.from_dict(config["model"]))
    elif model_preset and board:
        model = build_model(model_preset, board, board)
    else:
        raise ModelPathError(f"no config.json beside {weights}; pass --model-preset and --board")
    load_model_weights(model, weights)
    return model.eval(), weights.parent


def print_cut(console: Console, cut: ModuleCut, k: int, top_k: int | None) -> None:
    """The graph and tree line, the view line (view search only) and the module table."""
    graph, tree, info = cut.graph, cut.tree, cut.info
    console.print(f"graph: {graph.n_nodes} nodes, {graph.n_edges} edges (top_k={top_k}); tree "
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
    """One JSON-ready record per module: size, node kinds, node names, weights and min cuts."""
    out = []
    for m in cut.modules:
        kinds, counts = np.unique(cut.graph.nodes.kind[m.nodes], return_counts=True)
        out.append({"module": m.label, "size": m.size, "kinds": {str(k): int(c) for k, c in zip(kinds, counts)},
                    "internal_weight": m.internal_weight, "interface_weight": m.interface_weight,
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
