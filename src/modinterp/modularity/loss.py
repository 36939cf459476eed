"""Modularity losses: plain callables `loss(model, step) -> Tensor` with a `.last_log` dict.

Any training loop adds them to its task loss:

    mod = ModularityLoss(lam=0.3, k=4, refresh_every=1000)
    total = task_loss + mod(model, step)        # mod.last_log: {"modularity/penalty": ..., ...}
    total.backward(); optimizer.step(); mod.after_step(model)   # after_step: keeps hardened weights at 0

`ModularityLoss` asks a partition provider (the Gomory-Hu tree by default) for k modules every
`refresh_every` steps (no gradient; the tree only *chooses* the partition, a min cut's gradient being the
indicator of its crossing edges) and in between penalises a scale-free function of the fixed partition:
the cross-module capacity fraction (default) or the fixed-partition n-cut, both homogeneous of degree 0 in
the weights, so shrinking all weights cannot lower them. Baselines behind the same interface: `L1Loss`,
`BIMTLoss` (Liu, Gan & Tegmark 2023 connection cost, without neuron swaps), `SpectralLoss` (Filan et al.).
"""

from __future__ import annotations

import time
from typing import Callable, Protocol

import numpy as np
import torch

from modinterp.modularity.construct import WeightBlock, block_set_of, blocks_of, check_couplings, graph_of
from modinterp.modularity.graph import WeightGraph
from modinterp.modularity.providers import GomoryHuProvider

__all__ = ["PartitionProvider", "ModularityLoss", "L1Loss", "BIMTLoss", "SpectralLoss"]


class PartitionProvider(Protocol):
    def __call__(self, graph: WeightGraph, k: int) -> np.ndarray:
        """Module label per graph node (>= 0)."""


class _WeightPenalty:
    """Shared plumbing: the model's weight blocks (built once per model) and the lam * penalty call."""

    name = "penalty"

    canonical = False  # build blocks from canonical (balanced, gain-folded) head weights; ModularityLoss option
    couplings = "all"  # which unit pairs are edges ("all" | "adjacent", construct.graph_of); ModularityLoss option

    def __init__(self, lam: float):
        if not lam >= 0:
            raise ValueError(f"lam={lam!r}: expected a non-negative float (loss weight)")
        self.lam = float(lam)
        self.last_log: dict[str, float] = {}
        self._model_id: int | None = None
        self._blocks: list[WeightBlock] = []
        self._nodes = None

    def _bind(self, model: torch.nn.Module) -> None:
        if self._model_id != id(model):
            self._nodes, self._blocks, _ = blocks_of(model, self.canonical, self.couplings)
            self._set = block_set_of(model, self._blocks, self.canonical, self.couplings)
            self._model_id = id(model)
            self._plain = all(getattr(b.capacity, "plain", False) for b in self._set.blocks)
            device = next(model.parameters()).device
            self._zero = torch.zeros((), device=device)
            valid = [np.ones((len(b.out_nodes), len(b.in_nodes)), bool) if v is None else v
                     for b, v in zip(self._set.blocks, self._set.valid)]
            flat = np.concatenate([v.reshape(-1) for v in valid])
            self._valid = None if flat.all() else torch.as_tensor(flat, dtype=torch.float32, device=device)
            self._set_valid = valid

    def _capacities(self) -> list[torch.Tensor]:
        """One capacity matrix per model block (per writer/reader pair for a transformer)."""
        return [b.capacity().float() for b in self._blocks]

    def _flat_capacities(self) -> torch.Tensor:
        """Every entry of the block set's capacities as one vector (entries that are not edges included; see
        `_valid`). When every block is a plain |W| (MLPs without normalisation) the weights are concatenated
        first and take one abs: fewer ops per step."""
        if self._plain:
            return torch.cat([b.capacity.linear.weight.reshape(-1) for b in self._set.blocks]).abs()
        return torch.cat([c.reshape(-1) for c in self._set.capacities()]).float()

    def _edge_sum(self, flat: torch.Tensor) -> torch.Tensor:
        """Sum of the capacities of real edges in a `_flat_capacities()` vector."""
        return flat.sum() if self._valid is None else torch.dot(self._valid, flat)

    def __call__(self, model: torch.nn.Module, step: int) -> torch.Tensor:
        self._bind(model)
        if self.skips(step):  # a constant zero: no ops to record, nothing to differentiate
            return self._zero
        penalty = self.penalty(model, step)
        weight = self.step_weight(step)
        value = penalty.item() * weight
        self.last_log[f"{self.name}/penalty"] = value
        self.last_log[f"{self.name}/loss"] = self.lam * value
        return penalty * (self.lam * weight)  # one multiply: on small nets every op's dispatch shows

    def skips(self, step: int) -> bool:
        """True on steps where the penalty is not applied (see `every` / `penalty_every` of subclasses)."""
        return False

    def step_weight(self, step: int) -> float:
        """The factor on `penalty` at this step, besides lam (e.g. N when applied every N-th step); 1 here."""
        return 1.0

    def penalty(self, model: torch.nn.Module, step: int) -> torch.Tensor:
        """The unweighted penalty (differentiable); `__call__` returns lam * step_weight(step) * this."""
        raise NotImplementedError

    def after_step(self, model: torch.nn.Module) -> None:
        """Call after optimizer.step(); a no-op except for hardened `ModularityLoss`."""


class L1Loss(_WeightPenalty):
    """lam * sum of all edge capacities |w| (normalisation gains folded in)."""

    name = "l1"

    def penalty(self, model, step):
        return self._edge_sum(self._flat_capacities())


class BIMTLoss(_WeightPenalty):
    """Connection cost: lam * sum |w_ij| (weight_factor * |x_i - x_j| + l0), units of each layer on [0, 1].

    Units are placed at evenly spaced positions by index within their layer (BIMT's 1-D layout); BIMT's
    swap step (re-ordering neurons to lower the cost) is not implemented.
    """

    name = "bimt"

    def __init__(self, lam: float, weight_factor: float = 1.0, l0: float = 0.1):
        super().__init__(lam)
        self.weight_factor, self.l0 = float(weight_factor), float(l0)
        self._distances: list[torch.Tensor] | None = None

    def penalty(self, model, step):
        caps = self._capacities()
        if self._distances is None or len(self._distances) != len(caps):
            pos = _line_positions(self._nodes.layer, self._nodes.index)
            self._distances = [torch.as_tensor(np.abs(pos[b.out_nodes][:, None] - pos[b.in_nodes][None, :]),
                                               dtype=torch.float32) for b in self._blocks]
        return sum((c * (self.weight_factor * d.to(c.device) + self.l0)).sum() for c, d in zip(caps, self._distances))


def _line_positions(layer: np.ndarray, index: np.ndarray) -> np.ndarray:
    counts = np.bincount(layer)
    span = np.maximum(counts[layer] - 1, 1)
    return np.where(counts[layer] > 1, index / span, 0.5)


class SpectralLoss(_WeightPenalty):
    """lam * sum of the k smallest eigenvalues of I - D^-1/2 A D^-1/2 (Filan et al.'s clusterability
    regulariser), differentiated through torch.linalg.eigh on the dense adjacency (small nets only).

    `every`: apply it on every N-th step only, scaled by N (Filan et al.'s `frequency`), as the
    eigendecomposition costs more than a small net's training step."""

    name = "spectral"

    def __init__(self, lam: float, k: int, eps: float = 1e-8, every: int = 1):
        super().__init__(lam)
        self.k, self.eps, self.every = int(k), float(eps), int(every)

    def skips(self, step: int) -> bool:
        return step % self.every != 0

    def step_weight(self, step: int) -> float:
        return float(self.every)

    def penalty(self, model, step):
        caps = self._capacities()
        n = len(self._nodes)
        adj = caps[0].new_zeros(n, n)
        for b, c in zip(self._blocks, caps):
            out_ids = torch.as_tensor(b.out_nodes, device=c.device)
            in_ids = torch.as_tensor(b.in_nodes, device=c.device)
            adj = adj.index_put((out_ids[:, None], in_ids[None, :]), c, accumulate=True)
        adj = adj + adj.T
        inv_sqrt = torch.rsqrt(adj.sum(1) + self.eps)
        lap = torch.eye(n, device=adj.device) - inv_sqrt[:, None] * adj * inv_sqrt[None, :]
        return torch.linalg.eigvalsh(lap.double())[: self.k].sum().float()


class ModularityLoss(_WeightPenalty):
    """lam * (cross-module capacity fraction | fixed-partition n-cut) of the provider's k-module partition.

    refresh_every: steps between partition refreshes (the provider runs at the first call after
    `warmup_steps` and then every K steps; during warm-up the loss is `warmup_l1` x sum |w|, 0 by default;
    after it the penalty's weight ramps linearly from 0 to lam over `ramp_steps`, so that early partitions,
    chosen while modules are still faint, can still change at the next refreshes).
    `penalty_every`: apply the penalty on every N-th step only, scaled by N (less overhead on small nets).
    harden_at / harden_threshold: from step `harden_at` on, crossing
    weights with |w| below `harden_threshold` x their block's mean |w| are set to 0 and kept there (only for
    blocks that are plain weight matrices, i.e. MLPs). `top_k`: sparsify the graph the provider sees.
    `canonical`: build the graph and the penalty from canonical weights (a BoardTransformer's heads balanced,
    LayerNorm gains folded; `construct/canonical.py`), so that rescalings that keep the function cannot lower
    the penalty. Off by default (runs stay bit-identical); differentiable where a head's singular values differ.
    `couplings`: the graph definition, "all" (default: every writer to every later reader) or "adjacent" (a
    BoardTransformer's units joined to the next layer's only; `construct/board_transformer.py`). The tree and the
    penalty use the same edges, so the partition is a min cut of the graph the loss acts on.
    """

    name = "modularity"

    def __init__(self, lam: float, k: int, refresh_every: int = 1000, provider: Callable | None = None,
                 form: str = "cross_fraction", warmup_steps: int = 0, harden_at: int | None = None,
                 harden_threshold: float = 0.1, top_k: int | None = None, warmup_l1: float = 0.0,
                 ramp_steps: int = 0, penalty_every: int = 1, canonical: bool = False, couplings: str = "all"):
        super().__init__(lam)
        self.canonical, self.couplings = bool(canonical), check_couplings(couplings)
        if form not in ("cross_fraction", "ncut"):
            raise ValueError(f"form={form!r}; expected 'cross_fraction' or 'ncut'")
        if refresh_every < 1 or k < 2:
            raise ValueError(f"refresh_every={refresh_every}, k={k}: expected refresh_every >= 1 and k >= 2")
        self.k, self.refresh_every, self.form = int(k), int(refresh_every), form
        self.provider = provider if provider is not None else GomoryHuProvider()
        self.warmup_steps, self.harden_at, self.harden_threshold = int(warmup_steps), harden_at, float(harden_threshold)
        self.top_k, self.warmup_l1, self.ramp_steps = top_k, float(warmup_l1), int(ramp_steps)
        if penalty_every < 1:
            raise ValueError(f"penalty_every={penalty_every}: expected a positive int (steps between penalties)")
        self.penalty_every = int(penalty_every)
        self.labels_: np.ndarray | None = None  # per full model node, -1 = not in the graph (dead unit)
        self.refresh_seconds_: list[float] = []
        self._last_refresh: int | None = None
        self._masks: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._hard_masks: list[torch.Tensor | None] = []

    def refresh(self, model: torch.nn.Module) -> np.ndarray:
        """Recompute the partition now (no gradient); returns labels over the model's full node list."""
        self._bind(model)
        start = time.perf_counter()
        graph = graph_of(model, top_k=self.top_k, canonical=self.canonical, couplings=self.couplings)
        node_labels = np.asarray(self.provider(graph, self.k), dtype=np.int64)
        labels = np.full(graph.n_source_nodes, -1, np.int64)
        labels[graph.source_ids] = node_labels
        self._use_partition(model, labels)
        seconds = time.perf_counter() - start
        self.refresh_seconds_.append(seconds)
        self.last_log["modularity/refresh_seconds"] = seconds
        self.last_log["modularity/n_modules"] = float(len(np.unique(node_labels)))  # matched labels may have gaps
        return labels

    def _use_partition(self, model: torch.nn.Module, labels: np.ndarray) -> None:
        """Penalise this partition from now on: the masks of crossing and counted edges."""
        self._bind(model)
        self.labels_ = labels = np.asarray(labels, dtype=np.int64)
        device = next(model.parameters()).device
        self._masks = []
        for b in self._blocks:
            lo = torch.as_tensor(labels[b.out_nodes], device=device)
            li = torch.as_tensor(labels[b.in_nodes], device=device)
            valid = (lo[:, None] >= 0) & (li[None, :] >= 0)
            self._masks.append((valid & (lo[:, None] != li[None, :]), valid, lo, li))
        # penalty = (crossing . caps) / (counted . caps) over the block set's flattened capacities;
        # counted = a real edge with both ends in the graph (None: every entry)
        crossing, counted = [], []
        for b, valid in zip(self._set.blocks, self._set_valid):
            lo, li = labels[b.out_nodes][:, None], labels[b.in_nodes][None, :]
            kept = valid & (lo >= 0) & (li >= 0)
            crossing.append((kept & (lo != li)).reshape(-1))
            counted.append(kept.reshape(-1))
        # (2, M) [crossing; counted]: one matrix-vector product gives both sums (and one gradient buffer in
        # backward instead of two)
        rows = np.stack([np.concatenate(crossing), np.concatenate(counted)])
        self._mask_rows = torch.as_tensor(rows, dtype=torch.float32, device=device)
        self._hard_masks = []

    def state_dict(self) -> dict:
        """What a resumed run needs to continue exactly as an uninterrupted one (JSON-serialisable): the current
        partition, when it was made, and the provider's warm-start view. Hardening masks are not included: a run
        resumed after `harden_at` recomputes them from its (already partly zeroed) weights."""
        return {"labels": None if self.labels_ is None else self.labels_.tolist(), "last_refresh": self._last_refresh,
                "refresh_seconds": list(self.refresh_seconds_), "last_log": dict(self.last_log),
                "provider_last_view": getattr(self.provider, "_last_view", None)}

    def load_state_dict(self, state: dict, model: torch.nn.Module) -> None:
        """Restore `state_dict()`'s output for `model` (whose weights are already restored)."""
        self.refresh_seconds_ = list(state.get("refresh_seconds", []))
        self._last_refresh = state.get("last_refresh")
        if hasattr(self.provider, "_last_view"):
            self.provider._last_view = state.get("provider_last_view")
        if state.get("labels") is not None:
            self._use_partition(model, np.asarray(state["labels"], dtype=np.int64))
            if hasattr(self.provider, "previous_"):  # what the next refresh matches / compares against
                self.provider.previous_ = self.labels_.copy()
        self.last_log = dict(state.get("last_log", {}))

    def skips(self, step: int) -> bool:
        """Steps off the penalty_every grid, and warm-up steps without an L1 term."""
        return step % self.penalty_every != 0 or (step < self.warmup_steps and self.warmup_l1 == 0)

    def step_weight(self, step: int) -> float:
        """penalty_every (applied on every N-th step only) x the warm-up L1's weight relative to lam, or x the
        ramp after warm-up."""
        if step < self.warmup_steps:
            return self.penalty_every * self.warmup_l1 / max(self.lam, 1e-30)
        return self.penalty_every * self._ramp(step)

    def penalty(self, model, step):
        if step < self.warmup_steps:  # optional L1 so that a sparse backbone forms for the first tree to read
            return self._edge_sum(self._flat_capacities())
        self._refresh_if_due(model, step)
        if self.form == "ncut":
            return self._ncut(self._capacities())
        cross, total = torch.mv(self._mask_rows, self._flat_capacities()).unbind()
        return cross / total.clamp_min(1e-30)

    def _refresh_if_due(self, model, step) -> None:
        """Refresh the partition if K steps have passed (or none was made yet); harden if due."""
        if self._last_refresh is None or step - self._last_refresh >= self.refresh_every:
            self.refresh(model)
            self._last_refresh = step
        else:
            self.last_log.pop("modularity/refresh_seconds", None)
        if self.harden_at is not None and step >= self.harden_at:
            self._harden()

    def _ramp(self, step: int) -> float:
        """The penalty's weight during the ramp after warm-up: (steps since warm-up + 1) / ramp_steps, at most 1."""
        return min(1.0, (step - self.warmup_steps + 1) / self.ramp_steps) if self.ramp_steps else 1.0

    def _ncut(self, caps: list[torch.Tensor]) -> torch.Tensor:
        k = int(self.labels_.max()) + 1
        cut = caps[0].new_zeros(k + 1)
        vol = caps[0].new_zeros(k + 1)
        for c, (cross, valid, lo, li) in zip(caps, self._masks):
            lo_, li_ = lo % (k + 1), li % (k + 1)  # label -1 (not in the graph) -> slot k, ignored
            crossing, kept = c * cross, c * valid
            cut = cut.index_add(0, lo_, crossing.sum(1)).index_add(0, li_, crossing.sum(0))
            vol = vol.index_add(0, lo_, kept.sum(1)).index_add(0, li_, kept.sum(0))
        return (cut[:k] / vol[:k].clamp_min(1e-30)).sum()

    @torch.no_grad()
    def _harden(self) -> None:
        if not self._hard_masks:
            for block, (cross, _, _, _) in zip(self._blocks, self._masks):
                weight = _block_weight(block)
                if weight is None:
                    self._hard_masks.append(None)
                    continue
                cap = block.capacity()
                small = cap < self.harden_threshold * cap.mean()
                self._hard_masks.append(cross & small)
            self.last_log["modularity/hardened_weights"] = float(sum(int(m.sum()) for m in self._hard_masks
                                                                     if m is not None))
        self.after_step(None)

    @torch.no_grad()
    def after_step(self, model) -> None:
        for block, mask in zip(self._blocks, self._hard_masks):
            if mask is not None:
                _block_weight(block).masked_fill_(mask, 0.0)


def _block_weight(block: WeightBlock) -> torch.Tensor | None:
    """The (out, in) weight parameter behind an MLP block (None for virtual-weight blocks)."""
    linear = getattr(block.capacity, "linear", None)
    return linear.weight if linear is not None else None
