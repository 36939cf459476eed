"""The study's models: seeded initial weights, the large model of each condition, and element-wise masks of
what the embedding copied (for the embedded-weights learning rate and the paired-design checks).

Paired design: for one seed, the large initial weights are drawn once from a seeded generator
(`large_init`); every large condition starts from a deep copy of them, and the embedded conditions then
overwrite only the copied and zeroed elements. So every element the embedding leaves alone is identical
across large-baseline and the embedded conditions (large-embed-aux, large-embed-noaux, and their -preserve
variants) of that seed.
"""

from __future__ import annotations

import copy
from typing import Mapping

import torch
from torch import nn

from modinterp.data.positions import n_concepts
from modinterp.data.store import derive_seed
from modinterp.games.domineering import BoardSpec
from modinterp.grow import embed
from modinterp.models import BoardTransformer, build_model
from modinterp.studies.growth.config import BASELINE, EMBEDDING_OF, GrowthStudyConfig, ModelSize

# Sub-streams of a study seed (see `derive_seed`), so the uses of one seed never share random numbers.
SMALL_INIT_STREAM, LARGE_INIT_STREAM, BATCH_STREAM = 10, 11, 12


def build_size(config: GrowthStudyConfig, size: ModelSize, init_seed: int) -> BoardTransformer:
    """A model of one size for the study's board and concept, drawn from `init_seed`."""
    spec = BoardSpec(config.board.rows, config.board.cols)
    fields = {"n_concepts": n_concepts(spec, config.position_config("train")),
              "side_to_move": config.positions.side_to_move_token, **size.overrides}
    return build_model(size.preset, config.board.rows, config.board.cols, seed=init_seed, **fields)


def small_init(config: GrowthStudyConfig, seed: int) -> BoardTransformer:
    """The small models' initial weights for `seed` (shared by small-aux and small-noaux: a paired pair)."""
    return build_size(config, config.small, derive_seed(seed, SMALL_INIT_STREAM))


def large_init(config: GrowthStudyConfig, seed: int) -> BoardTransformer:
    """The large models' initial weights for `seed`, shared by the three large conditions."""
    return build_size(config, config.large, derive_seed(seed, LARGE_INIT_STREAM))


def batch_seed(seed: int) -> int:
    """The training batch stream of every condition of `seed` (one stream: identical batches across conditions)."""
    return derive_seed(seed, BATCH_STREAM)


def grow_large(config: GrowthStudyConfig, condition: str, init: BoardTransformer,
               small: BoardTransformer | None) -> BoardTransformer:
    """The initial large model of `condition`: a deep copy of `init`, with `small` embedded unless baseline (with
    preserve_outputs as the condition's name says: '-preserve' for true)."""
    if condition != BASELINE and condition not in EMBEDDING_OF:
        raise ValueError(f"condition {condition!r} is not a large condition; expected one of "
                         f"{[BASELINE, *EMBEDDING_OF]}")
    large = copy.deepcopy(init)
    if condition == BASELINE:
        return large
    source, preserve = EMBEDDING_OF[condition]
    if small is None:
        raise ValueError(f"{condition} grows from {source}: pass its trained small model")
    e = config.embedding
    return embed(small, large, at_layer=e.at_layer, layers=e.layers, copy_heads=e.copy_heads, preserve_outputs=preserve)


def untouched_values(model: nn.Module, copied: Mapping[str, torch.Tensor], zeroed: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """All parameter elements the embedding neither copied nor zeroed, flattened in parameter order."""
    parts = [p.detach()[~(copied[name] | zeroed[name])].flatten() for name, p in model.named_parameters()]
    return torch.cat(parts)


class ElementwiseLrScale:
    """Scale the optimizer's update of chosen parameter elements by `multiplier` (the others are unchanged).

    AdamW's update (gradient step and decoupled weight decay) is proportional to the learning rate, so scaling
    the change of an element after `optimizer.step()` is exactly a per-element learning rate. Implemented
    with optimizer step hooks: a pre-hook keeps the masked parameters' values, a post-hook blends. Stateless
    between steps, so resuming from a checkpoint needs nothing extra.
    """

    def __init__(self, model: nn.Module, masks: Mapping[str, torch.Tensor], multiplier: float):
        if multiplier < 0:
            raise ValueError(f"multiplier must be >= 0, got {multiplier}")
        params = dict(model.named_parameters())
        unknown = sorted(set(masks) - set(params))
        if unknown:
            raise ValueError(f"masks name parameters the model lacks: {unknown[:4]}")
        self.multiplier = float(multiplier)
        self.targets = [(params[n], m.to(params[n].device)) for n, m in masks.items() if bool(m.any())]
        self._before: list[torch.Tensor] = []

    def attach(self, optimizer: torch.optim.Optimizer) -> "ElementwiseLrScale":
        if self.multiplier != 1.0 and self.targets:
            optimizer.register_step_pre_hook(self._keep)
            optimizer.register_step_post_hook(self._blend)
        return self

    @torch.no_grad()
    def _keep(self, optimizer, args, kwargs) -> None:
        self._before = [p.detach().clone() for p, _ in self.targets]

    @torch.no_grad()
    def _blend(self, optimizer, args, kwargs) -> None:
        for (p, mask), before in zip(self.targets, self._before):
            p.copy_(torch.where(mask, before + self.multiplier * (p - before), p))
        self._before = []
