"""Interfaces between modules: min cut, main edges, and what flows (the concept best decoded from what the
upstream module writes, as the downstream module reads it), with its held-out probe R^2.

For a BoardTransformer the signal from module A to module B is A's write into the residual stream at CLS
(from units in earlier positions than B's readers) multiplied by B's read matrices (LayerNorm gain times
W_in rows for neurons, [W_Q | W_K | W_V] for heads); LayerNorm's normalisation is left out (a linear view).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from modinterp.describe.evidence.records import InterfaceSummary
from modinterp.describe.predicates import ConceptTable
from modinterp.describe.evidence.transformer import ModuleUnits


def neuron_position(layer: int) -> int:
    """Residual position written by layer `layer`'s MLP (after its attention)."""
    return 2 * layer + 2


def head_position(layer: int) -> int:
    """Residual position written by layer `layer`'s attention heads."""
    return 2 * layer + 1


@torch.no_grad()
def read_matrices(model, module: ModuleUnits) -> list[tuple[int, np.ndarray]]:
    """[(residual position, (d_model, k) read matrix)] for the module's neuron and head groups."""
    out = []
    for i, ids in sorted(module.neurons.items()):
        block = model.blocks[i]
        w = block.ln2.weight[:, None] * block.mlp.W_in.weight[torch.as_tensor(ids, device=block.mlp.W_in.weight.device)].T
        out.append((neuron_position(i), w.double().cpu().numpy()))
    for i, ids in sorted(module.heads.items()):
        block = model.blocks[i]
        idx = torch.as_tensor(ids, device=block.attn.W_Q.device)
        qkv = torch.cat([block.attn.W_Q[idx], block.attn.W_K[idx], block.attn.W_V[idx]], dim=-1)  # (h, d, 3 d_head)
        w = block.ln1.weight[:, None] * qkv.permute(1, 0, 2).reshape(qkv.shape[1], -1)
        out.append((head_position(i), w.double().cpu().numpy()))
    return out


def interface_signal(writes_by_position: dict[int, np.ndarray], readers: list[tuple[int, np.ndarray]]) -> np.ndarray | None:
    """What the downstream module reads of the upstream writes (B, sum k), or None when nothing is upstream."""
    parts = []
    for position, read in readers:
        upstream = [w for p, w in writes_by_position.items() if p < position]
        if upstream:
            parts.append(np.sum(upstream, axis=0) @ read)
    return np.concatenate(parts, axis=1) if parts else None


def ridge_r2(x_fit: np.ndarray, y_fit: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, alpha: float = 1.0,
             max_dims: int = 64) -> np.ndarray:
    """Held-out R^2 of ridge probes (one per column of y), inputs standardised and reduced to `max_dims`
    principal components of the fit split; closed form, all targets at once."""
    mu, sd = x_fit.mean(0), x_fit.std(0)
    sd[sd < 1e-12] = 1.0
    a, b = (x_fit - mu) / sd, (x_test - mu) / sd
    if a.shape[1] > max_dims:
        _, _, vt = np.linalg.svd(a, full_matrices=False)
        a, b = a @ vt[:max_dims].T, b @ vt[:max_dims].T
    ym = y_fit.mean(0)
    w = np.linalg.solve(a.T @ a + alpha * len(a) * 1e-3 * np.eye(a.shape[1]), a.T @ (y_fit - ym))
    pred = b @ w + ym
    ss_res = ((y_test - pred) ** 2).sum(0)
    ss_tot = ((y_test - y_test.mean(0)) ** 2).sum(0)
    return np.where(ss_tot > 1e-12, 1.0 - ss_res / np.maximum(ss_tot, 1e-12), np.nan)


@dataclass
class InterfaceFlow:
    """What flows from `upstream` to `downstream`: min cut, main edges, best decoded concept and its R^2."""
    upstream: str
    downstream: str
    cut_weight: float
    main_edges: list[str]
    concept: str | None
    r2: float | None

    def sentence(self, table: ConceptTable) -> str:
        """The interface in one sentence, with the concept's meaning."""
        if self.concept is None:
            return f"{self.upstream} -> {self.downstream}: min cut {self.cut_weight:.3g}; no upstream signal reaches it."
        return (f"{self.upstream} -> {self.downstream} (min cut {self.cut_weight:.3g}): passes {table.meaning(self.concept)} "
                f"[{self.concept}], decoded from what {self.downstream} reads of {self.upstream} with held-out probe R2 = {self.r2:.2f}.")

    def to_json(self) -> dict:
        """The flow as written to descriptions.json."""
        return dict(self.__dict__)


def main_edges(graph, labels: np.ndarray, a: int, b: int, top: int = 3) -> list[str]:
    """The `top` heaviest weight-graph edges joining modules a and b, as 'node - node (capacity)'."""
    la, lb = labels[graph.edges[:, 0]], labels[graph.edges[:, 1]]
    between = np.flatnonzero(((la == a) & (lb == b)) | ((la == b) & (lb == a)))
    order = between[np.argsort(-graph.capacities[between], kind="stable")][:top]
    names = graph.nodes.name
    return [f"{names[graph.edges[e, 0]]} - {names[graph.edges[e, 1]]} ({graph.capacities[e]:.3g})" for e in order]


def interface_flows(model, graph, labels: np.ndarray, modules: list[ModuleUnits], min_cuts: dict[tuple[int, int], float],
                    writes_ev: dict[str, dict[int, np.ndarray]], writes_ho: dict[str, dict[int, np.ndarray]],
                    table_ev: ConceptTable, table_ho: ConceptTable) -> list[InterfaceFlow]:
    """One InterfaceFlow per ordered pair (upstream, downstream) of modules joined by a positive min cut."""
    label_of = {m.name: int(m.name[1:]) for m in modules}
    flows = []
    for up in modules:
        for down in modules:
            if up is down:
                continue
            cut = min_cuts.get((label_of[up.name], label_of[down.name]), 0.0)
            if not cut > 0:
                continue
            readers = read_matrices(model, down)
            sig_ev = interface_signal(writes_ev[up.name], readers)
            if sig_ev is None:
                continue  # `up` has nothing upstream of `down`'s readers: the flow goes the other way
            sig_ho = interface_signal(writes_ho[up.name], readers)
            r2 = ridge_r2(sig_ev, table_ev.values, sig_ho, table_ho.values)
            j = int(np.nanargmax(r2)) if np.isfinite(r2).any() else None
            edges = main_edges(graph, labels, label_of[up.name], label_of[down.name])
            flows.append(InterfaceFlow(up.name, down.name, float(cut), edges, table_ev.names[j] if j is not None else None,
                                       round(float(r2[j]), 4) if j is not None else None))
    return flows


def summaries_for(module: str, flows: list[InterfaceFlow]) -> list[InterfaceSummary]:
    """The module's view of its interfaces (for evidence and cards)."""
    out = []
    for f in flows:
        if f.upstream == module:
            out.append(InterfaceSummary(f.downstream, "to", f.cut_weight, f.main_edges, f.concept, f.r2))
        elif f.downstream == module:
            out.append(InterfaceSummary(f.upstream, "from", f.cut_weight, f.main_edges, f.concept, f.r2))
    return sorted(out, key=lambda s: -s.cut_weight)
