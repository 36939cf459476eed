"""Nodes and `WeightBlock`s of an MLP.

MLPs (`nn.Sequential` / `nn.ModuleList` of Linear + activations + optional LayerNorm/BatchNorm1d, or
`modinterp.models.MLP`): one node per unit, one edge per weight, capacity |W_ij| times the gain of a normalisation
sitting between the two Linear layers (LayerNorm |gamma_j|, BatchNorm1d |gamma_j| / sqrt(var_j + eps)). Biases
are not edges. LayerNorm's centering mixes all units; it is treated as edge-free.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from modinterp.modularity.construct.blocks import WeightBlock
from modinterp.modularity.graph import NodeTable, node_table

__all__ = ["mlp_blocks"]

_PASS_THROUGH = (nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.SiLU, nn.ELU, nn.Softplus, nn.Identity,
                 nn.Dropout, nn.Mish)


def _norm_gain(module: nn.Module) -> Callable[[], torch.Tensor] | None:
    """A callable giving the per-unit gain a normalisation applies, or None for an un-parameterised one."""
    if isinstance(module, nn.LayerNorm):
        if module.weight is None:
            return None
        return lambda: module.weight.abs().reshape(-1)
    if isinstance(module, nn.BatchNorm1d):
        def gain() -> torch.Tensor:
            var = module.running_var if module.running_var is not None else torch.ones(module.num_features)
            scale = torch.rsqrt(var + module.eps)
            return scale * module.weight.abs() if module.weight is not None else scale
        return gain
    raise TypeError(f"unsupported normalisation {type(module).__name__}")


def _linear_capacity(linear: nn.Linear, gain: Callable[[], torch.Tensor] | None) -> Callable[[], torch.Tensor]:
    def capacity() -> torch.Tensor:
        return linear.weight.abs() if gain is None else linear.weight.abs() * gain()[None, :]

    capacity.linear = linear  # lets hardening find the weight matrix behind the block
    capacity.plain = gain is None  # capacity is exactly |W|: losses may take one abs over all such weights
    return capacity


def mlp_blocks(modules: list[nn.Module]) -> tuple[NodeTable, list[WeightBlock], dict]:
    """Nodes (layer 0 = inputs, last = outputs) and one block per Linear of an MLP given as a module list."""
    flat: list[nn.Module] = []
    for m in modules:
        flat.extend(m if isinstance(m, (nn.Sequential, nn.ModuleList)) else [m])
    linears = [m for m in flat if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("MLP has no nn.Linear layer; expected a sequence of Linear layers and activations")
    sizes = [linears[0].in_features] + [lin.out_features for lin in linears]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    blocks: list[WeightBlock] = []
    gain = None
    layer = 0
    for m in flat:
        if isinstance(m, nn.Linear):
            if m.in_features != sizes[layer]:
                raise ValueError(f"Linear {layer} expects {m.in_features} inputs but the previous layer has "
                                 f"{sizes[layer]} units")
            ids_in = np.arange(offsets[layer], offsets[layer + 1])
            ids_out = np.arange(offsets[layer + 1], offsets[layer + 2])
            blocks.append(WeightBlock(f"layers.{layer}.weight", ids_in, ids_out, _linear_capacity(m, gain)))
            gain, layer = None, layer + 1
        elif isinstance(m, (nn.LayerNorm, nn.BatchNorm1d)):
            if layer < len(linears):  # a normalisation after the last Linear scales outputs only: no edge
                gain = _norm_gain(m)
        elif not isinstance(m, _PASS_THROUGH):
            raise TypeError(f"unsupported module {type(m).__name__} in MLP; expected Linear, LayerNorm, "
                            f"BatchNorm1d or an elementwise activation")
    n_layers = len(sizes)
    layer_of = np.repeat(np.arange(n_layers), sizes)
    index = np.concatenate([np.arange(s) for s in sizes])
    kind = np.where(layer_of == 0, "input", np.where(layer_of == n_layers - 1, "output", "hidden"))
    nodes = node_table(layer_of, kind, index)
    return nodes, blocks, {"model": "mlp", "sizes": sizes}
