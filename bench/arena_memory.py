"""Memory of a process that plays several value-lookahead matches in a row, with and without the cap on oneDNN's
per-shape kernel cache that `import modinterp` sets (ONEDNN_PRIMITIVE_CACHE_CAPACITY; modinterp/__init__.py).

    python bench/arena_memory.py [--games 100] [--matches 3] [--json OUT]

Each setting runs in a fresh process (the capacity is read once, when oneDNN first runs): the same matches between
two fresh cpu-large models (different seeds) with the allocator setting every model command uses
(`modinterp.device.reuse_freed_memory`). Prints the resident memory after each match and the wins, which must be
equal in both settings (the cache does not change outputs).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, os, sys
if sys.argv[1] != "default":
    os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] = sys.argv[1]
else:
    os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] = "1024"  # oneDNN's own default
import torch
from modinterp.device import reuse_freed_memory
from modinterp.games import domineering as dom
from modinterp.models import build_model
from modinterp.play.arena import network_agent, play_match
reuse_freed_memory()
torch.set_num_threads(1)
spec, rows = dom.BoardSpec(8, 8), []
a, b = (build_model("cpu-large", 8, 8, seed=s).eval() for s in (0, 1))
for i in range(int(sys.argv[3])):
    result = play_match(spec, network_agent(a, "value"), network_agent(b, "value"), int(sys.argv[2]), seed=i)
    rss = int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) // 1024
    rows.append({"match": i, "wins": result.wins, "rss_mb": rss})
print(json.dumps(rows))
"""


def run(capacity: str, games: int, matches: int) -> list[dict]:
    out = subprocess.run([sys.executable, "-c", CHILD, capacity, str(games), str(matches)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", type=int, default=100)
    parser.add_argument("--matches", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import modinterp

    result = {setting: run(capacity, args.games, args.matches)
              for setting, capacity in (("oneDNN default (1024)", "default"), ("modinterp", modinterp.ONEDNN_CACHE_CAPACITY))}
    for setting, rows in result.items():
        print(f"{setting}: RSS after each match " + ", ".join(f"{r['rss_mb']} MB" for r in rows)
              + "; wins " + ", ".join(str(r["wins"]) for r in rows))
    same = [r["wins"] for r in result["oneDNN default (1024)"]] == [r["wins"] for r in result["modinterp"]]
    print("same games in both settings:", same)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"games": args.games, "results": result, "same_wins": same}, indent=2))


if __name__ == "__main__":
    main()
