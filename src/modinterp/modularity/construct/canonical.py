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

One more free scale has no weight-only fix: a LayerNorm divides its input by its std, so scaling every write into a
normalised residual group (a modular model's slice or bus; the whole stream otherwise) by c, embeddings included,
leaves the function unchanged (to the LayerNorm's eps) and multiplies every virtual weight through that group by c.
Measured on a one-way bus of 4 (docs/modularity.md 8.8, run r13ow4 of 8.7): the bus x 0.25 moves the value by at most 1.5e-3 and turns
the tree from 0 to 1 non-trivial edge. `ln_std_scaled(model, tokens)` takes it out with data: a copy whose LayerNorm
gains are divided by the root mean variance each group has on `tokens` (the typical std the LayerNorm divides by), so
the graph weighs a write by what the reader sees of it, and scaling a group by c scales that std by c and leaves the
graph as it was.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from modinterp.models.subspace import normalised_groups
from modinterp.models.transformer import BoardTransformer

__all__ = ["canonicalize", "balanced_pair", "balanced_head_weights", "ln_std_scaled", "layer_norm_scales"]


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


def _layer_norms(model: BoardTransformer) -> dict[str, nn.Module]:
    norms = {f"blocks.{i}.{name}": getattr(block, name) for i, block in enumerate(model.blocks) for name in ("ln1", "ln2")}
    return {**norms, "ln_final": model.ln_final}


@torch.no_grad()
def layer_norm_scales(model: BoardTransformer, tokens: torch.Tensor, batch_size: int = 512) -> dict[str, torch.Tensor]:
    """Per LayerNorm, (d_model,): 1 / sqrt(mean variance + eps) of each residual group it normalises over `tokens`'
    positions, repeated over the group's dims (1 on a group it passes through, `bus_norm="none"`). The root of the
    mean variance, not the mean of 1 / std: both scale by 1/c when the group does, but at 2 dims a position's std
    is |a - b| / 2, often near 0, and the mean of its inverse is ruled by those few positions."""
    norms = _layer_norms(model)
    sums = {name: torch.zeros(model.config.d_model, dtype=torch.float64) for name in norms}

    def hook(name: str, groups: list[int]):
        def record(_module, inputs) -> None:
            sums[name] += torch.cat([part.var(dim=-1, unbiased=False).sum().expand(part.shape[-1])
                                     for part in inputs[0].double().split(groups, dim=-1)]).cpu()
        return record

    handles = [ln.register_forward_pre_hook(hook(name, getattr(ln, "groups", [model.config.d_model])))
               for name, ln in norms.items()]
    was_training = model.training
    try:
        model.eval()
        for start in range(0, len(tokens), batch_size):
            model(tokens[start:start + batch_size])
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    scales = {}
    for name, ln in norms.items():
        scale = torch.rsqrt(sums[name] / (len(tokens) * tokens.shape[1]) + ln.eps).float()
        scales[name] = torch.where(_normalised_dims(model, ln), scale, torch.ones_like(scale))
    return scales


def _normalised_dims(model: BoardTransformer, ln: nn.Module) -> torch.Tensor:
    """(d_model,) bool: the dims `ln` normalises (all but a bus it passes through)."""
    groups = getattr(ln, "groups", [model.config.d_model])
    flags = normalised_groups(len(groups), getattr(ln, "raw_last", False))
    return torch.repeat_interleave(torch.tensor(flags), torch.tensor(groups))


@torch.no_grad()
def ln_std_scaled(model: BoardTransformer, tokens: torch.Tensor) -> BoardTransformer:
    """A copy of `model` whose LayerNorm gains are multiplied by `layer_norm_scales` on `tokens`: for the weight graph
    only (its outputs differ), whose virtual weights then weigh a write by the reader's LayerNorm scale on the data.
    Not with `canonical=True`: balancing a head pairs its reads (scaled here) with its W_O (which carries the group's
    scale), so the balanced factors would move with the group's scale (`modinterp modules` refuses both)."""
    scales = layer_norm_scales(model, tokens)
    model = copy.deepcopy(model)
    for name, ln in _layer_norms(model).items():
        ln.weight.mul_(scales[name].to(ln.weight.device, ln.weight.dtype))
    return model
