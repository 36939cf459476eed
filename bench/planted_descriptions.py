"""Planted check: do describers name the concept each module of a planted network was trained to compute?

Prints a table (top-1 per describer, held-out simulation/detection scores beside their controls) and writes
JSON with `top1_accuracy` per describer. The random-concept describer is the chance baseline of the same run.

    python bench/planted_descriptions.py [--quick] [--json OUT] [--llm-base-url URL --llm-model NAME]
"""

from __future__ import annotations

import argparse
import sys

from contextlib import nullcontext

from modinterp.atomic import atomic_write_json
from modinterp.describe.llm import LLMSettings, parse_extra_options
from modinterp.describe.llm.local_server import smollm2_settings
from modinterp.studies.carve.planted import PlantedConfig, print_planted, run_planted_check


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the planted check (with an LLM when asked), print the table, write JSON."""
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
    if bool(args.llm_base_url) != bool(args.llm_model):
        parser.error("--llm-base-url and --llm-model go together")
    try:
        extra = parse_extra_options(args.llm_extra)
    except ValueError as err:
        parser.error(str(err))
    llm = LLMSettings(base_url=args.llm_base_url, model=args.llm_model, cache_dir=args.llm_cache, extra_body=extra,
                      timeout_s=300.0) if args.llm_base_url else None
    with smollm2_settings(args.llm_cache, extra, timeout_s=300.0) if args.llm_local else nullcontext(llm) as settings:
        result = run_planted_check(cfg, settings)
    print_planted(result, misses=True)
    if args.json:
        atomic_write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
