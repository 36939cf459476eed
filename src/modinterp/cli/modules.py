"""`modinterp modules RUN_DIR_OR_CHECKPOINT [--k K]`: the module table, dendrogram and ablation check of a
trained network."""

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
        ablation: bool = typer.Option(True, "--ablation/--no-ablation", help="mean-ablate every module beside "
                                                                             "random unit sets of its size and kinds"),
        games: Optional[Path] = typer.Option(None, "--games", help="GameStore (.npz) whose val/test games give the "
                                                                   "reference/scoring positions (default: random games)"),
        n_games: int = typer.Option(100, "--n-games", min=2, help="games per split for the ablation positions"),
        per_game: int = typer.Option(8, "--per-game", min=1, help="positions per game for the ablation"),
        n_random: int = typer.Option(20, "--n-random", min=20, help="random unit sets per module"),
        seed: int = typer.Option(0, "--seed", help="seed of the random games and the random unit sets"),
        canonical: bool = typer.Option(False, "--canonical", help="cut the graph of canonical weights (heads "
                                                                   "balanced, LayerNorm gains folded)"),
        ln_std: bool = typer.Option(False, "--ln-std", help="weigh the graph by what each reader's LayerNorm sees: "
                                                            "gains divided by the root mean variance of each group on "
                                                            "the reference positions (a normalised group's scale is "
                                                            "free; not with --canonical)"),
        graph: str = typer.Option("all", "--graph", help="unit pairs joined by an edge: all (every writer to every "
                                                         "later reader) or adjacent (next layer's readers only; "
                                                         "as modularity.graph in training)"),
        partition: str = typer.Option("tree", "--partition", help="tree (read off the Gomory-Hu tree) or masks (a "
                                                                  "modular model's modules by construction, "
                                                                  "n_modules > 1: ablated beside the same random sets)"),
    ) -> None:
        """Cut a trained BoardTransformer into modules: prints the module table and each module's mean-ablation
        effects beside random unit sets of its size and kinds, writes a dendrogram PNG and modules.json."""
        # Imported here: the study pulls in torch, numba and matplotlib, which took `import modinterp.cli` from
        # 1.2 s to 10 s (measured on a loaded 2-core machine); every other command would pay for it.
        from modinterp.modularity.construct import COUPLINGS
        from modinterp.studies.carve.modules import AblationSettings, modules_of_run

        if graph not in COUPLINGS:
            raise typer.BadParameter(f"{graph!r}; expected one of {', '.join(COUPLINGS)}", param_hint="--graph")

        # a path without a model (ModelPathError) or a partition it lacks (PartitionError) ends in one line at the
        # CLI root
        settings = AblationSettings(n_games, per_game, str(games) if games else None, seed, n_random)
        modules_of_run(path, k, top_k=top_k, backend=backend, n_jobs=jobs, views=views, out=out,
                       model_preset=model_preset, board=board, ablation=settings if ablation else None,
                       canonical=canonical, couplings=graph, partition=partition, ln_std=settings if ln_std else None)
