"""Planted check: do describers name the concept each module of a planted network was trained to compute?

Prints a table (top-1 per describer, held-out simulation/detection scores beside their controls) and writes
JSON with `top1_accuracy` per describer. The random-concept describer is the chance baseline of the same run.

    python bench/planted_descriptions.py [--quick] [--json OUT] [--llm-base-url URL --llm-model NAME]
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from modinterp.atomic import atomic_write_json
from modinterp.describe.llm import LLMSettings
from modinterp.describe.planted import PlantedConfig
from modinterp.describe.planted_check import PLANTED_HEADER, planted_table, run_planted_check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--quick", action="store_true", help="1 network of 6 modules, short training (about a minute)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--llm-base-url", help="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--llm-model", help="the model name the endpoint serves")
    parser.add_argument("--llm-cache", default="runs/llm-cache", help="on-disk cache of LLM answers")
    parser.add_argument("--llm-extra", action="append", default=[], help="extra sampling option KEY=FLOAT, e.g. repeat_penalty=1.3")
    parser.add_argument("--llm-local", action="store_true", help="start the local SmolLM2 server (needs the local-llm extra)")
    args = parser.parse_args(argv)
    cfg = PlantedConfig(seed=args.seed)
    if args.quick:
        cfg = PlantedConfig(seed=args.seed, n_networks=1, modules_per_network=6, n_train_games=1000, steps=1500)
    llm = None
    server = None
    prompt_examples = 6
    if args.llm_local:
        from modinterp.describe.local_llm import SMOLLM2_ALIAS, SMOLLM2_EXTRA, SMOLLM2_PROMPT_EXAMPLES, LocalLLMServer

        prompt_examples = SMOLLM2_PROMPT_EXAMPLES

        server = LocalLLMServer().start()
        args.llm_base_url, args.llm_model = server.base_url, SMOLLM2_ALIAS
        args.llm_extra = [f"{k}={v}" for k, v in SMOLLM2_EXTRA.items()] + args.llm_extra
    if args.llm_base_url or args.llm_model:
        if not (args.llm_base_url and args.llm_model):
            parser.error("--llm-base-url and --llm-model go together")
        extra = {k: float(v) for k, v in (kv.split("=", 1) for kv in args.llm_extra)}
        llm = LLMSettings(base_url=args.llm_base_url, model=args.llm_model, cache_dir=args.llm_cache, extra_body=extra,
                          concurrency=1 if server else 4, timeout_s=300.0, prompt_examples=prompt_examples)
    try:
        result = run_planted_check(cfg, llm)
    finally:
        if server is not None:
            server.stop()
    table = Table(title=f"planted check: {result['n_modules']} modules, {result['n_features']} library features")
    for col in PLANTED_HEADER:
        table.add_column(col)
    for row in planted_table(result):
        table.add_row(*row)
    Console(width=160).print(table)
    for name, res in result["describers"].items():
        if res["misses"] and name != "random-concept":
            Console().print(f"{name} misses: " + "; ".join(f"{m['module']} {m['target']} -> {m['named']} (held-out r2 {m['heldout_r2']})" for m in res["misses"]))
    if args.json:
        atomic_write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
