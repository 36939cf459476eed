"""Training-step speed of BoardTransformer against a reference written the way the original wrote it.

Measures, in one run and on one thread (fp32, batch 64, 16x16 board): ms per optimizer step (forward + backward +
AdamW) of the `small` and `large` presets and of an original-style model of the same sizes (Python loop over heads,
each head its own Q/K/V/O parameters, explicit softmax, policy head on a (B, n_moves, 2d) concatenation); the
FLOP/s each achieves (matmul FLOPs counted analytically, backward = 2x forward) beside a plain fp32 matmul's;
and inference positions/s at batch 256.

On glibc Linux the bench first tells malloc to reuse freed memory (`modinterp.device.reuse_freed_memory`, as
the trainer does on CPU) so that neither model's time depends on allocation history: with glibc's adaptive mmap
threshold, large tensors are re-faulted page by page a varying number of times per step, and the reference's
step moved by 1.5x between runs (docs/model.md). `--system-malloc` keeps glibc's default.

    .venv/bin/python bench/train_step.py [--quick] [--json OUT] [--device cuda --batch 256] [--compile]
    .venv/bin/python bench/train_step.py --system-malloc     # glibc's default allocator behaviour
    .venv/bin/python bench/train_step.py --profile large      # where one step of ours spends its time

On CUDA the step runs under bf16 autocast (modinterp.device.autocast) and the matmul baseline is bf16.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from modinterp.device import autocast, pick_device, reuse_freed_memory
from modinterp.models import TransformerConfig, build_model, masked_policy_logits
from modinterp.models.config import board_tokens, move_cells_table


# The reference: the original's formulation, written here so both run on the same machine in the same run -------
class ReferenceHead(nn.Module):
    def __init__(self, d_model: int, d_head: int, g: torch.Generator):
        super().__init__()
        self.W_Q = nn.Parameter(torch.randn(d_model, d_head, generator=g) / math.sqrt(d_model))
        self.W_K = nn.Parameter(torch.randn(d_model, d_head, generator=g) / math.sqrt(d_model))
        self.W_V = nn.Parameter(torch.randn(d_model, d_head, generator=g) / math.sqrt(d_model))
        self.W_O = nn.Parameter(torch.randn(d_head, d_model, generator=g) / math.sqrt(d_head))
        self.scale = 1 / math.sqrt(d_head)

    def forward(self, x):
        q, k, v = x @ self.W_Q, x @ self.W_K, x @ self.W_V
        pattern = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        return (pattern @ v) @ self.W_O


class ReferenceBlock(nn.Module):
    def __init__(self, cfg: TransformerConfig, g: torch.Generator):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.heads = nn.ModuleList(ReferenceHead(cfg.d_model, cfg.d_head, g) for _ in range(cfg.n_heads))
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_mlp), nn.GELU(), nn.Linear(cfg.d_mlp, cfg.d_model))

    def forward(self, x):
        h = self.ln1(x)
        attn = 0
        for head in self.heads:  # the original's Python loop over heads
            attn = attn + head(h)
        x = x + attn
        return x + self.mlp(self.ln2(x))


class ReferenceTransformer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.state_embed = nn.Embedding(3, cfg.d_model)
        self.pos_embed = nn.Embedding(cfg.seq_len, cfg.d_model)
        g = torch.Generator().manual_seed(0)
        self.blocks = nn.ModuleList(ReferenceBlock(cfg, g) for _ in range(cfg.n_layers))
        self.ln_final = nn.LayerNorm(cfg.d_model)
        self.value_head = nn.Linear(cfg.d_model, 1)
        self.concept_head = nn.Linear(cfg.d_model, cfg.n_concepts)
        self.policy_head = nn.Sequential(nn.Linear(2 * cfg.d_model, cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, 1))
        self.register_buffer("move_cells", torch.from_numpy(move_cells_table(cfg.rows, cfg.cols)))

    def forward(self, tokens):
        x = self.state_embed(tokens) + self.pos_embed(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            x = block(x)
        x = self.ln_final(x)
        cls, cells = x[:, -1], x[:, :-1]
        pairs = torch.cat([cells[:, self.move_cells[:, 0]], cells[:, self.move_cells[:, 1]]], dim=-1)  # (B, M, 2d)
        return self.value_head(cls).squeeze(-1), self.policy_head(pairs).squeeze(-1), self.concept_head(cls)


# FLOP counts (matmuls only; elementwise work is not counted) --------------------------------------------------
def forward_flops(cfg: TransformerConfig, batch: int, policy_style: str) -> float:
    """Analytic matmul FLOPs of one forward pass; `policy_style` 'per_cell' (ours) or 'per_move' (original)."""
    tokens, width = cfg.seq_len, cfg.n_heads * cfg.d_head
    per_layer = 2 * tokens * (4 * cfg.d_model * width + 2 * cfg.d_model * cfg.d_mlp) + 4 * tokens**2 * width
    rows = cfg.n_cells if policy_style == "per_cell" else cfg.n_moves
    policy = 2 * rows * 2 * cfg.d_model * cfg.d_model + 2 * cfg.n_moves * cfg.d_model
    heads = 2 * cfg.d_model * (1 + cfg.n_concepts)
    return batch * (cfg.n_layers * per_layer + policy + heads)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_matmul(device: torch.device, calls: int = 4):
    """A plain square matmul workload (1024^3 fp32 on CPU, 8192^3 bf16 on CUDA), `calls` times: the practical peak.

    Returns (function, FLOPs per call of it). The bench times it interleaved with the training steps, so machine
    load moves the peak and the steps alike and "share of matmul" stays a same-moment ratio."""
    size = 1024 if device.type == "cpu" else 8192
    g = torch.Generator().manual_seed(0)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a, b = (torch.randn(size, size, generator=g).to(device, dtype) for _ in range(2))

    def matmuls():
        for _ in range(calls):
            a @ b
    return matmuls, calls * 2 * size**3


# Workload -----------------------------------------------------------------------------------------------------
def make_batch(cfg: TransformerConfig, batch: int, device: torch.device, seed: int = 0):
    rng = np.random.default_rng(seed)
    boards = (rng.random((batch, cfg.n_cells)) < 0.3).astype(np.uint8)
    tokens = torch.from_numpy(board_tokens(boards, cfg))
    legal = torch.from_numpy(rng.random((batch, cfg.n_moves)) < 0.5)
    policy = torch.from_numpy(rng.integers(0, cfg.n_moves, batch))
    legal[torch.arange(batch), policy] = True
    value = torch.from_numpy(rng.integers(0, 2, batch).astype(np.float32))
    concepts = torch.from_numpy(rng.normal(size=(batch, cfg.n_concepts)).astype(np.float32))
    return tuple(t.to(device) for t in (tokens, value, policy, legal, concepts))


def make_step(model: nn.Module, batch, device: torch.device):
    tokens, value, policy, legal, concepts = batch
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

    def step():
        with autocast(device):
            v, p, c = model(tokens)
        loss = (F.binary_cross_entropy_with_logits(v.float(), value)
                + 0.2 * F.cross_entropy(masked_policy_logits(p.float(), legal), policy)
                + 0.8 * F.mse_loss(c.float(), concepts))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def time_interleaved(steps: dict, warmup: int, repeats: int, device: torch.device,
                     faults: dict | None = None) -> dict[str, float]:
    """Median seconds per call of each function, calls interleaved so machine load hits all of them alike.

    `faults`, if given, receives each function's median count of minor page faults per call: on CPU, fresh
    tensors above glibc's (adaptive) mmap threshold are mapped and zero-filled page by page on every
    allocation, which is why a model's step time can move with allocation history (see docs/model.md)."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    synchronize(device)
    times = {name: [] for name in steps}
    counts = {name: [] for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            fn()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
            counts[name].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    if faults is not None:
        faults.update({name: statistics.median(c) for name, c in counts.items()})
    return {name: statistics.median(t) for name, t in times.items()}


def inference_positions_per_s(model: nn.Module, tokens: torch.Tensor, repeats: int, device: torch.device) -> float:
    def forward():
        with autocast(device):
            model(tokens)
    with torch.inference_mode():
        seconds = time_interleaved({"m": forward}, warmup=1, repeats=repeats, device=device)["m"]
    return len(tokens) / seconds


def run(quick: bool, device: torch.device, batch_size: int = 64, compile_model: bool = False,
        allocator: str = "system") -> dict:
    torch.set_num_threads(1)
    warmup, repeats = (1, 3) if quick else (2, 7)
    if device.type == "cuda":
        warmup, repeats = 5, 20
    rows, cols = 16, 16
    matmul, matmul_flop = plain_matmul(device)
    results = {"batch": batch_size, "board": f"{rows}x{cols}", "threads": 1,
               "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
               "precision": "fp32" if device.type == "cpu" else "bf16 autocast", "warmup": warmup,
               "repeats": repeats, "torch": torch.__version__, "allocator": allocator, "models": {}}
    for preset in ("small", "large"):
        ours = build_model(preset, rows, cols, seed=0).to(device)
        models = {"reference": (ReferenceTransformer(ours.config).to(device), "per_move"), "ours": (ours, "per_cell")}
        if compile_model:
            models["ours+compile"] = (torch.compile(build_model(preset, rows, cols, seed=0).to(device)), "per_cell")
        assert sum(p.numel() for p in models["reference"][0].parameters()) == ours.count_parameters()
        batch = make_batch(ours.config, batch_size, device)
        steps = {"matmul": matmul} | {name: make_step(model, batch, device) for name, (model, _) in models.items()}
        faults: dict[str, float] = {}
        seconds = time_interleaved(steps, warmup + 2 * compile_model, repeats, device, faults)
        peak = matmul_flop / seconds["matmul"]
        infer_tokens = make_batch(ours.config, 256, device, seed=1)[0]
        row = {"matmul_gflops": peak / 1e9}
        for name, (model, style) in models.items():
            flops = 3 * forward_flops(ours.config, batch_size, style)
            row[name] = {"ms_per_step": 1e3 * seconds[name], "gflop_per_step": flops / 1e9,
                         "gflops": flops / seconds[name] / 1e9, "fraction_of_matmul": flops / seconds[name] / peak,
                         "inference_positions_per_s": inference_positions_per_s(model, infer_tokens, repeats,
                                                                                device)}
            row[name]["speedup"] = seconds["reference"] / seconds[name]
            row[name]["minor_page_faults_per_step"] = faults[name]
        row["parameters"] = ours.count_parameters()
        results["models"][preset] = row
    return results


def profile_step(preset: str, device: torch.device, batch_size: int, rows: int = 10) -> str:
    """torch.profiler table (self time) of one training step of our model: where the time goes."""
    from torch.profiler import ProfilerActivity, profile
    torch.set_num_threads(1)
    model = build_model(preset, 16, 16, seed=0).to(device)
    step = make_step(model, make_batch(model.config, batch_size, device), device)
    for _ in range(3):  # let the allocator settle: the first steps fault in fresh pages
        step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        step()
        synchronize(device)
    key = "self_cpu_time_total" if device.type == "cpu" else "self_cuda_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows, max_name_column_width=50)


def print_table(results: dict) -> None:
    print(f"{results['device']} (one CPU thread for CPU work), {results['precision']}, batch {results['batch']}, board "
          f"{results['board']}, torch {results['torch']}, malloc: {results['allocator']}")
    print("plain matmul, timed between the steps: " + ", ".join(
        f"{preset} {row['matmul_gflops']:.1f} GFLOP/s" for preset, row in results["models"].items()))
    print(f"{'preset':<7}{'model':<14}{'ms/step':>10}{'GFLOP/step':>12}{'GFLOP/s':>9}{'of matmul':>11}"
          f"{'infer pos/s':>13}{'speedup':>9}{'faults/step':>13}")
    for preset, row in results["models"].items():
        for name, r in row.items():
            if isinstance(r, dict):
                print(f"{preset:<7}{name:<14}{r['ms_per_step']:>10.1f}{r['gflop_per_step']:>12.1f}{r['gflops']:>9.1f}"
                      f"{r['fraction_of_matmul']:>10.0%}{r['inference_positions_per_s']:>13.0f}{r['speedup']:>8.2f}x"
                      f"{r['minor_page_faults_per_step']:>13,.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (for development; noisier)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--batch", type=int, default=64, help="training batch size (default 64)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(model) (slow to compile)")
    parser.add_argument("--profile", metavar="PRESET", help="only print a torch.profiler table of one step of PRESET")
    parser.add_argument("--system-malloc", action="store_true",
                        help="keep glibc's default allocator (adaptive mmap threshold: page faults vary by run)")
    args = parser.parse_args(argv)
    allocator = "system" if args.system_malloc or not reuse_freed_memory() else "glibc, reuse freed memory"
    if args.profile:
        print(profile_step(args.profile, pick_device(args.device), args.batch))
        return 0
    results = run(args.quick, pick_device(args.device), args.batch, args.compile, allocator)
    print_table(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
