"""A BoardTransformer (one layer, 4x4 board) with four planted disjoint sub-networks, for tree and ablation tests.

Module m (0..3): heads 2m, 2m+1, MLP neurons 32m..32m+31, residual dims 16m..16m+15. Module 0 is read by the
value head, module 1 by the policy head, module 2 by the concept head; module 3 by nothing (inert).
Every unit reads and writes only its module's dims (cross terms scaled by `cross`), and every reader's weights
sum to zero over the dims it reads, so the LayerNorm centering couples nothing across modules.
Inputs: the position embedding of cell p writes into module p // 4's dims (CLS into module 0's); the
cell-state embeddings (empty, occupied, CLS) write into every module's dims (scaled by `shared` outside
module 0), so that every module sees the board and the shared inputs are the only interface. The policy head's
output layer is scaled by `policy_gain` (its init logits barely vary, std ~0.02). Functionally the modules
still meet in the LayerNorms (each normalises by the norm over all dims).
"""

import numpy as np
import torch

from modinterp.models import BoardTransformer, TransformerConfig

CONFIG = TransformerConfig(rows=4, cols=4, d_model=64, n_layers=1, n_heads=8, d_head=8, d_mlp=128, n_concepts=4)
DIMS = torch.arange(64) // 16  # module of each residual dim
HEADS = np.arange(8) // 2
NEURONS = np.arange(128) // 32
READ_BY = {"value": 0, "policy": 1, "concept_head": 2}  # the output each module drives; module 3 drives none


def _mask(module: int, cross: float) -> torch.Tensor:
    """(d_model,) 1 on the module's dims, `cross` elsewhere."""
    return torch.where(DIMS == module, 1.0, cross)


def _zero_sum_read(weight: torch.Tensor, module: int, dim: int) -> torch.Tensor:
    """The read weights made to sum to zero over the module's own dims along `dim` (the residual axis)."""
    shape = [1] * weight.dim()
    shape[dim] = -1
    own = (DIMS == module).float().view(shape)
    return weight - (weight * own).sum(dim, keepdim=True) / own.sum() * own


def planted_transformer(cross: float = 1e-4, shared: float = 0.3, policy_gain: float = 30.0,
                        seed: int = 0) -> BoardTransformer:
    """The four-module BoardTransformer of the module docstring."""
    model = BoardTransformer(CONFIG, seed=seed)
    with torch.no_grad():
        for p in range(CONFIG.seq_len):
            model.pos_embed.weight[p] *= _mask(p // 4 if p < CONFIG.n_cells else 0, cross)
        model.state_embed.weight.mul_(torch.where(DIMS == 0, 1.0, shared))
        attn, mlp = model.blocks[0].attn, model.blocks[0].mlp
        for h, module in enumerate(HEADS):
            for w in (attn.W_Q, attn.W_K, attn.W_V):
                w[h] = _zero_sum_read(w[h] * _mask(module, cross)[:, None], module, 0)
            attn.W_O[h] *= _mask(module, cross)[None, :]
        for n, module in enumerate(NEURONS):
            mlp.W_in.weight[n] = _zero_sum_read(mlp.W_in.weight[n] * _mask(module, cross), module, 0)
            mlp.W_out.weight[:, n] *= _mask(module, cross)
        value, concept = model.value_head.weight, model.concept_head.weight
        value.copy_(_zero_sum_read(value * _mask(READ_BY["value"], cross), READ_BY["value"], 1))
        concept.copy_(_zero_sum_read(concept * _mask(READ_BY["concept_head"], cross), READ_BY["concept_head"], 1))
        fc = model.policy_head.fc_in.weight.view(64, 2, 64)
        fc.copy_(_zero_sum_read(fc * _mask(READ_BY["policy"], cross), READ_BY["policy"], 2))
        model.policy_head.fc_out.weight.mul_(policy_gain)
    return model.eval()
