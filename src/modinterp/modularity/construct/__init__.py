"""Weight graphs and weight-block sets built from networks: one module per model family, one dispatch here.

    graph = graph_of(model, top_k=16)       # a WeightGraph, for the algorithms in modinterp.modularity
    nodes, blocks, info = blocks_of(model)  # the WeightBlocks a loss differentiates
    block_set = block_set_of(model)         # the same edges, fused for a per-step loss

Families: `mlp.py` (modinterp.models.MLP, nn.Sequential / nn.ModuleList of Linear layers) and
`board_transformer.py` (BoardTransformer: heads and neurons joined by virtual weights). A new family (a GPT)
adds a module with `<family>_blocks(model) -> (nodes, blocks, info)` (and a fused block set if the per-pair
blocks are slow to differentiate) and one `isinstance` branch in `blocks_of` / `block_set_of`.
"""

from __future__ import annotations

from torch import nn

from modinterp.modularity.construct.blocks import BlockSet, WeightBlock, graph_from_blocks
from modinterp.modularity.construct.canonical import canonicalize, ln_std_scaled
from modinterp.modularity.construct.board_transformer import (COUPLINGS, check_couplings, transformer_block_set,
                                                              transformer_blocks)
from modinterp.modularity.construct.mlp import mlp_blocks
from modinterp.modularity.graph import NodeTable, WeightGraph
from modinterp.models.mlp import MLP
from modinterp.models.transformer import BoardTransformer

__all__ = ["graph_of", "blocks_of", "block_set_of", "canonicalize", "ln_std_scaled", "graph_from_blocks", "WeightBlock", "BlockSet",
           "COUPLINGS", "check_couplings"]


def graph_of(model: nn.Module, *, drop_dead: bool = True, top_k: int | None = None,
             dead_tol: float = 1e-12, canonical: bool = False, couplings: str = "all") -> WeightGraph:
    """The weight graph of an MLP (modinterp.models.MLP / nn.Sequential / nn.ModuleList) or a BoardTransformer.

    `top_k` keeps only the k strongest edges of every node (an edge survives if it is in the top k of
    either endpoint); `drop_dead` removes hidden units with no incoming or no outgoing capacity. `canonical`:
    a BoardTransformer's heads enter through balanced weights (`construct/canonical.py`; MLPs: no effect).
    `couplings`: a BoardTransformer's unit pairs joined by an edge, "all" (every writer to every later reader)
    or "adjacent" (to the next layer's readers only; `board_transformer.py`). An MLP's graph joins adjacent
    layers only whatever the value (it has no skip connections).
    """
    nodes, blocks, info = blocks_of(model, canonical, couplings)
    return graph_from_blocks(nodes, blocks, drop_dead=drop_dead, dead_tol=dead_tol, top_k=top_k, info=info)


def blocks_of(model: nn.Module, canonical: bool = False,
              couplings: str = "all") -> tuple[NodeTable, list[WeightBlock], dict]:
    """(nodes, blocks, info) of the model, picked by its type (`canonical`, `couplings`: see `graph_of`)."""
    check_couplings(couplings)
    if isinstance(model, MLP):
        return mlp_blocks(list(model.layers))
    if isinstance(model, (nn.Sequential, nn.ModuleList)):
        return mlp_blocks(list(model))
    if isinstance(model, BoardTransformer):
        return transformer_blocks(model, canonical, couplings)
    raise TypeError(f"graph_of: unsupported model type {type(model).__name__}; expected an nn.Sequential/"
                    "nn.ModuleList MLP, modinterp.models.MLP or a BoardTransformer (or build the graph yourself "
                    "with WeightGraph.from_edges)")


def block_set_of(model: nn.Module, blocks: list[WeightBlock] | None = None, canonical: bool = False,
                 couplings: str = "all") -> BlockSet:
    """The model's edges as a `BlockSet` for per-step losses: fused for a BoardTransformer (6 blocks instead of
    one per writer/reader pair), else the model's own blocks (`blocks`, if already built)."""
    if isinstance(model, BoardTransformer):
        return transformer_block_set(model, canonical, couplings)
    return BlockSet.of(blocks if blocks is not None else blocks_of(model, canonical, couplings)[1])
