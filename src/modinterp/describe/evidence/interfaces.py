"""Interfaces between modules: min cut, main edges, and what flows (the concept best decoded from what the
upstream module writes, as the downstream module reads it), with its held-out probe R^2 beside the same concept read
through random readers of as many directions (the null: a reader that does not choose what it reads), and the best
concept once game phase is regressed out (so the dominant concept does not hide what else is carried).

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
from modinterp.describe.scoring import residualize
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


def thin_read(read: np.ndarray) -> np.ndarray:
    """A (d_model, k) read matrix as (d_model, r) left singular vectors times singular values, r its rank: x @ read
    and x @ thin_read(read) differ by an isometry (the right singular vectors), so they hold the same information in
    at most d_model columns instead of k (a layer's neurons: thousands)."""
    left, sv, _ = np.linalg.svd(read, full_matrices=False)
    rank = int((sv > sv[0] * 1e-10).sum()) if sv.size and sv[0] > 0 else 0
    return left[:, :rank] * sv[:rank]


def interface_signal(writes_by_position: dict[int, np.ndarray], readers: list[tuple[int, np.ndarray]]) -> np.ndarray | None:
    """What the downstream module reads of the upstream writes (B, at most d_model columns per reader; see
    `thin_read`), or None when nothing is upstream."""
    parts = [written @ thin_read(read) for _, written, read in _upstream_reads(writes_by_position, readers)]
    return np.concatenate(parts, axis=1) if parts else None


def _upstream_reads(writes_by_position: dict[int, np.ndarray], readers: list[tuple[int, np.ndarray]]):
    """(position, the upstream writes summed, read matrix) of each reader with something written before its
    position."""
    for position, read in readers:
        upstream = [w for p, w in writes_by_position.items() if p < position]
        if upstream:
            yield position, np.sum(upstream, axis=0), read


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


MIN_FLOW_R2 = 0.05  # a concept decoded below this held-out R^2 is not said to flow
N_RANDOM_READERS = 20  # random readers of as many directions that every flow's R^2 stands beside


def signal_ranks(writes_by_position: dict[int, np.ndarray], readers: list[tuple[int, np.ndarray]],
                 tol: float = 1e-8) -> list[tuple[int, int]]:
    """(position, rank) of what each reader reads of the upstream writes: the number of directions of them it reads
    (e.g. 1 per position through a bus of one dimension, however wide the reading module)."""
    ranks = []
    for position, written, read in _upstream_reads(writes_by_position, readers):
        part = written @ thin_read(read)
        # relative to the largest the signal could be (the writes' size times the read's gain), so that a reader
        # masked off the writes (a signal of rounding noise, or exactly zero) reads no direction
        scale = np.linalg.norm(written) * (np.linalg.norm(read, 2) if read.size else 0.0)
        sv = np.linalg.svd(part - part.mean(0), compute_uv=False) if part.size else np.zeros(0)
        ranks.append((position, int((sv > scale * tol).sum()) if scale > 0 else 0))
    return ranks


def random_readers(ranks: list[tuple[int, int]], d_model: int, rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    """Readers at the same positions that read as many directions of the residual stream (`signal_ranks`), chosen
    at random (standard normal): the null of an interface that reads without choosing what."""
    return [(position, rng.standard_normal((d_model, rank))) for position, rank in ranks]


@dataclass
class FlowReading:
    """What a probe reads from one interface signal: the best decoded concept with its held-out R^2, the same
    concept's R^2 through random readers (mean and 95th percentile), and the same beyond game phase (every concept
    with the phase regressed out, on each split)."""

    concept: str | None
    r2: float | None
    random_reader_r2: float | None = None
    random_reader_r2_p95: float | None = None
    concept_beyond_phase: str | None = None
    r2_beyond_phase: float | None = None
    random_reader_r2_beyond_phase: float | None = None
    random_reader_r2_beyond_phase_p95: float | None = None

    @property
    def carries(self) -> bool:
        """Whether some library concept is decoded at all (R^2 >= MIN_FLOW_R2)."""
        return self.r2 is not None and self.r2 >= MIN_FLOW_R2

    @property
    def beats_random_readers(self) -> bool | None:
        """Whether the interface carries its concept better than 95% of random readers of as many directions."""
        if self.r2 is None or self.random_reader_r2_p95 is None:
            return None
        return self.r2 > self.random_reader_r2_p95


def _best(r2: np.ndarray, names: list[str]) -> tuple[int | None, str | None, float | None]:
    if not np.isfinite(r2).any():
        return None, None, None
    j = int(np.nanargmax(r2))
    return j, names[j], round(float(r2[j]), 4)


def _summary(values: list[float]) -> tuple[float | None, float | None]:
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        return None, None
    return round(float(np.mean(finite)), 4), round(float(np.quantile(finite, 0.95)), 4)


def read_flow(signal: tuple[np.ndarray, np.ndarray], random_signals: list[tuple[np.ndarray, np.ndarray]],
              table: tuple[ConceptTable, ConceptTable], phase: tuple[np.ndarray, np.ndarray]) -> FlowReading:
    """Probe an interface signal (evidence, held-out) for every concept, raw and with game phase regressed out of
    both the signal and the concepts (on each split), and the best concept of each through the random readers'
    signals."""
    (sig_ev, sig_ho), (table_ev, table_ho) = signal, table
    beyond_ev, beyond_ho = residualize(table_ev.values, phase[0]), residualize(table_ho.values, phase[1])

    def without_phase(ev: np.ndarray, ho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return residualize(ev, phase[0]), residualize(ho, phase[1])

    j, concept, r2 = _best(ridge_r2(sig_ev, table_ev.values, sig_ho, table_ho.values), table_ev.names)
    rest_ev, rest_ho = without_phase(sig_ev, sig_ho)
    jb, concept_b, r2_b = _best(ridge_r2(rest_ev, beyond_ev, rest_ho, beyond_ho), table_ev.names)
    raw, beyond = [], []
    for rand_ev, rand_ho in random_signals:
        if j is not None:
            raw.append(float(ridge_r2(rand_ev, table_ev.values[:, [j]], rand_ho, table_ho.values[:, [j]])[0]))
        if jb is not None:
            rest_rand_ev, rest_rand_ho = without_phase(rand_ev, rand_ho)
            beyond.append(float(ridge_r2(rest_rand_ev, beyond_ev[:, [jb]], rest_rand_ho, beyond_ho[:, [jb]])[0]))
    return FlowReading(concept, r2, *_summary(raw), concept_b, r2_b, *_summary(beyond))


@dataclass
class InterfaceFlow:
    """What flows from `upstream` to `downstream`: min cut, main edges, and what a probe reads from the signal the
    downstream module reads of the upstream one (`FlowReading`)."""
    upstream: str
    downstream: str
    cut_weight: float
    main_edges: list[str]
    reading: FlowReading | None  # None: nothing upstream of the downstream readers

    @property
    def concept(self) -> str | None:
        """The concept said to flow: the best decoded one where it reaches MIN_FLOW_R2, else None."""
        return self.reading.concept if self.reading is not None and self.reading.carries else None

    @property
    def r2(self) -> float | None:
        """Its held-out R^2 (the best R^2 of any concept where none flows)."""
        return None if self.reading is None else self.reading.r2

    def sentence(self, table: ConceptTable) -> str:
        """The interface in one sentence: what flows beside what random readers of as many directions read, and what
        flows beyond game phase."""
        head = f"{self.upstream} -> {self.downstream} (min cut {self.cut_weight:.3g})"
        reading = self.reading
        if reading is None:
            return f"{head}: no upstream signal reaches it."
        controls = (f"random readers of as many directions: {reading.random_reader_r2:.2f} mean, "
                    f"{reading.random_reader_r2_p95:.2f} at the 95th percentile"
                    if reading.random_reader_r2 is not None else "no random readers")
        if not reading.carries:
            best = "no concept decoded" if reading.r2 is None else f"best held-out probe R2 {reading.r2:.2f}"
            return (f"{head}: carries no concept of the library that {self.downstream} reads of {self.upstream} "
                    f"({best}; {controls}).")
        text = (f"{head}: passes {table.meaning(reading.concept)} [{reading.concept}], decoded from what "
                f"{self.downstream} reads of {self.upstream} with held-out probe R2 = {reading.r2:.2f} ({controls})")
        if reading.concept_beyond_phase is not None and reading.r2_beyond_phase >= MIN_FLOW_R2:
            beyond = (f"random readers {reading.random_reader_r2_beyond_phase:.2f} mean, "
                      f"{reading.random_reader_r2_beyond_phase_p95:.2f} at the 95th percentile"
                      if reading.random_reader_r2_beyond_phase is not None else "no random readers")
            text += (f"; beyond game phase, {table.meaning(reading.concept_beyond_phase)} "
                     f"[{reading.concept_beyond_phase}], R2 = {reading.r2_beyond_phase:.2f} ({beyond})")
        return text + "."

    def to_json(self) -> dict:
        """The flow as written to descriptions.json."""
        reading = {} if self.reading is None else {k: v for k, v in self.reading.__dict__.items() if k not in ("concept", "r2")}
        extra = {} if self.reading is None else {"best_concept": self.reading.concept, "carries": self.reading.carries,
                                                 "beats_random_readers": self.reading.beats_random_readers}
        return {"upstream": self.upstream, "downstream": self.downstream, "cut_weight": self.cut_weight,
                "main_edges": self.main_edges, "concept": self.concept, "r2": self.r2, **extra, **reading}


def main_edges(graph, labels: np.ndarray, a: int, b: int, top: int = 3) -> list[str]:
    """The `top` heaviest weight-graph edges joining modules a and b, as 'node - node (capacity)'."""
    la, lb = labels[graph.edges[:, 0]], labels[graph.edges[:, 1]]
    between = np.flatnonzero(((la == a) & (lb == b)) | ((la == b) & (lb == a)))
    order = between[np.argsort(-graph.capacities[between], kind="stable")][:top]
    names = graph.nodes.name
    return [f"{names[graph.edges[e, 0]]} - {names[graph.edges[e, 1]]} ({graph.capacities[e]:.3g})" for e in order]


def interface_flows(model, graph, labels: np.ndarray, modules: list[ModuleUnits], min_cuts: dict[tuple[int, int], float],
                    writes: tuple[dict[str, dict[int, np.ndarray]], dict[str, dict[int, np.ndarray]]],
                    table: tuple[ConceptTable, ConceptTable], phase: tuple[np.ndarray, np.ndarray],
                    seed: int = 0, n_random: int = N_RANDOM_READERS) -> list[InterfaceFlow]:
    """One InterfaceFlow per ordered pair (upstream, downstream) of modules joined by a positive min cut; `writes`,
    `table` and `phase` on the (evidence, held-out) splits; random readers drawn from `seed`."""
    label_of = {m.name: int(m.name[1:]) for m in modules}
    rng = np.random.default_rng(seed)
    flows = []
    for up in modules:
        for down in modules:
            if up is down:
                continue
            cut = min_cuts.get((label_of[up.name], label_of[down.name]), 0.0)
            if not cut > 0:
                continue
            readers = read_matrices(model, down)
            sig_ev = interface_signal(writes[0][up.name], readers)
            if sig_ev is None:
                continue  # `up` has nothing upstream of `down`'s readers: the flow goes the other way
            sig_ho = interface_signal(writes[1][up.name], readers)
            ranks, d_model = signal_ranks(writes[0][up.name], readers), readers[0][1].shape[0]
            randoms = []
            for _ in range(n_random):
                fake = random_readers(ranks, d_model, rng)
                randoms.append((interface_signal(writes[0][up.name], fake), interface_signal(writes[1][up.name], fake)))
            edges = main_edges(graph, labels, label_of[up.name], label_of[down.name])
            flows.append(InterfaceFlow(up.name, down.name, float(cut), edges,
                                       read_flow((sig_ev, sig_ho), randoms, table, phase)))
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
