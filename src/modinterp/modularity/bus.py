"""Interface hardening for a modular BoardTransformer: an L1 penalty on the shared bus (models/subspace.py).

In a model with per-module residual subspaces the only path between modules is the bus: the bus columns of the
heads' W_Q/W_K/W_V and of the neurons' W_in (what a unit reads from the bus) and the bus rows of W_O and W_out
(what it writes there). `BusPenalty(lam)` adds lam * sum |w| over exactly those entries (the masked weights
forward uses), so each bus weight is pulled to zero by lam * sign(w) and only the couplings the task needs
survive: narrow interfaces, and a weight graph whose module cuts (the bus couplings) can undercut a unit's
degree. Embeddings and output heads are not penalised: they read and write every slice by design.
Used as a trainer loss term (`modinterp train --set interface.bus_l1=...`, `train.config.InterfaceSettings`).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BusPenalty", "bus_weights"]


def bus_weights(model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(bus entries, all entries) of every head's and neuron's read and write weights, as flat tensors."""
    cfg = model.config
    if not getattr(cfg, "modular", False) or cfg.bus_width == 0:
        raise ValueError(f"the bus penalty needs a model with n_modules > 1 and bus_width > 0 (got n_modules="
                         f"{getattr(cfg, 'n_modules', None)}, bus_width={getattr(cfg, 'bus_width', None)}); set "
                         "model.overrides.n_modules and model.overrides.bus_width")
    bus = slice(cfg.d_model - cfg.bus_width, cfg.d_model)
    on_bus, every = [], []
    for block in model.blocks:
        w_q, w_k, w_v, w_o = block.attn.weights()  # (H, d, dh) x 3, (H, dh, d)
        w_in, w_out = block.mlp.w_in(), block.mlp.w_out()  # (d_mlp, d), (d, d_mlp)
        for read in (w_q, w_k, w_v):
            on_bus.append(read[:, bus].flatten())
        on_bus += [w_o[..., bus].flatten(), w_in[:, bus].flatten(), w_out[bus].flatten()]
        every += [w.flatten() for w in (w_q, w_k, w_v, w_o, w_in, w_out)]
    return on_bus, every


class BusPenalty:
    """Trainer loss term lam * sum |bus weights| (module docstring); logs the penalty and the bus's share of the
    units' |w| mass."""

    name = "bus"

    def __init__(self, lam: float):
        if not lam > 0:
            raise ValueError(f"BusPenalty lam={lam!r}: expected a positive float (interface.bus_l1)")
        self.lam = float(lam)
        self.last_log: dict[str, float] = {}

    def __call__(self, model: nn.Module, step: int) -> torch.Tensor:
        on_bus, every = bus_weights(model)
        l1 = torch.cat(on_bus).abs().sum()
        with torch.no_grad():
            share = float(l1 / torch.cat(every).abs().sum().clamp_min(1e-30))
        self.last_log = {f"{self.name}/l1": float(l1.detach()), f"{self.name}/share": share}
        return self.lam * l1

    def after_step(self, model: nn.Module) -> None:
        """Nothing to do after the optimizer step (the term is stateless)."""
