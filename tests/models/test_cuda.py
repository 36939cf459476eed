"""The model and the embedding on CUDA (skipped without a GPU): bf16 autocast training and fp32 agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from modinterp.device import autocast
from modinterp.grow import embed, verify_embedding
from modinterp.models import build_model, masked_policy_logits
from modinterp.models.config import board_tokens

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
CUDA = torch.device("cuda")


def tokens_for(model, batch: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    boards = (rng.random((batch, model.config.n_cells)) < 0.4).astype(np.uint8)
    return torch.from_numpy(board_tokens(boards, model.config))


def test_cuda_fp32_forward_matches_cpu():
    model = build_model("small", 8, 8, seed=0)
    tokens = tokens_for(model, 16)
    expected = model(tokens)
    got = model.to(CUDA)(tokens.to(CUDA))
    for a, b in zip(expected, got):
        torch.testing.assert_close(b.cpu(), a, atol=1e-4, rtol=1e-4)


def test_bf16_autocast_training_step_reduces_the_loss():
    model = build_model("small", 8, 8, seed=0).to(CUDA)
    tokens = tokens_for(model, 64).to(CUDA)
    g = torch.Generator().manual_seed(0)
    value = torch.randint(0, 2, (64,), generator=g).float().to(CUDA)
    policy = torch.randint(0, model.config.n_moves, (64,), generator=g).to(CUDA)
    legal = torch.ones(64, model.config.n_moves, dtype=torch.bool, device=CUDA)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        with autocast(CUDA):
            out = model(tokens)
        assert out.policy.dtype == torch.bfloat16
        loss = F.binary_cross_entropy_with_logits(out.value.float(), value) + F.cross_entropy(
            masked_policy_logits(out.policy.float(), legal), policy)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < 0.7 * losses[0]


def test_embedding_verifies_on_cuda():
    small = build_model("cpu-small", 8, 8, seed=1).to(CUDA)
    large = build_model("cpu-large", 8, 8, seed=2).to(CUDA)
    report = verify_embedding(small, embed(small, large, preserve_outputs=True), tokens_for(small, 128).to(CUDA))
    assert report.passed
