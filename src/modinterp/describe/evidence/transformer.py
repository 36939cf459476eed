"""Modules of a BoardTransformer: units from a partition, their write into the residual stream, ablation.

A module's units are the MLP neurons (`blocks.i.mlp.nN`) and attention heads (`blocks.i.attn.hH`) among its
weight-graph nodes (input/output nodes carry no activation and are listed only). Its *write* at the CLS
token is what it adds to the residual stream there: sum over its neurons of hook_post * W_out[:, n] plus
over its heads of hook_z @ W_O[h]. What a module's scalar activation is (PC1 of that write, or its contribution
to an output head) lives in `readouts.py`.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from modinterp.describe.subjects import Subject
from modinterp.models import BoardTransformer

_NEURON = re.compile(r"^blocks\.(\d+)\.mlp\.n(\d+)$")
_HEAD = re.compile(r"^blocks\.(\d+)\.attn\.h(\d+)$")


@dataclass
class ModuleUnits:
    """The activation-carrying units of one module: neurons and heads by layer, plus its other node names."""

    name: str
    neurons: dict[int, np.ndarray] = field(default_factory=dict)
    heads: dict[int, np.ndarray] = field(default_factory=dict)
    other_nodes: list[str] = field(default_factory=list)

    @property
    def n_units(self) -> int:
        """Neurons plus heads."""
        return sum(len(v) for v in self.neurons.values()) + sum(len(v) for v in self.heads.values())

    def layers(self) -> list[int]:
        """The layers the module has units in."""
        return sorted(set(self.neurons) | set(self.heads))

    def summary(self) -> str:
        """'layer 0 MLP neurons 3, 7; layer 1 attention heads 2 (3 units)'."""
        parts = [f"layer {i} MLP neurons {_ids(v)}" for i, v in sorted(self.neurons.items())]
        parts += [f"layer {i} attention heads {_ids(v)}" for i, v in sorted(self.heads.items())]
        if self.other_nodes:
            parts.append(f"{len(self.other_nodes)} input/output nodes ({', '.join(self.other_nodes[:4])}{'...' if len(self.other_nodes) > 4 else ''})")
        return "; ".join(parts) + f" ({self.n_units} units)"


def _ids(values: np.ndarray, limit: int = 8) -> str:
    """'3, 7, 19' (the first `limit` ids, then how many in all)."""
    head = ", ".join(str(int(v)) for v in values[:limit])
    return head + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def modules_from_labels(node_names: np.ndarray, labels: np.ndarray, prefix: str = "M") -> list[ModuleUnits]:
    """One ModuleUnits per partition label, parsed from the weight graph's node names."""
    labels = np.asarray(labels)
    if len(node_names) != len(labels):
        raise ValueError(f"{len(node_names)} node names but {len(labels)} labels; pass the partition of this graph")
    modules = []
    for label in np.unique(labels):
        unit = ModuleUnits(f"{prefix}{int(label)}")
        neurons: dict[int, list[int]] = {}
        heads: dict[int, list[int]] = {}
        for name in node_names[labels == label]:
            if m := _NEURON.match(str(name)):
                neurons.setdefault(int(m.group(1)), []).append(int(m.group(2)))
            elif m := _HEAD.match(str(name)):
                heads.setdefault(int(m.group(1)), []).append(int(m.group(2)))
            else:
                unit.other_nodes.append(str(name))
        unit.neurons = {k: np.array(sorted(v)) for k, v in neurons.items()}
        unit.heads = {k: np.array(sorted(v)) for k, v in heads.items()}
        modules.append(unit)
    return modules


def _hook_names(model: BoardTransformer) -> list[str]:
    """The hooks module writes and ablation use: every MLP hook_post and attention hook_z."""
    n = model.config.n_layers
    return [f"blocks.{i}.mlp.hook_post" for i in range(n)] + [f"blocks.{i}.attn.hook_z" for i in range(n)]


@torch.no_grad()
def module_writes(model: BoardTransformer, tokens: torch.Tensor, modules: list[ModuleUnits],
                  batch_size: int = 512) -> dict[str, dict[int, np.ndarray]]:
    """Each module's write into the residual stream at CLS, split by residual position (2i+1 heads of layer i,
    2i+2 neurons of layer i): {name: {position: (B, d_model) float64}}."""
    out: dict[str, dict[int, list[np.ndarray]]] = {m.name: {} for m in modules}
    for start in range(0, len(tokens), batch_size):
        _, cache = model.run_with_cache(tokens[start:start + batch_size], names=_hook_names(model))
        for m in modules:
            for i, ids in m.neurons.items():
                idx = torch.as_tensor(ids, device=_device(model))
                post = cache[f"blocks.{i}.mlp.hook_post"][:, -1, idx].float()
                write = post @ model.blocks[i].mlp.W_out.weight[:, idx].T.float()
                out[m.name].setdefault(2 * i + 2, []).append(write.double().cpu().numpy())
            for i, ids in m.heads.items():
                idx = torch.as_tensor(ids, device=_device(model))
                z = cache[f"blocks.{i}.attn.hook_z"][:, -1, idx].float()  # (B, h, d_head)
                write = torch.einsum("bhd,hdm->bm", z, model.blocks[i].attn.W_O[idx].float())
                out[m.name].setdefault(2 * i + 1, []).append(write.double().cpu().numpy())
    return {name: {p: np.concatenate(parts) for p, parts in sorted(by_pos.items())} for name, by_pos in out.items()}


def total_write(by_position: dict[int, np.ndarray]) -> np.ndarray:
    """The module's whole write (B, d_model): the sum over its residual positions."""
    return np.sum(list(by_position.values()), axis=0)


@contextmanager
def ablated(model: BoardTransformer, module: ModuleUnits, means: dict[str, torch.Tensor] | None = None):
    """Within the block, the module's neurons and heads are replaced by `means[hook]` (per position, same
    shape as one example) or zero when no means are given; hooks are removed on exit."""
    handles = []

    def replace(hook: str, idx: torch.Tensor, is_head: bool):
        """A forward hook writing `fill` into units `idx` of `hook`'s output."""
        def fn(_module, _args, output):
            output = output.clone()
            fill = means[hook].to(output.dtype) if means is not None else torch.zeros_like(output[0])
            if is_head:
                output[:, :, idx] = fill[:, idx]
            else:
                output[..., idx] = fill[..., idx]
            return output
        return fn

    points = dict(model.named_modules())
    try:
        for i, ids in module.neurons.items():
            hook = f"blocks.{i}.mlp.hook_post"
            handles.append(points[hook].register_forward_hook(replace(hook, torch.as_tensor(ids, device=_device(model)), False)))
        for i, ids in module.heads.items():
            hook = f"blocks.{i}.attn.hook_z"
            handles.append(points[hook].register_forward_hook(replace(hook, torch.as_tensor(ids, device=_device(model)), True)))
        yield model
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def mean_activations(model: BoardTransformer, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-position mean of every MLP/head hook over `tokens` (the values mean-ablation substitutes)."""
    _, cache = model.run_with_cache(tokens, names=_hook_names(model))
    return {k: v.float().mean(0) for k, v in cache.items()}


@torch.no_grad()
def model_outputs(model: BoardTransformer, tokens: torch.Tensor) -> dict[str, np.ndarray]:
    """The network's value, policy and concept outputs on `tokens`, as float64 arrays."""
    out = model(tokens)
    return {name: getattr(out, name).double().cpu().numpy() for name in ("value", "policy", "concepts")}


def _device(model: BoardTransformer) -> torch.device:
    """The device the model's parameters are on."""
    return next(model.parameters()).device


@dataclass
class TransformerModuleRunner:
    """A module of a BoardTransformer for evidence collection (a `ModuleRunner`): its activation is `readout`
    (`readouts.WritePC1` or `readouts.HeadContribution`, fitted) on the boards; ablating it replaces its units by
    `means` (mean ablation)."""

    model: BoardTransformer
    module: ModuleUnits
    readout: Callable[[np.ndarray], np.ndarray]
    means: dict[str, torch.Tensor]
    subject: Subject

    @property
    def name(self) -> str:
        """The module's name (M<label>)."""
        return self.module.name

    @property
    def units(self) -> str:
        """Human summary of the module's units."""
        return self.module.summary()

    def activation(self, inputs: np.ndarray) -> np.ndarray:
        """The module's readout on `inputs`."""
        return self.readout(inputs)

    def outputs(self, inputs: np.ndarray, ablate: bool) -> dict[str, np.ndarray]:
        """Value, policy and concept outputs on `inputs`, the module mean-ablated when `ablate`."""
        tokens = self.subject.tokens(self.model, inputs)
        if not ablate:
            return model_outputs(self.model, tokens)
        with ablated(self.model, self.module, self.means):
            return model_outputs(self.model, tokens)
