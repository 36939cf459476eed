"""`modinterp modules RUN_DIR_OR_CHECKPOINT [--k K]`: the module table and dendrogram of a trained network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

__all__ = ["register", "load_model_for_modules", "modules_summary"]


def load_model_for_modules(path: Path, model_preset: str | None = None, board: int | None = None):
    """A BoardTransformer from a run dir (final/), a checkpoint dir (model.safetensors + config.json) or a
    .safetensors file (config.json beside it, else --model-preset and --board)."""
    from modinterp.models import BoardTransformer, TransformerConfig, build_model
    from modinterp.train.checkpoint import load_model_weights

    path = Path(path)
    if path.is_dir() and (path / "final" / "model.safetensors").exists():
        path = path / "final"
    weights = path / "model.safetensors" if path.is_dir() else path
    if not weights.exists():
        raise typer.BadParameter(f"{weights} does not exist; expected a run directory (with final/model.safetensors),"
                                 " a checkpoint directory or a .safetensors file")
    config_path = weights.parent / "config.json"
    if config_path.exists():
        config = json.loads(config_path.read_text())
        if "model" not in config:
            raise typer.BadParameter(f"{config_path}: no 'model' section; expected the trainer's run config")
        model = BoardTransformer(TransformerConfig.from_dict(config["model"]))
    elif model_preset and board:
        model = build_model(model_preset, board, board)
    else:
        raise typer.BadParameter(f"no config.json beside {weights}; pass --model-preset and --board")
    load_model_weights(model, weights)
    return model.eval(), weights.parent


def modules_summary(graph, labels, modules) -> list[dict]:
    """One JSON-ready record per module: size, node kinds, node names, weights and min cuts."""
    import numpy as np

    out = []
    for m in modules:
        kinds, counts = np.unique(graph.nodes.kind[m.nodes], return_counts=True)
        out.append({"module": m.label, "size": m.size, "kinds": {str(k): int(c) for k, c in zip(kinds, counts)},
                    "internal_weight": m.internal_weight, "interface_weight": m.interface_weight,
                    "min_cut_to": {str(k): v for k, v in m.min_cut_to.items()},
                    "nodes": [str(n) for n in graph.nodes.name[m.nodes]]})
    return out


def _write_dendrogram(tree, path: Path, labels) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.cluster.hierarchy import dendrogram

    from modinterp.atomic import atomic_write
    from modinterp.modularity.partition import linkage_matrix

    z = linkage_matrix(tree)
    fig, ax = plt.subplots(figsize=(10, 4))
    if len(z) and z[:, 2].max() > 0:
        dendrogram(z, ax=ax, truncate_mode="lastp", p=min(40, tree.n_nodes), no_labels=True, color_threshold=None)
    else:  # every merge at height 0 (singleton cuts only): nothing to draw, and matplotlib would warn
        ax.text(0.5, 0.5, "no hierarchy: every tree edge at conductance 1 (singleton cuts)", ha="center",
                va="center", transform=ax.transAxes)
    ax.set_ylabel("-log10 conductance of the tree edge")
    ax.set_title(f"Gomory-Hu module hierarchy ({tree.n_nodes} nodes, {int(labels.max()) + 1} modules cut)")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


def register(app: typer.Typer) -> None:
    @app.command("modules")
    def modules_command(
        path: Path = typer.Argument(..., help="run directory, checkpoint directory or model .safetensors file"),
        k: int = typer.Option(8, "--k", min=2, help="number of modules to cut the Gomory-Hu tree into"),
        top_k: Optional[int] = typer.Option(16, "--top-k", help="keep each unit's k strongest edges per direction "
                                                                 "(0 = the full virtual-weight graph)"),
        backend: str = typer.Option("gusfield", help="gusfield (numba), igraph or networkx"),
        jobs: int = typer.Option(1, "--jobs", min=1, help="threads for speculative parallel max-flows"),
        out: Optional[Path] = typer.Option(None, help="output folder (default: <checkpoint folder>/modules)"),
        model_preset: Optional[str] = typer.Option(None, help="model preset when no config.json is present"),
        board: Optional[int] = typer.Option(None, help="board side when no config.json is present"),
        views: bool = typer.Option(False, "--views", help="read modules as ModularityLoss does: from the densest "
                                                         "sparse view whose tree holds k modules, then one refinement "
                                                         "pass (docs/modularity.md, section 5)"),
    ) -> None:
        """Cut a trained BoardTransformer into modules: prints the module table, writes a dendrogram PNG and
        modules.json (node names per module)."""
        from rich.console import Console
        from rich.table import Table

        from modinterp.atomic import atomic_write_json
        from modinterp.modularity import (GomoryHuProvider, WeightGraph, gomory_hu_tree, modularity_report,
                                          module_table, partition)

        model, folder = load_model_for_modules(path, model_preset, board)
        graph = WeightGraph.from_model(model, top_k=top_k or None)
        tree = gomory_hu_tree(graph, backend=backend, n_jobs=jobs, progress=True)
        console = Console()
        console.print(f"graph: {graph.n_nodes} nodes, {graph.n_edges} edges (top_k={top_k or None}); tree "
                      f"{tree.info['seconds']:.1f}s; singleton tree edges {100 * tree.singleton_fraction():.1f}%")
        if views:
            provider = GomoryHuProvider(backend=backend, n_jobs=jobs)
            labels = provider(graph, k)
            info = provider.last_info_
            console.print(f"view: each unit's {info['view_top_k'] or 'all'} strongest edges per direction "
                          f"({info['trees_built']} trees tried); {info['refined_nodes']} nodes moved by refinement")
        else:
            labels = partition(tree, k=k, min_size=max(2, graph.n_nodes // (4 * k))).labels
        n_modules = int(labels.max()) + 1
        modules = module_table(graph, labels)
        table = Table(title=f"{n_modules} modules (asked for {k})")
        for col in ("module", "size", "kinds", "internal", "interface", "weakest min cut to"):
            table.add_column(col)
        for rec in modules_summary(graph, labels, modules):
            weakest = min(rec["min_cut_to"].items(), key=lambda kv: kv[1], default=("-", float("nan")))
            table.add_row(str(rec["module"]), str(rec["size"]), ", ".join(f"{c} {n}" for n, c in rec["kinds"].items()),
                          f"{rec['internal_weight']:.3g}", f"{rec['interface_weight']:.3g}",
                          f"{weakest[1]:.3g} (module {weakest[0]})")
        console.print(table)
        report = modularity_report(graph, labels)
        console.print(", ".join(f"{key} {value:.4g}" for key, value in report.items()))
        out_dir = out or folder / "modules"
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_dendrogram(tree, out_dir / "dendrogram.png", labels)
        atomic_write_json(out_dir / "modules.json", {"k": k, "top_k": top_k or None, "views": views, "metrics": report,
                                                      "modules": modules_summary(graph, labels, modules)})
        console.print(f"wrote {out_dir / 'dendrogram.png'} and {out_dir / 'modules.json'}")
