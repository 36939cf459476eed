"""The BoardTransformer's weight graph: attention heads and MLP neurons coupled through the residual stream.

Nodes (see docs/modularity.md for the justification):
- inputs: one node per cell-state embedding row and per position embedding row ("embed.state.v", "embed.pos.p");
- per layer i: one node per attention head ("blocks.i.attn.hH") and per MLP neuron ("blocks.i.mlp.nN");
- outputs: "value_head", "concept_head.c" and the policy head's hidden units ("policy_head.fc_in.u").

Residual dimensions are not nodes: they have no privileged basis, and as nodes they would be hubs that every
cut passes through. A unit that writes A (k_a x d) into the residual is joined to every later unit that reads
B (d x k_b) from it by the virtual weight ||A P diag(gamma) B||_F, where gamma is the reader's LayerNorm gain
and P = I - 11^T/d the LayerNorm's centering. It is invariant to rotations of the residual basis.
A head reads through [W_Q | W_K | W_V] and writes through W_O; a neuron reads a row of W_in and writes a
column of W_out. With `canonical=True` the heads' weights are first balanced (`canonical.py`: W_Q/W_K and
W_V/W_O factorised in balanced form, LayerNorm gains folded), so that rescalings that leave the function
unchanged leave the graph unchanged too; the other units' virtual weights already fold the gains.

A modular model (`TransformerConfig.n_modules > 1`, models/subspace.py) is read through its masked weights
(`attn.weights()`, `mlp.w_in()`, `mlp.w_out()`, what forward uses) and P centres each residual slice and the bus
separately, as its LayerNorms do. Its embedding rows and output units are split into one node per residual
group ("embed.pos.3@m0" writes embedding row pos 3 into module 0's slice, "value_head.0@bus" reads the bus):
they read and write every slice, so as whole nodes they would be hubs joining every module to every other,
and the module cuts (sums over a module's many couplings to them) would never undercut a single unit's degree
(measured: 0 non-trivial tree edges on a masked model at init, bus or no bus). Split, each module's units are
joined to other modules only through the bus: with bus_width = 0 the graph falls apart into the k modules.

`couplings` picks which writer/reader pairs are edges: "all" (default) joins every writer to every later reader,
as the residual stream does; "adjacent" keeps only pairs one layer apart: the embeddings -> layer 0's heads and
neurons, layer l's heads and neurons -> layer l+1's, the last layer's -> the output heads (a head and a neuron
of the same layer are not joined, nor are units two or more layers apart). On a dense residual stream the full
graph's Gomory-Hu tree is all singleton cuts (docs/modularity.md); the adjacent graph is the chain of layers an
MLP's graph is, so its tree can show modules. The graph and the loss's penalty use the same pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from modinterp.modularity.construct.blocks import BlockSet, WeightBlock
from modinterp.modularity.construct.canonical import balanced_head_weights
from modinterp.modularity.graph import NodeTable, node_table
from modinterp.models.subspace import center_groups, module_of, residual_groups
from modinterp.models.transformer import BoardTransformer

__all__ = ["transformer_blocks", "transformer_block_set", "COUPLINGS", "check_couplings", "construction_labels"]

COUPLINGS = ("all", "adjacent")  # which writer/reader pairs are edges (module docstring)


def check_couplings(couplings: str) -> str:
    """`couplings` itself if it names a graph definition, else a ValueError naming the choices."""
    if couplings not in COUPLINGS:
        raise ValueError(f"couplings={couplings!r}: expected one of {', '.join(map(repr, COUPLINGS))}")
    return couplings


def _layer(position: int) -> int:
    """The layer of a residual position: -1 for the embeddings (0), l for layer l's heads (2l+1) and neurons
    (2l+2), n_layers for the output heads (2 n_layers + 1)."""
    return (position - 1) // 2


def _coupled(writer_position, reader_position, couplings: str):
    """Whether a reader at `reader_position` is joined to a writer at `writer_position` (ints or broadcasting
    arrays)."""
    if couplings == "all":
        return reader_position > writer_position
    return _layer(reader_position) == _layer(writer_position) + 1


@dataclass
class _Group:
    """Units of one kind at one residual position; `matrix()` gives write (N, k, d) or read (N, d, k) maps."""

    name: str
    position: int
    ids: np.ndarray
    matrix: Callable[[], torch.Tensor]
    k: int  # rows (writers) or columns (readers) per unit


def _virtual_capacity(writer: _Group, reader: _Group, groups: tuple[list[int], bool]) -> Callable[[], torch.Tensor]:
    def capacity() -> torch.Tensor:
        write = writer.matrix()  # (Nw, kw, d)
        write = center_groups(write, *groups)  # LayerNorm centering P (per residual group), once per writer
        read = reader.matrix()  # (Nr, d, kr)
        d = write.shape[-1]
        return _pair_norms(read.transpose(1, 2).reshape(-1, d), write.reshape(-1, d), reader.k, writer.k)

    return capacity


def transformer_blocks(model: BoardTransformer, canonical: bool = False,
                       couplings: str = "all") -> tuple[NodeTable, list[WeightBlock], dict]:
    """Nodes and virtual-weight blocks of a BoardTransformer, one block per coupled (writer, reader) pair: every
    later reader (`couplings="all"`) or the next layer's (`"adjacent"`)."""
    check_couplings(couplings)
    nodes, writers, readers, info = _units(model, canonical)
    info["couplings"] = couplings
    groups = _groups(model)
    blocks = [WeightBlock(f"{w.name}->{r.name}", w.ids, r.ids, _virtual_capacity(w, r, groups))
              for w in writers for r in readers if _coupled(w.position, r.position, couplings)]
    return nodes, blocks, info


def transformer_block_set(model: BoardTransformer, canonical: bool = False, couplings: str = "all") -> BlockSet:
    """The same edges as `transformer_blocks`, evaluated with one matmul per (writer k, reader k) kind.

    Writers and readers are stacked by how many rows/columns each unit has (1 for embeddings, neurons and
    output units; d_head for a head's W_O, 3 d_head for its W_QKV, 2 for a policy unit), so a 4-layer model's
    ~60 pair blocks become 6 blocks. Entries whose pair is not coupled (the reader not after the writer, or
    not in the next layer for `couplings="adjacent"`) are not edges (`valid`). A training loss evaluates this
    every step; the graph uses the pair blocks.
    """
    check_couplings(couplings)
    _, writers, readers, _ = _units(model, canonical)
    d, groups = model.config.d_model, _groups(model)
    write_kinds = sorted({w.k for w in writers})
    read_kinds = sorted({r.k for r in readers})
    pairs = [(kw, kr) for kw in write_kinds for kr in read_kinds]
    blocks, valid = [], []
    for kw, kr in pairs:
        ws, rs = [w for w in writers if w.k == kw], [r for r in readers if r.k == kr]
        w_pos = np.concatenate([np.full(len(w.ids), w.position) for w in ws])
        r_pos = np.concatenate([np.full(len(r.ids), r.position) for r in rs])
        blocks.append(WeightBlock(f"writers(k={kw})->readers(k={kr})", np.concatenate([w.ids for w in ws]),
                                  np.concatenate([r.ids for r in rs]), lambda kw=kw, kr=kr: evaluate()[pairs.index((kw, kr))]))
        valid.append(_coupled(w_pos[None, :], r_pos[:, None], couplings))

    def evaluate() -> list[torch.Tensor]:
        # Each reader kind as rows (sum of N*k_r, d); each writer kind as rows (sum of N*k_w, d), centred once
        # (the reader's LayerNorm centering P, per residual group).
        read = {kr: torch.cat([r.matrix().transpose(1, 2).reshape(-1, d) for r in readers if r.k == kr])
                for kr in read_kinds}
        write = {kw: torch.cat([w.matrix().reshape(-1, d) for w in writers if w.k == kw]) for kw in write_kinds}
        write = {kw: center_groups(m, *groups) for kw, m in write.items()}
        return [_pair_norms(read[kr], write[kw], kr, kw) for kw, kr in pairs]

    return BlockSet(tuple(blocks), evaluate, tuple(valid))


def _groups(model: BoardTransformer) -> tuple[list[int], bool]:
    """The residual groups the model's LayerNorms centre separately ([d_model], or the module slices and bus), and
    whether the last (the bus) is passed through uncentred (`bus_norm="none"`)."""
    cfg = model.config
    raw_bus = cfg.bus_width > 0 and cfg.bus_norm == "none"
    return residual_groups(cfg.d_model, cfg.n_modules, cfg.bus_width, cfg.module_shares), raw_bus


def _pair_norms(read: torch.Tensor, write: torch.Tensor, k_r: int, k_w: int) -> torch.Tensor:
    """(n_r, n_w) virtual weights ||read_r @ write_w^T||_F from reader rows (n_r*k_r, d) and centred writer
    rows (n_w*k_w, d): each unit pair's k_r x k_w block of products, reduced over contiguous trailing dims
    (vector_norm over a middle dim is many times slower). vector_norm, not the sqrt of a sum of squares: its
    gradient at a zero block is 0, not NaN (a head whose W_O was zeroed by embedding writes nothing)."""
    n_r, n_w = read.shape[0] // k_r, write.shape[0] // k_w
    if k_r == 1:
        prod = read @ write.T  # (n_r, n_w*k_w)
        return prod.abs() if k_w == 1 else torch.linalg.vector_norm(prod.view(n_r, n_w, k_w), dim=2)
    prod = write @ read.T  # (n_w*k_w, n_r*k_r)
    if k_w == 1:
        return torch.linalg.vector_norm(prod.view(n_w, n_r, k_r), dim=2).T
    return torch.linalg.vector_norm(prod.view(n_w, k_w, n_r, k_r).transpose(1, 2), dim=(2, 3)).T


def _units(model: BoardTransformer, canonical: bool = False) -> tuple[NodeTable, list[_Group], list[_Group], dict]:
    """The node table and the writer/reader unit groups of a BoardTransformer, in residual-stream order
    (`canonical`: heads read and write through their balanced weights)."""
    cfg = model.config
    n_layers, n_heads, d_mlp, d = cfg.n_layers, cfg.n_heads, cfg.d_mlp, cfg.d_model
    names: list[np.ndarray] = []
    kinds: list[np.ndarray] = []
    layers: list[np.ndarray] = []
    index: list[np.ndarray] = []
    counter = [0]

    def add(prefix: str, count: int, kind: str, position: int, suffix: str = "") -> np.ndarray:
        ids = np.arange(counter[0], counter[0] + count)
        counter[0] += count
        names.append(np.char.add(np.char.add(prefix, np.arange(count).astype(str)), suffix))
        kinds.append(np.full(count, kind))
        layers.append(np.full(count, position))
        index.append(np.arange(count))
        return ids

    writers: list[_Group] = []
    readers: list[_Group] = []
    state, pos = model.state_embed, model.pos_embed
    io_slices = _io_slices(model)
    for suffix, mask in io_slices:
        writers.append(_Group(f"embed.state{suffix}", 0, add("embed.state.", state.num_embeddings, "input", 0, suffix),
                              lambda mask=mask: (state.weight * mask)[:, None, :], 1))
        writers.append(_Group(f"embed.pos{suffix}", 0, add("embed.pos.", pos.num_embeddings, "input", 0, suffix),
                              lambda mask=mask: (pos.weight * mask)[:, None, :], 1))
    for i, block in enumerate(model.blocks):
        attn, mlp, ln1, ln2 = block.attn, block.mlp, block.ln1, block.ln2
        heads = add(f"blocks.{i}.attn.h", n_heads, "head", 2 * i + 1)
        neurons = add(f"blocks.{i}.mlp.n", d_mlp, "neuron", 2 * i + 2)
        read, write = _head_maps(attn, ln1, canonical)
        readers.append(_Group(f"blocks.{i}.attn.W_QKV", 2 * i + 1, heads, read, 3 * cfg.d_head))
        writers.append(_Group(f"blocks.{i}.attn.W_O", 2 * i + 1, heads, write, cfg.d_head))
        readers.append(_Group(f"blocks.{i}.mlp.W_in", 2 * i + 2, neurons,
                              lambda mlp=mlp, ln=ln2: (ln.weight[None, :] * mlp.w_in())[:, :, None], 1))
        writers.append(_Group(f"blocks.{i}.mlp.W_out", 2 * i + 2, neurons, lambda mlp=mlp: mlp.w_out().T[:, None, :], 1))
    out_pos = 2 * n_layers + 1
    lnf, ch, ph = model.ln_final, model.concept_head, model.policy_head

    # The heads' read weights through the final LayerNorm's gain, as forward uses them (a routed head's mask).
    def value_read() -> torch.Tensor:  # (1, d)
        return lnf.weight * _routed(model, "value") * model.value_head.weight

    def concept_read() -> torch.Tensor:  # (n_concepts, d)
        return lnf.weight * _routed(model, "concept") * ch.weight

    def policy_read() -> torch.Tensor:  # (d_hidden, 2, d): each hidden unit's read of a move's two cells
        return ph.fc_in.weight.reshape(-1, 2, d) * lnf.weight * _routed(model, "policy")

    for suffix, mask in io_slices:
        readers.append(_Group(f"value_head{suffix}", out_pos, add("value_head.", 1, "output", out_pos, suffix),
                              lambda mask=mask: (value_read() * mask)[:, :, None], 1))
        readers.append(_Group(f"concept_head{suffix}", out_pos,
                              add("concept_head.", ch.out_features, "output", out_pos, suffix),
                              lambda mask=mask: (concept_read() * mask)[:, :, None], 1))
        readers.append(_Group(f"policy_head.fc_in{suffix}", out_pos,
                              add("policy_head.fc_in.", ph.fc_in.out_features, "output", out_pos, suffix),
                              lambda mask=mask: (policy_read() * mask).transpose(1, 2), 2))
    nodes = node_table(np.concatenate(layers), np.concatenate(kinds), np.concatenate(index), np.concatenate(names))
    info = {"model": "board_transformer", "canonical": canonical, "rows": cfg.rows, "cols": cfg.cols, "d_model": d, "n_layers": n_layers,
            "n_heads": n_heads, "d_mlp": d_mlp, "node_set": "heads+neurons, virtual weights"}
    return nodes, writers, readers, info


def _routed(model: BoardTransformer, head: str) -> torch.Tensor | float:
    """The read mask of an output head routed to one module (`BoardTransformer.read_mask`), or 1."""
    mask = model.read_mask(head)
    return 1.0 if mask is None else mask


def _io_slices(model: BoardTransformer) -> list[tuple[str, torch.Tensor | float]]:
    """(name suffix, residual mask) per node copy of an embedding row or output unit: one whole-stream copy
    ("", 1.0) for an unmodular model; one per module slice ("@m0", ...) and one for the bus ("@bus") for a
    modular one (module docstring)."""
    cfg = model.config
    if not cfg.modular:
        return [("", 1.0)]
    sizes = residual_groups(cfg.d_model, cfg.n_modules, cfg.bus_width, cfg.module_shares)
    group = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    tags = [f"@m{m}" for m in range(cfg.n_modules)] + (["@bus"] if cfg.bus_width else [])
    device = model.state_embed.weight.device
    return [(tag, (group == g).float().to(device)) for g, tag in enumerate(tags)]


def _head_maps(attn, ln, canonical: bool) -> tuple[Callable[[], torch.Tensor], Callable[[], torch.Tensor]]:
    """(read, write) maps of a layer's heads: [W_Q | W_K | W_V] (H, d, 3*dh) through the LayerNorm gain, and
    W_O (H, dh, d), masked as forward uses them; balanced first when `canonical`."""
    if canonical:
        return (lambda: torch.cat(balanced_head_weights(attn, ln.weight)[:3], dim=-1),
                lambda: balanced_head_weights(attn, ln.weight)[3])

    def read() -> torch.Tensor:
        qkv = torch.cat(attn.weights()[:3], dim=-1)  # (H, d, 3*dh)
        return qkv * ln.weight[None, :, None]
    return read, lambda: attn.weights()[3]


def construction_labels(model: BoardTransformer, nodes: NodeTable) -> np.ndarray:
    """The module each graph node belongs to by construction in a modular model (`models/subspace.py`): a head
    or neuron its mask's module (`module_of` over its layer), an embedding row or output unit copy its slice's
    module ("@mK"), the bus copies ("@bus") label n_modules. The partition the masks impose, for comparing with
    the one the Gomory-Hu tree reads."""
    cfg = model.config
    if not cfg.modular:
        raise ValueError(f"construction labels need a model with per-module subspaces (n_modules > 1); this one has "
                         f"n_modules={cfg.n_modules}: use the tree's partition")
    slice_of = {tag: label for label, (tag, _) in enumerate(_io_slices(model))}  # "@m0" -> 0, ..., "@bus" -> k
    labels = np.array([slice_of.get("@" + str(name).rpartition("@")[2], -1) for name in nodes.name], dtype=np.int64)
    for kind, count in (("head", cfg.n_heads), ("neuron", cfg.d_mlp)):
        units = nodes.kind == kind
        labels[units] = module_of(count, cfg.n_modules, cfg.module_shares).numpy()[nodes.index[units]]
    if (labels < 0).any():
        raise ValueError(f"graph node {nodes.name[labels < 0][0]!r} has no module by construction")
    return labels
