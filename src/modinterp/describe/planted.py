"""Planted check: networks whose modules are trained to compute known concepts; a describer must name them.

Each planted network is a `modinterp.models.MLP` [cells, k*h, k*h, k] whose hidden->hidden and
hidden->output weights are block-diagonal (masked), so it is exactly k modules; module j's output unit is
trained on concept feature j (z-scored) of the library. A module's activation is, as for any network, the first
principal component of what the module writes to the rest of the network: here its last hidden layer times its
outgoing weights (one output unit, so the describer sees the module's prediction, bias excluded).
Evidence and scoring positions come from disjoint sets of random games.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from modinterp.describe.activation import ModuleActivation
from modinterp.describe.board_concepts import concept_table
from modinterp.describe.evidence import build_evidence
from modinterp.describe.module_evidence import ModuleEvidence
from modinterp.describe.predicates import ConceptTable
from modinterp.games import domineering as dom
from modinterp.games.players import random_games
from modinterp.models import MLP


@dataclass
class PlantedConfig:
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


def sample_boards(spec: dom.BoardSpec, n_games: int, positions_per_game: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boards at uniformly drawn plies of `n_games` random games, and the game id of each board."""
    games = random_games(spec, n_games, seed=seed)
    rng = np.random.default_rng(seed)
    game = np.repeat(np.arange(n_games), positions_per_game)
    ply = (rng.random(len(game)) * (games.lengths[game].astype(np.int64) + 1)).astype(np.int64)
    return dom.replay_boards(spec, games.moves, game, ply), game + seed * 1_000_000


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
class PlantedModule:
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
    spec = dom.BoardSpec(cfg.rows, cfg.cols)
    train_boards, _ = sample_boards(spec, cfg.n_train_games, cfg.positions_per_game, cfg.seed + 1)
    ev_boards, ev_games = sample_boards(spec, cfg.n_evidence_games, cfg.positions_per_game, cfg.seed + 2)
    ho_boards, ho_games = sample_boards(spec, cfg.n_heldout_games, cfg.positions_per_game, cfg.seed + 3)
    if np.intersect1d(ev_games, ho_games).size:
        raise AssertionError("planted evidence and held-out games overlap")
    train_table, ev_table, ho_table = (concept_table(spec, b) for b in (train_boards, ev_boards, ho_boards))
    modules: list[PlantedModule] = []
    for n, targets in enumerate(planted_target_lists(train_table.names, cfg)):
        cols = [train_table.names.index(t) for t in targets]
        net, r2 = train_planted(spec, train_boards, train_table.values[:, cols], cfg, seed=cfg.seed * 100 + n)
        k, h = len(targets), cfg.hidden
        ev_hidden, _ = hidden_units(net, ev_boards)
        ho_hidden, ho_out = hidden_units(net, ho_boards)
        w_out = net.linears()[2].weight.detach().numpy().astype(np.float64)
        for j, target in enumerate(targets):
            sl = slice(j * h, (j + 1) * h)
            write = w_out[:, sl].T  # (h, k): module j's units -> the units it writes to
            act = ModuleActivation().fit(ev_hidden[:, sl] @ write)

            def activation_fn(b, sl=sl, act=act, write=write):
                return act.transform(hidden_units(net, b)[0][:, sl] @ write)

            def outputs_fn(b, ablate, j=j):
                return {f"out{i}": o for i, o in enumerate(hidden_units(net, b, j if ablate else None, k, h)[1].T)}

            name = f"N{n}.M{j}"
            evidence = build_evidence(name, f"planted network {n}, module {j}: {h} hidden units", spec, ev_boards,
                                      act.transform(ev_hidden[:, sl] @ write), ev_table, activation_fn, outputs_fn, n_attribution_boards=64)
            r_out = np.corrcoef(ho_out[:, j], ho_table.column(target))[0, 1]
            heldout_r2 = float(r_out**2) if np.isfinite(r_out) else 0.0
            modules.append(PlantedModule(n, name, target, r2[j], heldout_r2, evidence, act.transform(ho_hidden[:, sl] @ write)))
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
