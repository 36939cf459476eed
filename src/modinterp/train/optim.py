"""AdamW with weight-decay groups and per-parameter learning-rate multipliers.

Parameters are grouped by (decays?, lr multiplier). By default norms, biases and embeddings get no weight decay
(the usual practice); `decay_all=True` reproduces the original, which decayed everything. A multiplier scales
the scheduled learning rate of the parameters it names: the growth study gives embedded weights their own rate.
Each group carries `lr_scale`; `set_learning_rate` sets `lr = base_lr * schedule_factor * lr_scale`.
"""

from __future__ import annotations

import fnmatch
from typing import Mapping

import torch
from torch import nn

_NORM_TYPES: tuple[type[nn.Module], ...] = tuple(
    t for t in (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d, getattr(nn, "RMSNorm", None)) if t is not None
)


def is_decayed(module_name: str, module: nn.Module, param_name: str, param: nn.Parameter) -> bool:
    """Whether a parameter gets weight decay by default: matrices only, and not those of norms or embeddings."""
    if param.ndim < 2 or param_name == "bias" or isinstance(module, (nn.Embedding, *_NORM_TYPES)):
        return False
    owner = module_name.rsplit(".", 1)[-1].lower()
    return "embed" not in owner and "embed" not in param_name.lower() and not owner.startswith(("ln", "norm"))


def decay_names(model: nn.Module, decay_all: bool = False) -> set[str]:
    """Names of the parameters that receive weight decay (all of them with `decay_all`, as the original)."""
    names: set[str] = set()
    for module_name, module in model.named_modules():
        for pname, p in module.named_parameters(recurse=False):
            if decay_all or is_decayed(module_name, module, pname, p):
                names.add(f"{module_name}.{pname}" if module_name else pname)
    return names


def resolve_lr_multipliers(
    model: nn.Module, names: Mapping[str, float] | None = None, patterns: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Per-parameter multipliers from exact `names` and fnmatch `patterns` (names win); unknown names are errors."""
    params = dict(model.named_parameters())
    out: dict[str, float] = {}
    for pattern, mult in (patterns or {}).items():
        matched = [n for n in params if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            raise ValueError(f"lr multiplier pattern {pattern!r} matches no parameter; parameters look like {sorted(params)[:4]}")
        out.update({n: float(mult) for n in matched})
    for name, mult in (names or {}).items():
        if name not in params:
            raise ValueError(f"lr multiplier for {name!r}: the model has no parameter of that name; parameters look like {sorted(params)[:4]}")
        out[name] = float(mult)
    for name, mult in out.items():
        if not mult >= 0:
            raise ValueError(f"lr multiplier for {name!r} must be >= 0, got {mult}")
    return out


def build_optimizer(
    model: nn.Module,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    decay_all: bool = False,
    lr_multipliers: Mapping[str, float] | None = None,
) -> torch.optim.AdamW:
    """AdamW over the model's trainable parameters, one group per (decay, multiplier) combination.

    `lr_multipliers` maps exact parameter names to a multiplier of the scheduled rate (default 1).
    Groups keep the parameter names (`param_names`), so checkpoints and errors can name parameters.
    """
    decayed = decay_names(model, decay_all)
    mults = dict(lr_multipliers or {})
    groups: dict[tuple[bool, float], list[tuple[str, nn.Parameter]]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        key = (name in decayed, mults.get(name, 1.0))
        groups.setdefault(key, []).append((name, p))
    param_groups = [
        {"params": named, "weight_decay": weight_decay if decays else 0.0, "lr_scale": scale, "lr": lr * scale}
        for (decays, scale), named in sorted(groups.items(), key=lambda kv: (not kv[0][0], kv[0][1]))
    ]
    return torch.optim.AdamW(param_groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def set_learning_rate(optimizer: torch.optim.Optimizer, base_lr: float, factor: float) -> None:
    """Set every group's lr to base_lr * factor * its lr_scale."""
    for group in optimizer.param_groups:
        group["lr"] = base_lr * factor * group.get("lr_scale", 1.0)
