"""Activation capture for probes: the CLS residual stream after every block and after the final LayerNorm.

Layer labels are "0" .. str(n_layers - 1) (hook `blocks.{i}.hook_resid_post`) and "final_ln"
(hook `ln_final.hook_normalized`). The CLS token is the last position of the token sequence.
"""

from __future__ import annotations

import torch
from torch import nn

from modinterp.device import autocast

FINAL_LN = "final_ln"


def layer_hook_names(n_layers: int) -> dict[str, str]:
    """Layer label -> TransformerLens hook name, in data-flow order, ending with the final LayerNorm output."""
    names = {str(i): f"blocks.{i}.hook_resid_post" for i in range(n_layers)}
    names[FINAL_LN] = "ln_final.hook_normalized"
    return names


def model_layers(model: nn.Module) -> list[str]:
    """The layer labels a model offers for probing ("0" .. "n-1", "final_ln")."""
    if not isinstance(getattr(model, "blocks", None), nn.ModuleList):
        raise TypeError(f"{type(model).__name__} has no `blocks` ModuleList; expected a BoardTransformer-like model")
    return list(layer_hook_names(len(model.blocks)))


@torch.no_grad()
def capture_cls_residuals(model: nn.Module, tokens: torch.Tensor, layers: list[str] | None = None,
                          batch_size: int = 1024) -> dict[str, torch.Tensor]:
    """CLS activations {layer label: (N, d_model) float32 CPU tensor} for `tokens` (N, T), batched, without grad.

    The model runs in eval mode on its own device under `modinterp.device.autocast` (bf16 on CUDA), and is put
    back in its previous mode afterwards.
    """
    available = layer_hook_names(len(model.blocks)) if hasattr(model, "blocks") else {}
    layers = list(available) if layers is None else list(layers)
    unknown = [layer for layer in layers if layer not in available]
    if unknown:
        raise KeyError(f"layers {unknown} are not probe layers of this model; expected some of {list(available)}")
    if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2:
        raise ValueError(f"tokens: expected a 2D LongTensor (n_positions, seq_len), got {getattr(tokens, 'shape', type(tokens))}")
    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size}")
    device = next(model.parameters()).device
    hook_names = [available[layer] for layer in layers]
    chunks: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(tokens), batch_size):
            batch = tokens[start:start + batch_size].to(device)
            with autocast(device):
                _, cache = model.run_with_cache(batch, names=hook_names)
            for layer, name in zip(layers, hook_names):
                chunks[layer].append(cache[name][:, -1].float().cpu())
    finally:
        model.train(was_training)
    return {layer: torch.cat(parts) if parts else torch.empty(0) for layer, parts in chunks.items()}
