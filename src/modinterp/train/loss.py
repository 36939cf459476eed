"""The training loss: BCE(value) + w_policy * CE(masked policy) + w_concept * MSE(concepts).

A term whose weight is 0 is still measured (for the logs) but detached, so its head gets no gradient and
AdamW skips it, as in the original where large models trained without the sector term.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from modinterp.data.batch import PositionBatch
from modinterp.models import masked_policy_logits


@dataclass(frozen=True)
class LossWeights:
    value: float = 1.0
    policy: float = 0.2
    concept: float = 0.8


@dataclass
class LossParts:
    """The weighted total (what is minimised) and the unweighted terms (what is reported)."""

    total: torch.Tensor
    value: torch.Tensor
    policy: torch.Tensor
    concept: torch.Tensor

    def detached(self) -> torch.Tensor:
        """The four numbers stacked (total, value, policy, concept): one tensor, one device sync to read."""
        return torch.stack([self.total, self.value, self.policy, self.concept]).detach().float()


def _weighted(weight: float, term: torch.Tensor) -> torch.Tensor:
    return weight * term if weight != 0 else term.detach() * 0.0


def compute_loss(output, batch: PositionBatch, weights: LossWeights) -> LossParts:
    """Loss of a `ModelOutput` (value logit, policy logits, concepts) against a batch's targets, in fp32."""
    if output.concepts.shape != batch.concepts.shape:
        raise ValueError(f"the model predicts concepts of shape {tuple(output.concepts.shape)} but the batch holds "
                         f"{tuple(batch.concepts.shape)}; build the model with n_concepts={batch.concepts.shape[1]}")
    value = F.binary_cross_entropy_with_logits(output.value.float(), batch.value.float())
    policy = F.cross_entropy(masked_policy_logits(output.policy.float(), batch.legal), batch.policy)
    concept = F.mse_loss(output.concepts.float(), batch.concepts.float())
    total = _weighted(weights.value, value) + _weighted(weights.policy, policy) + _weighted(weights.concept, concept)
    return LossParts(total=total, value=value.detach(), policy=policy.detach(), concept=concept.detach())
