"""`modinterp describe`: describe and score every module of a trained run (or run the planted check)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _llm_settings(base_url: Optional[str], model: Optional[str], key_env: str, cache: Path, extra: list[str],
                  concurrency: int, timeout: float, prompt_examples: int = 6):
    if not base_url and not model:
        return None
    if not (base_url and model):
        raise typer.BadParameter("--llm-base-url and --llm-model go together", param_hint="--llm-base-url/--llm-model")
    from modinterp.describe.llm import LLMSettings

    options = {}
    for item in extra:
        key, sep, value = item.partition("=")
        try:
            options[key] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise typer.BadParameter(f"{item!r}: expected KEY=NUMBER such as repeat_penalty=1.3", param_hint="--llm-extra")
    return LLMSettings(base_url=base_url, model=model, api_key_env=key_env, cache_dir=cache, extra_body=options,
                       concurrency=concurrency, timeout_s=timeout, prompt_examples=prompt_examples)


def describe_command(
    run_dir: Optional[Path] = typer.Argument(None, help="training run directory (final/model.safetensors + final/config.json)"),
    k: int = typer.Option(6, "--k", min=1, help="number of modules to cut from the Gomory-Hu tree"),
    partition: str = typer.Option("gh", help="gh (Gomory-Hu tree, k modules) or layers (one module per layer's heads/neurons)"),
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
    if llm_local:
        from modinterp.describe.local_llm import SMOLLM2_ALIAS, SMOLLM2_EXTRA, SMOLLM2_PROMPT_EXAMPLES, LocalLLMError, LocalLLMServer

        server = LocalLLMServer()
        try:
            server.start()
        except LocalLLMError as err:
            typer.secho(f"error: {err}", err=True, fg="red")
            raise typer.Exit(code=1) from None
        typer.echo(f"local LLM at {server.base_url}", err=True)
        extra = [f"{k}={v}" for k, v in SMOLLM2_EXTRA.items()] + list(llm_extra)
        try:
            _run(run_dir, k, partition, out, games, n_games, seed, planted, quick,
                 _llm_settings(server.base_url, SMOLLM2_ALIAS, llm_api_key_env, llm_cache, extra, 1, llm_timeout,
                               SMOLLM2_PROMPT_EXAMPLES))
        finally:
            server.stop()
        return
    llm = _llm_settings(llm_base_url, llm_model, llm_api_key_env, llm_cache, llm_extra, llm_concurrency, llm_timeout)
    _run(run_dir, k, partition, out, games, n_games, seed, planted, quick, llm)


def _run(run_dir, k, partition, out, games, n_games, seed, planted, quick, llm) -> None:
    from modinterp.atomic import atomic_write_json
    from modinterp.describe.llm import LLMEndpointError

    try:
        if planted:
            from rich.console import Console
            from rich.table import Table

            from modinterp.describe.planted import PlantedConfig
            from modinterp.describe.planted_check import PLANTED_HEADER, planted_table, run_planted_check

            cfg = PlantedConfig(seed=seed)
            if quick:
                cfg = PlantedConfig(seed=seed, n_networks=1, modules_per_network=6, n_train_games=1000, steps=1500)
            result = run_planted_check(cfg, llm)
            table = Table(title="planted check")
            for col in PLANTED_HEADER:
                table.add_column(col)
            for row in planted_table(result):
                table.add_row(*row)
            Console(width=160).print(table)
            path = atomic_write_json((out or Path("runs/planted-descriptions")) / "planted.json", result)
            typer.echo(f"wrote {path}")
            return
        if run_dir is None:
            raise typer.BadParameter("give RUN_DIR (a training run) or --planted", param_hint="RUN_DIR")
        from modinterp.describe.pipeline import DescribeConfig, describe_run

        cfg = DescribeConfig(k=k, n_games=n_games, seed=seed, games=str(games) if games else None, partition=partition)
        output = describe_run(run_dir, out, cfg, llm)
    except (LLMEndpointError, FileNotFoundError, ValueError) as err:
        typer.secho(f"error: {err}", err=True, fg="red")
        raise typer.Exit(code=1) from None
    folder = out or Path(run_dir) / "describe"
    for name, res in output["describers"].items():
        s = res["mean_scores"]
        typer.echo(f"{name}: {res['report']['n_described']}/{res['report']['n_modules']} modules described; mean simulation r "
                   f"{s.get('simulation_r')} (random description {s.get('random_description_simulation_r')}, shuffled "
                   f"{s.get('shuffled_simulation_r')}); detection {s.get('detection_bacc')}")
        failures = len(res["report"].get("parse_failures", {})) + len(res["report"].get("request_failures", {}))
        if failures:
            typer.echo(f"  {failures} module(s) not described (see descriptions.json: report)")
    typer.echo(f"wrote {folder / 'descriptions.json'} and {folder / 'descriptions.html'}")


def register(app: typer.Typer) -> None:
    app.command("describe")(describe_command)
