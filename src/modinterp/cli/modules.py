"""`modinterp modules RUN_DIR_OR_CHECKPOINT [--k K]`: the module table and dendrogram of a trained network."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["register"]


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
        # Imported here: the study pulls in torch, numba and matplotlib, which took `import modinterp.cli` from
        # 1.2 s to 10 s (measured on a loaded 2-core machine); every other command would pay for it.
        from modinterp.studies.carve.modules import modules_of_run

        # a path without a model (ModelPathError) ends in one line at the CLI root, naming the file
        modules_of_run(path, k, top_k=top_k, backend=backend, n_jobs=jobs, views=views, out=out,
                       model_preset=model_preset, board=board)
