"""`modinterp describe`: describe and score every module of a trained run (or run the planted check)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import typer

from modinterp.describe.llm import LLMSettings, parse_extra_options
from modinterp.describe.llm.local_server import smollm2_settings
from modinterp.errors import ModinterpError


def describe_command(
    run_dir: Optional[Path] = typer.Argument(None, help="training run directory (final/model.safetensors + final/config.json)"),
    k: int = typer.Option(6, "--k", min=1, help="number of modules to cut from the Gomory-Hu tree"),
    partition: str = typer.Option("tree", help="tree (the Gomory-Hu tree, k modules), layers (one module per layer's heads/neurons) or masks (a modular model's modules by construction)"),
    activation: str = typer.Option("pc1", help="what each module's activation is: pc1 (of its write at CLS), value (its contribution to the value output) or move (to a given legal move's logit relative to the other legal moves, on board-move pairs)"),
    random_partitions: int = typer.Option(20, min=0, help="random partitions of the same module sizes every score stands beside"),
    out: Optional[Path] = typer.Option(None, help="output folder (default RUN_DIR/describe; --planted: runs/planted-descriptions)"),
    games: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="GameStore: evidence from its val split, scores on its test split (default: fresh random games)"),
    n_games: int = typer.Option(300, min=4, help="games per split when drawing random games"),
    seed: int = typer.Option(0, min=0),
    planted: bool = typer.Option(False, "--planted", help="run the planted check instead of describing a run"),
    quick: bool = typer.Option(False, "--quick", help="with --planted: one small network (about a minute)"),
    llm_base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1"),
    llm_model: Optional[str] = typer.Option(None, help="model name the endpoint serves"),
    llm_api_key_env: str = typer.Option("MODINTERP_LLM_API_KEY", help="environment variable holding the API key (never written anywhere)"),
    llm_cache: Path = typer.Option(Path("runs/llm-cache"), help="on-disk cache of LLM answers (a rerun makes no request)"),
    llm_extra: list[str] = typer.Option([], help="extra sampling option KEY=NUMBER sent to the server, e.g. repeat_penalty=1.3"),
    llm_concurrency: int = typer.Option(4, min=1, help="requests in flight at once"),
    llm_timeout: float = typer.Option(120.0, min=1.0, help="seconds per request"),
    llm_local: bool = typer.Option(False, "--llm-local", help="start the local SmolLM2 server (modinterp llm serve) for this run and describe with it too"),
) -> None:
    """Describe each module in words (offline ConceptDescriber; an LLM too when --llm-* is given) and score it."""
    if llm_local and (llm_base_url or llm_model):
        raise typer.BadParameter("--llm-local starts its own server; leave out --llm-base-url/--llm-model", param_hint="--llm-local")
    if bool(llm_base_url) != bool(llm_model):
        raise typer.BadParameter("--llm-base-url and --llm-model go together", param_hint="--llm-base-url/--llm-model")
    if not planted and run_dir is None:
        raise typer.BadParameter("give RUN_DIR (a training run) or --planted", param_hint="RUN_DIR")
    try:
        extra = parse_extra_options(llm_extra)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--llm-extra") from None
    try:
        llm = LLMSettings(base_url=llm_base_url, model=llm_model, api_key_env=llm_api_key_env, cache_dir=llm_cache,
                          extra_body=extra, concurrency=llm_concurrency, timeout_s=llm_timeout) if llm_base_url else None
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--llm-base-url/--llm-model") from None
    try:
        modules = {"k": k, "partition": partition, "activation": activation, "random_partitions": random_partitions}
        output = _describe_or_check(run_dir, out, planted, quick, modules, games, n_games, seed, llm, llm_local,
                                    (llm_cache, extra, llm_timeout, llm_api_key_env))
    except ValueError as err:  # the describe stages raise ValueError for inputs that do not fit (a 5x5 store, 4x4 model)
        raise ModinterpError(str(err)) from err
    if output is not None:
        exit_unless_all_described(output)


def _describe_or_check(run_dir, out, planted, quick, modules, games, n_games, seed, llm, llm_local, local_args):
    """Run the planted check (returns None) or describe the run (returns its output) with the chosen endpoint;
    `modules`: the DescribeConfig fields that say which modules and how they are read (k, partition, ...)."""
    # the studies import torch and the modularity stack (about 10 s on the 2-core dev machine, measured), which
    # every other `modinterp` command, and --help, would otherwise pay
    from modinterp.studies.carve.describe_run import DescribeConfig, describe_and_report
    from modinterp.studies.carve.planted import PlantedConfig, check_and_report

    endpoint = smollm2_settings(*local_args) if llm_local else nullcontext(llm)
    with endpoint as settings:  # other errors (endpoint, local server, run folder) end in one line at the CLI root
        if llm_local:
            typer.echo(f"local LLM at {settings.base_url}", err=True)
        if planted:
            cfg = PlantedConfig(seed=seed)
            if quick:
                cfg = PlantedConfig(seed=seed, n_networks=1, modules_per_network=6, n_train_games=1000, steps=1500)
            check_and_report(cfg, settings, out or Path("runs/planted-descriptions"))
            return None
        cfg = DescribeConfig(n_games=n_games, seed=seed, games=str(games) if games else None, **modules)
        return describe_and_report(run_dir, out, cfg, settings)

def exit_unless_all_described(output: dict) -> None:
    """Exit with status 1, naming the describer and the count, when any describer left a module undescribed."""
    short = [(name, res["report"]["n_described"], res["report"]["n_modules"]) for name, res in output["describers"].items()
             if res["report"]["n_described"] < res["report"]["n_modules"]]
    for name, described, total in short:
        typer.secho(f"error: {name} described {described} of {total} modules; the reasons are in descriptions.json "
                    f"(describers.{name}.report)", err=True, fg="red")
    if short:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add `modinterp describe` to the app."""
    app.command("describe")(describe_command)
