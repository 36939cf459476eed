"""Validation: mean loss terms and accuracies of a model over a list of batches (no gradients, eval mode)."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from modinterp.data.batch import PositionBatch
from modinterp.device import autocast
from modinterp.models import masked_policy_logits
from modinterp.train.loss import LossWeights, compute_loss


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[PositionBatch], weights: LossWeights, device: torch.device,
             amp: bool = True) -> dict[str, float]:
    """Position-weighted means over `batches`: loss (weighted total), its terms, value and policy accuracy."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(6, dtype=torch.float64, device=device)
    n = 0
    try:
        for batch in batches:
            batch = batch.to(device, non_blocking=True)
            with autocast(device, enabled=amp):
                out = model(batch.tokens)
            parts = compute_loss(out, batch, weights)
            value_acc = ((out.value.float() > 0) == (batch.value > 0.5)).float().mean()
            policy_acc = (masked_policy_logits(out.policy.float(), batch.legal).argmax(-1) == batch.policy).float().mean()
            stats = torch.stack([parts.total, parts.value, parts.policy, parts.concept, value_acc, policy_acc])
            sums += stats.double() * len(batch)
            n += len(batch)
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("evaluate got no batches")
    means = (sums / n).tolist()
    keys = ("loss", "value_loss", "policy_loss", "concept_loss", "value_acc", "policy_acc")
    return {**dict(zip(keys, means)), "n_positions": float(n)}
