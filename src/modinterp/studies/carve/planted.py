"""The carve study's planted check: networks whose modules are trained to compute known concepts; every
describer must name them (top-1), beside the random-concept chance baseline of the same call.

Each planted network is a `modinterp.models.MLP` [cells, k*h, k*h, k] whose hidden->hidden and
hidden->output weights are block-diagonal (masked), so it is exactly k modules; module j's output unit is
trained on concept feature j (z-scored) of the library. A module's activation is, as for any network, the first
principal component of what the module writes to the rest of the network: here its last hidden layer times its
outgoing weights (one output unit, so the describer sees the module's prediction, bias excluded).
Evidence and scoring positions come from disjoint sets of random games.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from modinterp.atomic import atomic_write_json
from modinterp.describe.describers import Description, make_describers
from modinterp.describe.evidence import EvidenceConfig, ModuleActivation, ModuleEvidence, build_evidence
from modinterp.describe.llm import LLMSettings
from modinterp.describe.predicates import ConceptTable
from modinterp.describe.scoring import mean_scores, score_descriptions
from modinterp.describe.subjects import Split
from modinterp.describe.subjects.board import BOARD_WORDS, BoardSubject
from modinterp.games import domineering as dom
from modinterp.models import MLP

DESCRIBERS = ("concept", "random-concept")  # the random concept is the chance baseline of top-1


@dataclass
class PlantedConfig:
    """The planted networks (board, count, modules each, width, training) and the games they see."""

    rows: int = 8
    cols: int = 8
    n_networks: int = 3
    modules_per_network: int = 8
    hidden: int = 48
    n_train_games: int = 3000
    n_evidence_games: int = 150
    n_heldout_games: int = 150
    positions_per_game: int = 20
    steps: int = 3000
    batch_size: int = 512
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    targets: list[str] = field(default_factory=list)  # empty: a seeded cover of the whole library


def sample_split(subject: BoardSubject, n_games: int, positions_per_game: int, seed: int) -> Split:
    """Boards of `n_games` random games (seed `seed`); game ids offset by `seed * 1e6` so splits drawn with
    different seeds never share an id."""
    split = subject.sample(n_games, positions_per_game, seed)
    return Split(split.inputs, split.groups + seed * 1_000_000)


def block_masks(k: int, h: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks for (hidden->hidden) and (hidden->output) weights: module j owns hidden units j*h..(j+1)*h."""
    owner = torch.arange(k * h) // h
    return (owner[:, None] == owner[None, :]).float(), (torch.arange(k)[:, None] == owner[None, :]).float()


def train_planted(spec: dom.BoardSpec, boards: np.ndarray, targets: np.ndarray, cfg: PlantedConfig, seed: int) -> tuple[MLP, list[float]]:
    """Train the block-diagonal MLP on z-scored targets (B, k); returns it and each module's training R^2."""
    k = targets.shape[1]
    gen = torch.Generator().manual_seed(seed)
    net = MLP([spec.n_cells, k * cfg.hidden, k * cfg.hidden, k], seed=seed)
    lin1, lin2, lin3 = net.linears()
    mask2, mask3 = block_masks(k, cfg.hidden)
    with torch.no_grad():
        lin2.weight.mul_(mask2)
        lin3.weight.mul_(mask3)
    x = torch.as_tensor(boards, dtype=torch.float32)
    y = torch.as_tensor((targets - targets.mean(0)) / np.maximum(targets.std(0), 1e-9), dtype=torch.float32)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    for _ in range(cfg.steps):
        idx = torch.randint(len(x), (cfg.batch_size,), generator=gen)
        loss = ((net(x[idx]) - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():  # keep the modules separate: cross-module weights stay exactly zero
            lin2.weight.mul_(mask2)
            lin3.weight.mul_(mask3)
    with torch.no_grad():
        resid = ((net(x) - y) ** 2).mean(0)
    return net.eval(), [float(1 - r) for r in resid]


def hidden_units(net: MLP, boards: np.ndarray, ablate: int | None = None, k: int = 0, h: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(last hidden layer activations (B, k*h), outputs (B, k)); `ablate` zeroes module `ablate`'s hidden units."""
    masks = None
    if ablate is not None:
        keep = (torch.arange(k * h) // h != ablate).float()
        masks = [keep, keep]
    lin1, lin2, lin3 = net.linears()
    with torch.no_grad():
        x = torch.as_tensor(np.asarray(boards), dtype=torch.float32)
        h1 = torch.relu(lin1(x)) * (masks[0] if masks else 1)
        h2 = torch.relu(lin2(h1)) * (masks[1] if masks else 1)
        return h2.numpy().astype(np.float64), lin3(h2).numpy().astype(np.float64)


@dataclass
class BlockMLPModuleRunner:
    """Module `j` of a planted network for evidence collection (a `ModuleRunner`): its activation is `pc1`
    applied to what its hidden units write to the output; ablating it zeroes its hidden units."""

    net: MLP
    j: int
    k: int
    h: int
    pc1: ModuleActivation
    name: str
    units: str

    def write(self, inputs: np.ndarray) -> np.ndarray:
        """What the module's last hidden units send to the output layer (B, k)."""
        w_out = self.net.linears()[2].weight.detach().numpy().astype(np.float64)
        sl = slice(self.j * self.h, (self.j + 1) * self.h)
        return hidden_units(self.net, inputs)[0][:, sl] @ w_out[:, sl].T

    def activation(self, inputs: np.ndarray) -> np.ndarray:
        """PC1 of the module's write on `inputs`."""
        return self.pc1.transform(self.write(inputs))

    def outputs(self, inputs: np.ndarray, ablate: bool) -> dict[str, np.ndarray]:
        """The network's outputs out0..out{k-1} on `inputs`, module `j` zeroed when `ablate`."""
        out = hidden_units(self.net, inputs, self.j if ablate else None, self.k, self.h)[1]
        return {f"out{i}": o for i, o in enumerate(out.T)}


@dataclass
class PlantedModule:
    """One planted module: its network, name, planted concept, fit, evidence and held-out activation."""

    network: int
    module: str
    target: str
    train_r2: float
    heldout_r2: float  # r^2 of the module's output with its target on held-out boards: does it compute it?
    evidence: ModuleEvidence
    activation_heldout: np.ndarray


def planted_target_lists(names: list[str], cfg: PlantedConfig) -> list[list[str]]:
    """The concepts planted in each network: a seeded shuffle of the library, repeated until every network is full."""
    rng = np.random.default_rng(cfg.seed)
    pool: list[str] = list(cfg.targets) if cfg.targets else []
    while len(pool) < cfg.n_networks * cfg.modules_per_network:
        pool += [names[i] for i in rng.permutation(len(names))]
    lists = []
    for n in range(cfg.n_networks):
        chunk = pool[n * cfg.modules_per_network:(n + 1) * cfg.modules_per_network]
        lists.append(list(dict.fromkeys(chunk)))  # no concept twice in one network
    return lists


def build_planted(cfg: PlantedConfig, progress=None) -> tuple[list[PlantedModule], ConceptTable, ConceptTable]:
    """Train the planted networks and collect evidence (evidence split) and activations (held-out split)."""
    subject = BoardSubject(dom.BoardSpec(cfg.rows, cfg.cols))
    train = sample_split(subject, cfg.n_train_games, cfg.positions_per_game, cfg.seed + 1)
    evidence = sample_split(subject, cfg.n_evidence_games, cfg.positions_per_game, cfg.seed + 2)
    heldout = sample_split(subject, cfg.n_heldout_games, cfg.positions_per_game, cfg.seed + 3)
    if np.intersect1d(evidence.groups, heldout.groups).size:
        raise AssertionError("planted evidence and held-out games overlap")
    train_table, ev_table, ho_table = (subject.concept_table(s.inputs) for s in (train, evidence, heldout))
    evidence_config = EvidenceConfig(n_attribution=64)
    modules: list[PlantedModule] = []
    for n, targets in enumerate(planted_target_lists(train_table.names, cfg)):
        cols = [train_table.names.index(t) for t in targets]
        net, r2 = train_planted(subject.spec, train.inputs, train_table.values[:, cols], cfg, seed=cfg.seed * 100 + n)
        k, h = len(targets), cfg.hidden
        _, ho_out = hidden_units(net, heldout.inputs)
        for j, target in enumerate(targets):
            runner = BlockMLPModuleRunner(net, j, k, h, ModuleActivation(), f"N{n}.M{j}",
                                          f"planted network {n}, module {j}: {h} hidden units")
            runner.pc1.fit(runner.write(evidence.inputs))
            ev = build_evidence(runner, subject, evidence.inputs, runner.activation(evidence.inputs), ev_table, evidence_config)
            r_out = np.corrcoef(ho_out[:, j], ho_table.column(target))[0, 1]
            heldout_r2 = float(r_out**2) if np.isfinite(r_out) else 0.0
            modules.append(PlantedModule(n, runner.name, target, r2[j], heldout_r2, ev, runner.activation(heldout.inputs)))
        if progress is not None:
            progress(n + 1)
    return modules, ev_table, ho_table


def planted_top1(modules: list[PlantedModule], descriptions: list, min_heldout_r2: float) -> dict[str, Any]:
    """Top-1: the fraction of modules whose description names the planted concept, over the modules whose
    network really computes it (held-out r^2 >= min_heldout_r2) and over all modules."""
    named = {d.module: d.concept for d in descriptions}
    hits = {m.module: named.get(m.module) == m.target for m in modules}
    counted = [m for m in modules if m.heldout_r2 >= min_heldout_r2]
    return {
        "top1_accuracy": round(float(np.mean([hits[m.module] for m in counted])), 4) if counted else None,
        "top1_accuracy_all_modules": round(float(np.mean(list(hits.values()))), 4) if hits else None,
        "n_counted": len(counted), "n_modules": len(modules), "n_described": len(named),
        "misses": [{"module": m.module, "target": m.target, "named": named.get(m.module), "heldout_r2": round(m.heldout_r2, 4),
                    "counted": m.heldout_r2 >= min_heldout_r2} for m in modules if not hits[m.module]],
    }


def run_planted_check(cfg: PlantedConfig, llm: LLMSettings | None = None, min_heldout_r2: float = 0.5,
                      show_progress: bool = True) -> dict[str, Any]:
    """Everything `bench/planted_descriptions.py` and `modinterp describe --planted` report, as JSON-ready data."""
    started = time.time()
    with Progress(disable=not show_progress, transient=True) as bar:
        task = bar.add_task("training planted networks", total=cfg.n_networks)
        modules, ev_table, ho_table = build_planted(cfg, progress=lambda done: bar.update(task, completed=done))
    build_s = time.time() - started
    evidences = [m.evidence for m in modules]
    act_ev = {m.module: m.evidence.activation for m in modules}
    act_ho = {m.module: m.activation_heldout for m in modules}
    describers = make_describers(DESCRIBERS, BOARD_WORDS, llm, cfg.seed)
    results: dict[str, Any] = {}
    descriptions_by: dict[str, list[Description]] = {}
    for describer in describers:
        t0 = time.time()
        descriptions, report = describer.describe(evidences, ev_table)
        scores = score_descriptions(descriptions, act_ev, act_ho, ev_table, ho_table, seed=cfg.seed)
        results[describer.name] = {**planted_top1(modules, descriptions, min_heldout_r2), "mean_scores": mean_scores(scores),
                                   "report": report.to_json(), "wall_s": round(time.time() - t0, 2)}
        descriptions_by[describer.name] = descriptions
    baseline = results["random-concept"]["top1_accuracy"] or 0.0
    for name, res in results.items():
        res["top1_ratio_to_random"] = round(res["top1_accuracy"] / baseline, 2) if baseline and res["top1_accuracy"] is not None else None
    return {
        "config": cfg.__dict__, "min_heldout_r2": min_heldout_r2, "n_modules": len(modules), "n_features": len(ev_table.names),
        "build_s": round(build_s, 2), "describers": results,
        "modules": [{"module": m.module, "target": m.target, "train_r2": round(m.train_r2, 4), "heldout_r2": round(m.heldout_r2, 4),
                     "descriptions": {k: next((d.text for d in v if d.module == m.module), None) for k, v in descriptions_by.items()}}
                    for m in modules],
    }


def planted_table(result: dict[str, Any]) -> list[tuple[str, ...]]:
    """Rows (describer, top-1, top-1 all, sim r, random-description r, shuffled r, detection, random, shuffled)."""
    rows = []
    for name, res in result["describers"].items():
        s = res["mean_scores"]

        def f(v):
            """A score with 3 decimals, '-' for None."""
            return "-" if v is None else f"{v:.3f}"
        rows.append((name, f(res["top1_accuracy"]), f(res["top1_accuracy_all_modules"]), f(s.get("simulation_r")),
                     f(s.get("random_description_simulation_r")), f(s.get("shuffled_simulation_r")), f(s.get("detection_bacc")),
                     f(s.get("random_description_detection_bacc")), f(s.get("shuffled_detection_bacc"))))
    return rows


PLANTED_HEADER = ("describer", "top1", "top1 (all)", "sim r", "  ctl: random desc", "  ctl: shuffled", "detect bacc",
                  "  ctl: random desc", "  ctl: shuffled")


def planted_rich_table(result: dict[str, Any]) -> Table:
    """`planted_table` for the terminal: a cell too wide for it folds onto more lines, never cut to '…'."""
    table = Table(title=f"planted check: {result['n_modules']} modules, {result['n_features']} library features")
    for col in PLANTED_HEADER:
        table.add_column(col, overflow="fold", no_wrap=False)
    for row in planted_table(result):
        table.add_row(*row)
    return table


def print_planted(result: dict[str, Any], misses: bool = False) -> None:
    """The planted table (describer, top-1, scores beside controls), and with `misses` every describer's misses."""
    Console().print(planted_rich_table(result))
    for name, res in result["describers"].items():
        if misses and res["misses"] and name != "random-concept":
            Console().print(f"{name} misses: " + "; ".join(f"{m['module']} {m['target']} -> {m['named']} (held-out r2 {m['heldout_r2']})" for m in res["misses"]))


def check_and_report(cfg: PlantedConfig, llm: LLMSettings | None, out_dir: str | Path) -> dict[str, Any]:
    """`modinterp describe --planted`: run the check, print its table, write `out_dir/planted.json`."""
    result = run_planted_check(cfg, llm)
    print_planted(result)
    print(f"wrote {atomic_write_json(Path(out_dir) / 'planted.json', result)}")
    return result
