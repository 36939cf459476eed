"""Per-module residual subspaces: the residual stream split into private slices plus a small shared bus.

With `TransformerConfig(n_modules=k, bus_width=b)` (k > 1) the residual dimensions [0, d - b) are split into k
contiguous, balanced slices (module m owns slice m; `module_shares` makes them unequal, e.g. (1, 3): module 0
gets a quarter of the dimensions, heads and neurons) and the last b dimensions [d - b, d) are the bus, shared by
all modules. Every attention head and every MLP neuron belongs to one module (`module_of`, the same contiguous
balanced split over the units of a layer) and reads (the residual rows of its W_Q/W_K/W_V, the residual
columns of its W_in row) and writes (the residual columns of its W_O, the residual rows of its W_out column) only
its module's slice and the bus. The masks are fixed 0/1 buffers (non-persistent: they follow from the config, so
checkpoints hold the same keys as an unmasked model's) multiplied into the weights in forward, so no optimiser,
embedding or loading code can break them; `BoardTransformer` also zeroes the masked entries at init, and as they
get no gradient they stay zero under AdamW, so the raw parameters show the structure too. The token embeddings and the output
heads (value, policy, concepts) read the whole stream, where modules meet the task, unless routed: with
`value_module=m` (likewise `policy_module`, `concept_module`) the head reads only module m's slice and the bus
(`read_mask`), so the modules get different jobs (the value module's units reach the policy only through the bus).
With `bus_writer=m` the bus is one-way: every unit still reads it, but only module m's units write it
(`unit_write_masks`), so information flows from module m to the others and never back (e.g. the policy
module's features to a value module, while the policy does not depend on the value module at all).

LayerNorm: a LayerNorm over the whole stream would mix the modules through its statistics -- its mean is a
rank-one linear leak from every slice into every other (the weight graph sees it as cross-module edges of size
|A 1| |1^T B| / d), and its 1/std a multiplicative one that no weight graph can show. So a modular model
normalises each slice and the bus separately (`GroupLayerNorm`, same parameters and state_dict keys as
nn.LayerNorm), in every block and in the final LayerNorm: each module's reads then depend only on its own
slice and the bus, in the function as in the graph. The only cross-module paths are the bus, the embeddings
(which write every slice) and the output heads (which read every slice); the per-layer MLP output bias is a
constant and carries no information.

A normalised group of b dimensions carries only a unit vector in the b - 1 dimensions centring leaves, b - 2 numbers
(its mean and scale are divided out):
a bus of 2 carries one sign per position, of 3 an angle. `TransformerConfig.bus_norm="none"` passes the bus through
every LayerNorm unnormalised (its gain and bias still apply), so a bus of b carries b numbers. The private slices are
still normalised on their own, so no statistic joins two modules either way.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from modinterp.models.config import module_index
from modinterp.models.hooks import LayerNorm

__all__ = ["module_of", "residual_groups", "unit_masks", "unit_write_masks", "read_mask", "GroupLayerNorm", "center_groups",
           "normalised_groups"]


def module_of(n_units: int, n_modules: int, shares: Sequence[int] | None = None) -> torch.Tensor:
    """(n_units,) module of each unit: contiguous runs, module m's run holding about shares[m] / sum(shares) of the
    units (equal shares by default, so runs differ by at most one: unit i -> i*k // n; `config.module_index`).

    Used for residual dimensions, heads and neurons alike, so a layer's first heads and first neurons belong
    to module 0, and so on."""
    return torch.from_numpy(module_index(n_units, n_modules, shares))


def residual_groups(d_model: int, n_modules: int, bus_width: int, shares: Sequence[int] | None = None) -> list[int]:
    """Sizes of the residual groups in order: the k private slices, then the bus (if any); [d_model] when k = 1."""
    if n_modules == 1:
        return [d_model]
    sizes = torch.bincount(module_of(d_model - bus_width, n_modules, shares), minlength=n_modules).tolist()
    return sizes + ([bus_width] if bus_width else [])


def _dim_modules(d_model: int, n_modules: int, bus_width: int, shares: Sequence[int] | None) -> torch.Tensor:
    """(d_model,) the module owning each residual dimension: the private slices in order, -1 for the bus."""
    return torch.cat([module_of(d_model - bus_width, n_modules, shares), torch.full((bus_width,), -1)])


def unit_masks(n_units: int, d_model: int, n_modules: int, bus_width: int,
               shares: Sequence[int] | None = None) -> torch.Tensor:
    """(n_units, d_model) float 0/1: the residual dimensions each unit may read (and, with a two-way bus, write):
    its slice and the bus."""
    dim_module = _dim_modules(d_model, n_modules, bus_width, shares)
    allowed = (dim_module[None, :] == module_of(n_units, n_modules, shares)[:, None]) | (dim_module[None, :] == -1)
    return allowed.float()


def unit_write_masks(n_units: int, d_model: int, n_modules: int, bus_width: int, bus_writer: int = -1,
                     shares: Sequence[int] | None = None) -> torch.Tensor:
    """(n_units, d_model) float 0/1: the residual dimensions each unit may write. Its read mask (`unit_masks`),
    less the bus for units outside module `bus_writer` when the bus is one-way (`bus_writer` >= 0)."""
    masks = unit_masks(n_units, d_model, n_modules, bus_width, shares)
    if bus_writer >= 0 and bus_width:
        masks[module_of(n_units, n_modules, shares) != bus_writer, d_model - bus_width:] = 0.0
    return masks


def read_mask(d_model: int, n_modules: int, bus_width: int, module: int,
              shares: Sequence[int] | None = None) -> torch.Tensor:
    """(d_model,) float 0/1: the residual dimensions an output head routed to `module` reads (its slice, the bus)."""
    dim_module = _dim_modules(d_model, n_modules, bus_width, shares)
    return ((dim_module == module) | (dim_module == -1)).float()


class GroupLayerNorm(LayerNorm):
    """LayerNorm that normalises each residual group (module slice, bus) by its own mean and variance; with
    `raw_last` the last group (the bus, `TransformerConfig.bus_norm="none"`) is passed through, gain and bias only.

    Same parameters, state_dict keys and `hook_normalized` point as `hooks.LayerNorm`; see the module docstring
    for why a modular model needs it."""

    def __init__(self, d_model: int, groups: list[int], eps: float = 1e-5, raw_last: bool = False):
        super().__init__(d_model, eps)
        if sum(groups) != d_model:
            raise ValueError(f"GroupLayerNorm groups {groups} sum to {sum(groups)}; expected d_model={d_model}")
        self.groups = list(groups)
        self.raw_last = raw_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [F.layer_norm(part, part.shape[-1:], eps=self.eps) if normalised else part
                 for part, normalised in zip(x.split(self.groups, dim=-1), normalised_groups(len(self.groups), self.raw_last))]
        return self.hook_normalized(torch.cat(parts, dim=-1) * self.weight + self.bias)


def center_groups(x: torch.Tensor, groups: list[int], raw_last: bool = False) -> torch.Tensor:
    """`x` (..., d) minus its mean over each residual group: the centering a (Group)LayerNorm applies (none on the
    last group with `raw_last`, as `GroupLayerNorm`)."""
    parts = [part - part.mean(dim=-1, keepdim=True) if normalised else part
             for part, normalised in zip(x.split(groups, dim=-1), normalised_groups(len(groups), raw_last))]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


def normalised_groups(n_groups: int, raw_last: bool = False) -> list[bool]:
    """Which of a LayerNorm's n_groups residual groups it normalises: all, or all but the last (the bus) with
    `raw_last` (`bus_norm="none"`). The one rule `GroupLayerNorm`, `center_groups` and the graph's scales follow."""
    return [not (raw_last and g == n_groups - 1) for g in range(n_groups)]
