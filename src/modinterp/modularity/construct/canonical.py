"""Canonical weights of a BoardTransformer: the same function, with the free rescalings taken out.

A BoardTransformer computes the same function under
- per head, W_Q -> W_Q A, W_K -> W_K A^-T (only W_Q W_K^T enters the attention scores);
- per head, W_V -> W_V B, W_O -> B^-1 W_O (only W_V W_O enters the output);
- a LayerNorm gain gamma -> c gamma with the weights that read the LayerNorm divided by c.
A weight graph or penalty built from raw weights changes under these (the virtual weights of a head's reads
and writes scale by A, B, c), so a loss can lower a cross-module fraction without changing what the network
computes (issue 18: read-side weights shrank 2x while W_out grew 3x). The canonical form fixes them:
- **balanced heads**: W_Q', W_K' = Q_l u sqrt(s), Q_r v sqrt(s) from the SVD u s v^T of the small factor
  of W_Q W_K^T (thin QR of each side first), so W_Q'^T W_Q' = W_K'^T W_K' = diag(s): the balanced
  factorisation, the same for every A up to a rotation/sign inside the head, which no Frobenius norm sees.
  W_V, W_O likewise from W_V W_O.
- **folded LayerNorm gains**: every LayerNorm's gain moves into the weights that read it (W_QKV, W_in, the
  output heads), its bias into their biases where they have one (MLP W_in, value/concept heads, policy
  fc_in). Attention has no biases, so ln1's bias stays, divided by the gain (exact); where a gain is 0 the
  dimension is left as it is.
`canonicalize(model)` returns such a copy (outputs equal to float rounding); `balanced_head_weights` is the same
balancing as differentiable torch ops, which the weight graph uses with `canonical=True`.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from modinterp.models.transformer import BoardTransformer

__all__ = ["canonicalize", "balanced_pair", "balanced_head_weights"]


def balanced_pair(left: torch.Tensor, right: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per batch entry, factors (L', R') of left @ right (left (..., d, r), right (..., r, d')) with
    L'^T L' = R' R'^T = diag(s), s the singular values of the product; differentiable where they are distinct."""
    q_l, r_l = torch.linalg.qr(left)
    q_r, r_r = torch.linalg.qr(right.transpose(-1, -2))
    u, s, vh = torch.linalg.svd(r_l @ r_r.transpose(-1, -2))
    root = s.sqrt()
    return q_l @ (u * root[..., None, :]), (root[..., :, None] * vh) @ q_r.transpose(-1, -2)


def balanced_head_weights(attn: nn.Module, gain: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(W_Q', W_K', W_V', W_O') of an attention layer read through a LayerNorm gain `gain` (folded in), from
    the weights forward uses (masked to each head's subspace in a modular model: the balanced factors span the
    same residual dimensions up to rounding, so they are masked again, leaving no rounding-level cross edges)."""
    g = gain[None, :, None]
    W_Q, W_K, W_V, W_O = attn.weights()
    q, k_t = balanced_pair(W_Q * g, (W_K * g).transpose(-1, -2))
    v, o = balanced_pair(W_V * g, W_O)
    k = k_t.transpose(-1, -2)
    if attn.mask is None:
        return q, k, v, o
    read, write = attn.mask[:, :, None], attn.write_mask[:, None, :]
    return q * read, k * read, v * read, o * write


@torch.no_grad()
def canonicalize(model: BoardTransformer) -> BoardTransformer:
    """A copy of `model` computing the same function with LayerNorm gains folded and heads balanced."""
    model = copy.deepcopy(model)
    for block in model.blocks:
        _fold_into_attention(block.ln1, block.attn)
        _fold_into_linear(block.ln2, block.mlp.W_in)
    _fold_final(model)
    return model


def _fold_into_attention(ln: nn.LayerNorm, attn: nn.Module) -> None:
    """ln1's gain into W_Q/K/V (then balanced); its bias stays, divided by the gain, as attention has no bias."""
    gain, bias = ln.weight.clone(), ln.bias.clone()
    live = gain != 0
    fold = torch.where(live, gain, torch.ones_like(gain))
    q, k, v, o = balanced_head_weights(attn, fold)
    for param, value in ((attn.W_Q, q), (attn.W_K, k), (attn.W_V, v), (attn.W_O, o)):
        param.copy_(value)
    ln.weight.copy_(torch.where(live, torch.ones_like(gain), gain))
    ln.bias.copy_(torch.where(live, bias / fold, bias))


def _fold_into_linear(ln: nn.LayerNorm, *linears: nn.Linear) -> None:
    """A LayerNorm read only by `linears` (each reading it whole): gain into their columns, bias into their bias."""
    for lin in linears:
        lin.bias.add_(lin.weight @ ln.bias)
        lin.weight.mul_(ln.weight[None, :])
    ln.weight.fill_(1.0)
    ln.bias.zero_()


def _fold_final(model: BoardTransformer) -> None:
    """ln_final into the value and concept heads and both halves of the policy head's fc_in."""
    model.zero_unread_columns()  # a routed head's unread columns would otherwise fold ln_final's bias into it
    ln, fc = model.ln_final, model.policy_head.fc_in
    d = ln.weight.shape[0]
    halves = fc.weight.view(-1, 2, d)
    fc.bias.add_(halves.sum(1) @ ln.bias)  # both cells of a move are read through the same LayerNorm
    halves.mul_(ln.weight)
    _fold_into_linear(ln, model.value_head, model.concept_head)
