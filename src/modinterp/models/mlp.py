"""`MLP`: a plain multilayer perceptron, the network the modularity losses are first tested on.

Its weight graph (one node per unit, one edge per weight) is built by `modinterp.modularity.construct.mlp`.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MLP"]


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
