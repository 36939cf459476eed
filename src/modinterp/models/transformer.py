"""BoardTransformer: a pre-LN transformer over Domineering boards, in data-flow order.

tokens (B, T) -> cell-state + position embeddings -> n_layers x [x += Attn(LN1 x); x += MLP(LN2 x)] -> final LN ->
value (logit from CLS), concepts (from CLS), policy (one logit per move, from the two cells the move covers).

Attention weights are per-head tensors (W_Q/W_K/W_V: (n_heads, d_model, d_head), W_O: (n_heads, d_head, d_model))
so that a head is addressable by index (embedding, ablation, graphs), yet all heads run as one matmul and one
`scaled_dot_product_attention` call. Activations are exposed at TransformerLens hook names (see `hook_names()`).

With `config.n_modules > 1` every head and neuron reads and writes only its module's residual slice and a shared
bus (fixed masks multiplied into the weights in forward; `weights()` / `w_in()` / `w_out()` return the masked
weights) and every LayerNorm normalises each slice separately: see `models/subspace.py`. With the default
n_modules = 1 there are no masks and the model is the unmasked one, bit for bit.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from modinterp.models.config import OUTPUT_HEADS, TransformerConfig
from modinterp.models.hooks import HookPoint, LayerNorm, NamesFilter, hook_points
from modinterp.models.hooks import run_with_cache as _run_with_cache
from modinterp.models.subspace import GroupLayerNorm, read_mask, residual_groups, unit_masks, unit_write_masks

__all__ = ["TransformerConfig", "BoardTransformer", "ModelOutput", "masked_policy_logits", "ILLEGAL_LOGIT"]


class ModelOutput(NamedTuple):
    """value (B,) logit that vertical wins; policy (B, n_moves) unmasked logits; concepts (B, n_concepts)."""

    value: torch.Tensor
    policy: torch.Tensor
    concepts: torch.Tensor


class Attention(nn.Module):
    """Multi-head self-attention (bidirectional, no biases) with per-head weight tensors."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.n_heads, self.d_head = cfg.n_heads, cfg.d_head
        shape_in = (cfg.n_heads, cfg.d_model, cfg.d_head)
        self.W_Q = nn.Parameter(torch.empty(shape_in))
        self.W_K = nn.Parameter(torch.empty(shape_in))
        self.W_V = nn.Parameter(torch.empty(shape_in))
        self.W_O = nn.Parameter(torch.empty(cfg.n_heads, cfg.d_head, cfg.d_model))
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        self.hook_pattern = HookPoint()  # (B, n_heads, T_query, T_key); computed only when hooked
        self.hook_z = HookPoint()  # (B, T, n_heads, d_head): each head's output before W_O
        self.register_buffer("mask", _masks(cfg, cfg.n_heads), persistent=False)  # (H, d) read mask or None
        self.register_buffer("write_mask", _write_masks(cfg, cfg.n_heads), persistent=False)  # (H, d) or None

    def weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(W_Q, W_K, W_V, W_O) as forward uses them: masked to each head's residual subspace when modular."""
        if self.mask is None:
            return self.W_Q, self.W_K, self.W_V, self.W_O
        read, write = self.mask[:, :, None], self.write_mask[:, None, :]
        return self.W_Q * read, self.W_K * read, self.W_V * read, self.W_O * write

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, d_model = x.shape
        heads, d_head = self.n_heads, self.d_head
        W_Q, W_K, W_V, W_O = self.weights()
        # One matmul for Q, K and V of every head: (3*H, d, dh) -> (d, 3*H*dh).
        w_qkv = torch.cat([W_Q, W_K, W_V]).permute(1, 0, 2).reshape(d_model, 3 * heads * d_head)
        # unbind, not indexing: its backward stacks the three gradients instead of zero-filling and adding.
        q, k, v = (x @ w_qkv).view(batch, seq, 3, heads, d_head).unbind(2)
        q = self.hook_q(q).transpose(1, 2)  # (B, H, T, dh)
        k = self.hook_k(k).transpose(1, 2)
        v = self.hook_v(v).transpose(1, 2)
        if self.hook_pattern.is_hooked:
            # Explicit softmax only when someone reads or patches the pattern (SDPA never materialises it).
            pattern = self.hook_pattern(torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d_head), dim=-1))
            z = pattern @ v
        else:
            z = F.scaled_dot_product_attention(q, k, v)  # scale 1/sqrt(d_head), as the original
        z = self.hook_z(z.transpose(1, 2))  # (B, T, H, dh)
        return z.reshape(batch, seq, heads * d_head) @ W_O.reshape(heads * d_head, d_model)


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.W_in = nn.Linear(cfg.d_model, cfg.d_mlp)
        self.W_out = nn.Linear(cfg.d_mlp, cfg.d_model)
        self.hook_pre = HookPoint()  # (B, T, d_mlp) before GELU
        self.hook_post = HookPoint()  # (B, T, d_mlp) after GELU
        self.register_buffer("mask", _masks(cfg, cfg.d_mlp), persistent=False)  # (d_mlp, d) read mask or None
        self.register_buffer("write_mask", _write_masks(cfg, cfg.d_mlp), persistent=False)  # (d_mlp, d) or None

    def w_in(self) -> torch.Tensor:
        """W_in's weight (d_mlp, d) as forward uses it: each neuron's row masked to its subspace when modular."""
        return self.W_in.weight if self.mask is None else self.W_in.weight * self.mask

    def w_out(self) -> torch.Tensor:
        """W_out's weight (d, d_mlp) as forward uses it: each neuron's column masked to its subspace."""
        return self.W_out.weight if self.mask is None else self.W_out.weight * self.write_mask.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mask is None:
            return self.W_out(self.hook_post(F.gelu(self.hook_pre(self.W_in(x)))))
        hidden = self.hook_post(F.gelu(self.hook_pre(F.linear(x, self.w_in(), self.W_in.bias))))
        return F.linear(hidden, self.w_out(), self.W_out.bias)


def _masks(cfg: TransformerConfig, n_units: int) -> torch.Tensor | None:
    """(n_units, d) 0/1 read/write masks of a layer's heads or neurons; None for an unmodular model."""
    return unit_masks(n_units, cfg.d_model, cfg.n_modules, cfg.bus_width, cfg.module_shares) if cfg.modular else None


def _write_masks(cfg: TransformerConfig, n_units: int) -> torch.Tensor | None:
    """(n_units, d) 0/1 write masks: the read masks, less the bus for non-writers of a one-way bus."""
    return (unit_write_masks(n_units, cfg.d_model, cfg.n_modules, cfg.bus_width, cfg.bus_writer, cfg.module_shares)
            if cfg.modular else None)


def _read_mask(cfg: TransformerConfig, head: str) -> torch.Tensor | None:
    """(d,) read mask of an output head routed to one module; None for a head that reads the whole stream."""
    module = getattr(cfg, f"{head}_module")
    return None if module < 0 else read_mask(cfg.d_model, cfg.n_modules, cfg.bus_width, module, cfg.module_shares)


def _layer_norm(cfg: TransformerConfig) -> LayerNorm:
    """A whole-stream LayerNorm, or one per residual slice for a modular model (models/subspace.py)."""
    if not cfg.modular:
        return LayerNorm(cfg.d_model, cfg.ln_eps)
    return GroupLayerNorm(cfg.d_model, residual_groups(cfg.d_model, cfg.n_modules, cfg.bus_width, cfg.module_shares),
                          cfg.ln_eps, raw_last=cfg.bus_width > 0 and cfg.bus_norm == "none")


class Block(nn.Module):
    """Pre-LN residual block: x += Attn(LN1 x); x += MLP(LN2 x)."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.ln1 = _layer_norm(cfg)
        self.attn = Attention(cfg)
        self.ln2 = _layer_norm(cfg)
        self.mlp = MLP(cfg)
        self.hook_resid_pre, self.hook_attn_out, self.hook_resid_mid = HookPoint(), HookPoint(), HookPoint()
        self.hook_mlp_out, self.hook_resid_post = HookPoint(), HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        x = self.hook_resid_mid(x + self.hook_attn_out(self.attn(self.ln1(x))))
        return self.hook_resid_post(x + self.hook_mlp_out(self.mlp(self.ln2(x))))


class PolicyHead(nn.Module):
    """One logit per move: Linear(2d, d) on [cell_a; cell_b] -> GELU -> Linear(d, 1), as the original.

    fc_in([a; b]) = W[:, :d] a + W[:, d:] b + bias, so each cell is projected once (B, rows, cols, 2d) and a
    move's two halves are added from shifted views of that grid: a vertical move pairs cell (r, c) with
    (r+1, c), a horizontal one (r, c) with (r, c+1). Flattening the two grids row-major gives the engine's move
    codes (vertical first; `games.domineering`). No (B, n_moves, 2d) concatenation and no gather.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.rows, self.cols = cfg.rows, cfg.cols
        self.fc_in = nn.Linear(2 * cfg.d_model, cfg.d_model)
        self.fc_out = nn.Linear(cfg.d_model, 1)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        batch, _, d = cells.shape
        w = self.fc_in.weight  # (d, 2d)
        both = F.linear(cells, torch.cat([w[:, :d], w[:, d:]])).view(batch, self.rows, self.cols, 2 * d)
        first, second = both[..., :d], both[..., d:]  # each cell as a move's top/left cell, as its other cell
        vertical = first[:, :-1] + second[:, 1:]  # (B, rows-1, cols, d)
        horizontal = first[:, :, :-1] + second[:, :, 1:]  # (B, rows, cols-1, d)
        pairs = torch.cat([vertical.flatten(1, 2), horizontal.flatten(1, 2)], dim=1)  # (B, n_moves, d), move order
        # One bias add over all moves: the bias gradient is one reduction in move order, bit for bit as before.
        return self.fc_out(F.gelu(pairs + self.fc_in.bias)).squeeze(-1)


class BoardTransformer(nn.Module):
    """The board transformer. `model(tokens) -> ModelOutput`; see the module docstring for the data flow."""

    def __init__(self, config: TransformerConfig, seed: int = 0):
        super().__init__()
        self.config = cfg = config
        self.state_embed = nn.Embedding(cfg.n_token_values, cfg.d_model)
        self.pos_embed = nn.Embedding(cfg.seq_len, cfg.d_model)
        self.hook_embed = HookPoint()  # cell-state embedding (B, T, d)
        self.hook_pos_embed = HookPoint()  # position embedding (T, d)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_final = _layer_norm(cfg)
        self.value_head = nn.Linear(cfg.d_model, 1)
        self.concept_head = nn.Linear(cfg.d_model, cfg.n_concepts)
        self.policy_head = PolicyHead(cfg)
        for head in OUTPUT_HEADS:  # (d,) 0/1 read mask of a routed head, or None (models/subspace.py)
            self.register_buffer(f"{head}_read", _read_mask(cfg, head), persistent=False)
        self.reset_parameters(torch.Generator().manual_seed(seed))

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """Initialise as the original, drawing only from `generator` (same seed -> same weights, bit for bit).

        Embeddings N(0, 1) (nn.Embedding's default); W_Q/K/V N(0, 1/d_model) and W_O N(0, 1/d_head) (variances);
        Linear layers PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)); LayerNorms weight 1, bias 0.
        A modular model draws the same numbers, then zeroes the masked entries (they get no gradient either).
        """
        for module in self.modules():
            if isinstance(module, nn.Embedding):
                module.weight.normal_(0.0, 1.0, generator=generator)
            elif isinstance(module, Attention):
                for w in (module.W_Q, module.W_K, module.W_V):
                    w.normal_(0.0, w.shape[1] ** -0.5, generator=generator)
                module.W_O.normal_(0.0, module.d_head ** -0.5, generator=generator)
            elif isinstance(module, nn.Linear):
                bound = module.in_features ** -0.5
                module.weight.uniform_(-bound, bound, generator=generator)
                module.bias.uniform_(-bound, bound, generator=generator)
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
        for block in self.blocks if self.config.modular else ():
            attn, mlp = block.attn, block.mlp
            for param, value in zip((attn.W_Q, attn.W_K, attn.W_V, attn.W_O, mlp.W_in.weight, mlp.W_out.weight),
                                    (*attn.weights(), mlp.w_in(), mlp.w_out())):
                param.copy_(value)
        self.zero_unread_columns()  # a routed head's unread columns start (and, without gradient, stay) at zero

    @torch.no_grad()
    def zero_unread_columns(self) -> None:
        """Zero the weight columns of routed output heads on the residual dimensions they do not read: forward
        masks their input anyway, so the function is unchanged; code that reads the raw weights (canonical
        folding, a state dict loaded from an unrouted model) then sees the routing too."""
        d = self.config.d_model
        for head, weight in (("value", self.value_head.weight), ("concept", self.concept_head.weight),
                             ("policy", self.policy_head.fc_in.weight.view(d, 2, d))):
            if self.read_mask(head) is not None:
                weight.mul_(self.read_mask(head))

    def forward(self, tokens: torch.Tensor) -> ModelOutput:
        x = self.embed_tokens(tokens)
        for block in self.blocks:
            x = block(x)
        return self.unembed(x)

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """The residual stream entering block 0: cell-state embedding + position embedding (B, T, d)."""
        self._check_tokens(tokens)
        return self.hook_embed(self.state_embed(tokens)) + self.hook_pos_embed(self.pos_embed.weight)

    def unembed(self, resid: torch.Tensor) -> ModelOutput:
        """Final LayerNorm and the three output heads, applied to a residual stream (B, T, d)."""
        x = self.ln_final(resid)
        cls, cells = x[:, -1], x[:, : self.config.n_cells]
        return ModelOutput(
            value=self.value_head(self._routed(cls, "value")).squeeze(-1),
            policy=self.policy_head(self._routed(cells, "policy")),
            concepts=self.concept_head(self._routed(cls, "concept")),
        )

    def read_mask(self, head: str) -> torch.Tensor | None:
        """(d,) 0/1 residual dimensions the output head ("value", "policy", "concept") reads when routed to one
        module (`TransformerConfig.value_module` etc.); None when it reads the whole stream."""
        return getattr(self, f"{head}_read")

    def _routed(self, x: torch.Tensor, head: str) -> torch.Tensor:
        mask = self.read_mask(head)
        return x if mask is None else x * mask

    def _check_tokens(self, tokens: torch.Tensor) -> None:
        cfg = self.config
        if tokens.dim() != 2 or tokens.shape[1] != cfg.seq_len:
            raise ValueError(f"tokens have shape {tuple(tokens.shape)}; expected (batch, {cfg.seq_len}) for a "
                             f"{cfg.rows}x{cfg.cols} board (cells{' + side-to-move' if cfg.side_to_move else ''} + CLS)")
        if tokens.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"tokens have dtype {tokens.dtype}; expected torch.long (use tokens.long())")
        # Value check on CPU only: on CUDA it would force a device sync every step.
        if tokens.device.type == "cpu" and not torch.compiler.is_compiling():
            low, high = int(tokens.min()), int(tokens.max())
            if low < 0 or high >= cfg.n_token_values:
                raise ValueError(f"token values span {low}..{high}; expected 0..{cfg.n_token_values - 1} "
                                 f"(0 empty, 1 occupied, 2 CLS{', 3/4 side to move' if cfg.side_to_move else ''})")

    # Inspection ----------------------------------------------------------------------------------------------
    def hook_names(self) -> list[str]:
        """All hook point names in data-flow order, e.g. 'blocks.0.attn.hook_z'."""
        return list(hook_points(self))

    def run_with_cache(self, tokens: torch.Tensor, names: NamesFilter = None, detach: bool = True):
        """(ModelOutput, {name: activation}) for the hook points selected by `names` (None = all)."""
        return _run_with_cache(self, tokens, names, detach)

    def count_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def illegal_logit(dtype: torch.dtype) -> float:
    """The logit given to illegal moves: -1e9, or the dtype's lowest finite value if that is higher (fp16)."""
    return max(-1e9, torch.finfo(dtype).min)


ILLEGAL_LOGIT = -1e9


def masked_policy_logits(policy: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    """Policy logits with illegal moves set to a large finite negative number (-1e9 in fp32/bf16).

    Why finite, not -inf: exp(-1e9 - max) underflows to exactly 0, so cross-entropy over the masked logits
    equals cross-entropy over the legal moves alone, yet a row with no legal move gives a finite (uniform)
    loss instead of NaN. Why -1e9 and not the original's -1e4: no trained logit can come near it.
    """
    if legal.shape != policy.shape or legal.dtype != torch.bool:
        raise ValueError(f"legal must be a bool tensor shaped like policy {tuple(policy.shape)}; "
                         f"got {legal.dtype} {tuple(legal.shape)}")
    return policy.masked_fill(~legal, illegal_logit(policy.dtype))
