"""Node sets and `WeightBlock`s of the networks the weight graph understands.

MLPs (`nn.Sequential` / `nn.ModuleList` of Linear + activations + optional LayerNorm/BatchNorm1d, or the
`MLP` class below): one node per unit, one edge per weight, capacity |W_ij| times the gain of a normalisation
sitting between the two Linear layers (LayerNorm |gamma_j|, BatchNorm1d |gamma_j| / sqrt(var_j + eps)). Biases
are not edges. LayerNorm's centering mixes all units; it is treated as edge-free.

BoardTransformer: see `transformer_graph.py` (heads and neurons coupled by virtual weights).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from modinterp.modularity.graph import BlockSet, NodeTable, WeightBlock, node_table

__all__ = ["MLP", "model_blocks", "model_block_set", "mlp_blocks"]

_PASS_THROUGH = (nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.SiLU, nn.ELU, nn.Softplus, nn.Identity,
                 nn.Dropout, nn.Mish)


class MLP(nn.Module):
    """A plain MLP, sizes [in, hidden..., out], ReLU between Linear layers; `self.layers` is an nn.Sequential."""

    def __init__(self, sizes: list[int], activation: type[nn.Module] = nn.ReLU, seed: int | None = None):
        super().__init__()
        if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
            raise ValueError(f"MLP sizes={sizes!r}: expected at least [n_in, n_out], all positive")
        self.sizes = [int(s) for s in sizes]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(self.sizes) - 2:
                layers.append(activation())
        self.layers = nn.Sequential(*layers)
        if seed is not None:
            self.reset_parameters(torch.Generator().manual_seed(seed))

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """PyTorch's default Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn only from `generator`."""
        for layer in self.linears():
            bound = layer.in_features ** -0.5
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)

    def linears(self) -> list[nn.Linear]:
        return [m for m in self.layers if isinstance(m, nn.Linear)]

    def forward(self, x: torch.Tensor, unit_mask: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Forward pass; `unit_mask[l]` (optional, broadcastable to hidden layer l's output) multiplies the
        post-activation of hidden layer l (used to ablate units)."""
        hidden = 0
        for module in self.layers:
            x = module(x)
            if unit_mask is not None and not isinstance(module, nn.Linear) and hidden < len(unit_mask):
                x = x * unit_mask[hidden]
                hidden += 1
        return x


def model_blocks(model: nn.Module) -> tuple[NodeTable, list[WeightBlock], dict]:
    """Dispatch on the model type: (nodes, blocks, info)."""
    if isinstance(model, MLP):
        return mlp_blocks(list(model.layers))
    if isinstance(model, (nn.Sequential, nn.ModuleList)):
        return mlp_blocks(list(model))
    if _is_board_transformer(model):
        from modinterp.modularity.transformer_graph import transformer_blocks

        return transformer_blocks(model)
    raise TypeError(f"WeightGraph.from_model: unsupported model type {type(model).__name__}; expected an "
                    "nn.Sequential/nn.ModuleList MLP, modinterp.modularity.MLP or a BoardTransformer "
                    "(or build the graph yourself with WeightGraph.from_edges)")


def model_block_set(model: nn.Module, blocks: list[WeightBlock] | None = None) -> BlockSet:
    """The model's edges as a `BlockSet` for per-step losses: fused for a BoardTransformer (6 blocks instead of
    one per writer/reader pair), else the model's own blocks (`blocks`, if already built)."""
    if _is_board_transformer(model):
        from modinterp.modularity.transformer_graph import transformer_block_set

        return transformer_block_set(model)
    return BlockSet.of(blocks if blocks is not None else model_blocks(model)[1])


def _is_board_transformer(model: nn.Module) -> bool:
    """Duck-typed, so the graph code needs no import of modinterp.models."""
    return hasattr(model, "blocks") and hasattr(model, "policy_head") and hasattr(model, "state_embed")


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
