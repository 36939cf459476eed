"""TransformerLens-style hook points: identity modules whose module path *is* the activation's name.

A `HookPoint` at `blocks.2.attn.hook_z` passes its input through unchanged; a forward hook registered on it
sees (and may replace) that activation. `run_with_cache` only registers such hooks, so a plain forward pays
for nothing but an identity call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


class HookPoint(nn.Module):
    """Identity; the place where an activation can be read or patched with `register_forward_hook`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @property
    def is_hooked(self) -> bool:
        return bool(self._forward_hooks)


class LayerNorm(nn.LayerNorm):
    """nn.LayerNorm (same state_dict keys) with a `hook_normalized` point on its output."""

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__(d_model, eps=eps)
        self.hook_normalized = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_normalized(super().forward(x))


NamesFilter = str | Iterable[str] | Callable[[str], bool] | None


def hook_points(model: nn.Module) -> dict[str, HookPoint]:
    """Every hook point of `model` by name, in data-flow (registration) order."""
    return {name: module for name, module in model.named_modules() if isinstance(module, HookPoint)}


def select_hook_names(available: Iterable[str], names: NamesFilter) -> list[str]:
    """Resolve `names` (None = all, a name, a list of names, or a predicate) to known hook names."""
    available = list(available)
    if names is None:
        return available
    if callable(names):
        return [n for n in available if names(n)]
    wanted = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in wanted if n not in set(available)]
    if unknown:
        raise KeyError(f"unknown hook name(s) {unknown}; available names look like {available[:4]} ... "
                       f"(see model.hook_names())")
    return wanted


def run_with_cache(model: nn.Module, inputs: torch.Tensor, names: NamesFilter = None, detach: bool = True):
    """Run `model(inputs)` and return (output, {hook name: activation}) for the selected hook points."""
    points = hook_points(model)
    cache: dict[str, torch.Tensor] = {}
    handles = []

    def store(name: str):
        def hook(_module, _args, output):
            cache[name] = output.detach() if detach else output
        return hook

    try:
        for name in select_hook_names(points, names):
            handles.append(points[name].register_forward_hook(store(name)))
        output = model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return output, cache
