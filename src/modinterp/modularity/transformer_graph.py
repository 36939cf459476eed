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
column of W_out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from modinterp.modularity.graph import NodeTable, WeightBlock, node_table

__all__ = ["transformer_blocks"]


@dataclass
class _Group:
    """Units of one kind at one residual position; `matrix()` gives write (N, k, d) or read (N, d, k) maps."""

    name: str
    position: int
    ids: np.ndarray
    matrix: Callable[[], torch.Tensor]


def _virtual_capacity(writer: _Group, reader: _Group) -> Callable[[], torch.Tensor]:
    def capacity() -> torch.Tensor:
        write = writer.matrix()  # (Nw, kw, d)
        write = write - write.mean(dim=-1, keepdim=True)  # LayerNorm centering P, applied once per writer
        read = reader.matrix()  # (Nr, d, kr)
        n_w, k_w, d = write.shape
        n_r, _, k_r = read.shape
        prod = write.reshape(n_w * k_w, d) @ read.permute(1, 0, 2).reshape(d, n_r * k_r)
        prod = prod.reshape(n_w, k_w, n_r, k_r)
        if k_w == 1 and k_r == 1:
            return prod.reshape(n_w, n_r).abs().T
        return torch.linalg.vector_norm(prod, dim=(1, 3)).T  # (Nr, Nw)

    return capacity


def transformer_blocks(model) -> tuple[NodeTable, list[WeightBlock], dict]:
    """Nodes and virtual-weight blocks of a BoardTransformer (state_dict names as in the Model contract)."""
    cfg = model.config
    n_layers, n_heads, d_mlp, d = cfg.n_layers, cfg.n_heads, cfg.d_mlp, cfg.d_model
    names: list[np.ndarray] = []
    kinds: list[np.ndarray] = []
    layers: list[np.ndarray] = []
    index: list[np.ndarray] = []
    counter = [0]

    def add(prefix: str, count: int, kind: str, position: int) -> np.ndarray:
        ids = np.arange(counter[0], counter[0] + count)
        counter[0] += count
        names.append(np.char.add(prefix, np.arange(count).astype(str)))
        kinds.append(np.full(count, kind))
        layers.append(np.full(count, position))
        index.append(np.arange(count))
        return ids

    writers: list[_Group] = []
    readers: list[_Group] = []
    state, pos = model.state_embed, model.pos_embed
    writers.append(_Group("embed.state", 0, add("embed.state.", state.num_embeddings, "input", 0),
                          lambda: state.weight[:, None, :]))
    writers.append(_Group("embed.pos", 0, add("embed.pos.", pos.num_embeddings, "input", 0),
                          lambda: pos.weight[:, None, :]))
    for i, block in enumerate(model.blocks):
        attn, mlp, ln1, ln2 = block.attn, block.mlp, block.ln1, block.ln2
        heads = add(f"blocks.{i}.attn.h", n_heads, "head", 2 * i + 1)
        neurons = add(f"blocks.{i}.mlp.n", d_mlp, "neuron", 2 * i + 2)
        readers.append(_Group(f"blocks.{i}.attn.W_QKV", 2 * i + 1, heads, _head_reader(attn, ln1)))
        writers.append(_Group(f"blocks.{i}.attn.W_O", 2 * i + 1, heads, lambda attn=attn: attn.W_O))
        readers.append(_Group(f"blocks.{i}.mlp.W_in", 2 * i + 2, neurons,
                              lambda mlp=mlp, ln=ln2: (ln.weight[None, :] * mlp.W_in.weight)[:, :, None]))
        writers.append(_Group(f"blocks.{i}.mlp.W_out", 2 * i + 2, neurons, lambda mlp=mlp: mlp.W_out.weight.T[:, None, :]))
    out_pos = 2 * n_layers + 1
    lnf, vh, ch, ph = model.ln_final, model.value_head, model.concept_head, model.policy_head
    readers.append(_Group("value_head", out_pos, add("value_head.", 1, "output", out_pos),
                          lambda: (lnf.weight[None, :] * vh.weight)[:, :, None]))
    readers.append(_Group("concept_head", out_pos, add("concept_head.", ch.out_features, "output", out_pos),
                          lambda: (lnf.weight[None, :] * ch.weight)[:, :, None]))
    readers.append(_Group("policy_head.fc_in", out_pos, add("policy_head.fc_in.", ph.fc_in.out_features, "output",
                                                              out_pos),
                          lambda: (ph.fc_in.weight.reshape(-1, 2, d) * lnf.weight).transpose(1, 2)))
    blocks = [WeightBlock(f"{w.name}->{r.name}", w.ids, r.ids, _virtual_capacity(w, r))
              for w in writers for r in readers if w.position < r.position]
    nodes = node_table(np.concatenate(layers), np.concatenate(kinds), np.concatenate(index), np.concatenate(names))
    info = {"model": "board_transformer", "rows": cfg.rows, "cols": cfg.cols, "d_model": d, "n_layers": n_layers,
            "n_heads": n_heads, "d_mlp": d_mlp, "node_set": "heads+neurons, virtual weights"}
    return nodes, blocks, info


def _head_reader(attn, ln) -> Callable[[], torch.Tensor]:
    def read() -> torch.Tensor:
        qkv = torch.cat([attn.W_Q, attn.W_K, attn.W_V], dim=-1)  # (H, d, 3*dh)
        return qkv * ln.weight[None, :, None]
    return read
