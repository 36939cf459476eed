"""The paired design: for one seed, every large condition starts from the same random weights in every element the
embedding does not touch, and the embedding masks say exactly which elements it copied or zeroed."""

from __future__ import annotations

import pytest
import torch

from modinterp.grow import parameter_masks
from modinterp.studies.growth.config import LARGE_CONDITIONS, load_study_config
from modinterp.studies.growth.models import (
    ElementwiseLrScale,
    batch_seed,
    grow_large,
    large_init,
    small_init,
    untouched_values,
)


@pytest.fixture(scope="module")
def config():
    return load_study_config("smoke", ["embedding.preserve_outputs=true"])


def constant_small(config, value: float):
    small = small_init(config, 0)
    with torch.no_grad():
        for p in small.parameters():
            p.fill_(value)
    return small


def test_large_init_is_the_same_for_every_call_with_a_seed_and_differs_between_seeds(config):
    a, b, other = large_init(config, 0), large_init(config, 0), large_init(config, 1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.blocks[0].attn.W_Q, other.blocks[0].attn.W_Q)


def test_masks_mark_exactly_what_embed_copied_and_zeroed(config):
    init = large_init(config, 0)
    grown = grow_large(config, "large-embed-aux", init, constant_small(config, 7.0))
    copied, zeroed = parameter_masks(grown.embedding_plan, small_init(config, 0), grown)
    for (name, p), (_, p0) in zip(grown.named_parameters(), init.named_parameters()):
        assert not (copied[name] & zeroed[name]).any(), name
        assert torch.all(p[copied[name]] == 7.0), name
        assert torch.all(p[zeroed[name]] == 0.0), name
        untouched = ~(copied[name] | zeroed[name])
        assert torch.equal(p[untouched], p0[untouched]), name


def test_untouched_parameters_are_identical_across_the_large_conditions_of_a_seed(config):
    init = large_init(config, 0)
    models = {c: grow_large(config, c, init, constant_small(config, 1.0 + i)) for i, c in enumerate(LARGE_CONDITIONS)}
    reference = models["large-embed-aux"]
    copied, zeroed = parameter_masks(reference.embedding_plan, small_init(config, 0), reference)
    values = {c: untouched_values(m, copied, zeroed) for c, m in models.items()}
    assert values["large-baseline"].numel() > 0
    assert torch.equal(values["large-baseline"], values["large-embed-aux"])
    assert torch.equal(values["large-baseline"], values["large-embed-noaux"])


def test_growing_does_not_modify_the_shared_init(config):
    init = large_init(config, 0)
    before = [p.clone() for p in init.parameters()]
    grow_large(config, "large-embed-aux", init, constant_small(config, 3.0))
    assert all(torch.equal(p, q) for p, q in zip(before, init.parameters()))


def test_every_condition_of_a_seed_shares_one_batch_stream_and_seeds_differ():
    assert batch_seed(0) == batch_seed(0) != batch_seed(1)


def _one_adamw_step(model, masks=None, multiplier=1.0):
    torch.manual_seed(0)  # only for the random input below; the models are seeded explicitly
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    if masks is not None:
        ElementwiseLrScale(model, masks, multiplier).attach(optimizer)
    tokens = torch.randint(0, 2, (4, model.config.seq_len))
    tokens[:, -1] = 2
    out = model(tokens)
    (out.value.sum() + out.policy.sum() + out.concepts.sum()).backward()
    optimizer.step()
    return model


@pytest.mark.parametrize("multiplier", [0.0, 0.25, 3.0])
def test_embedded_lr_multiplier_scales_the_update_of_masked_elements_only(config, multiplier):
    grown = grow_large(config, "large-embed-aux", large_init(config, 0), small_init(config, 0))
    copied, _ = parameter_masks(grown.embedding_plan, small_init(config, 0), grown)
    start = {n: p.detach().clone() for n, p in grown.named_parameters()}
    import copy

    plain = _one_adamw_step(copy.deepcopy(grown))
    scaled = _one_adamw_step(copy.deepcopy(grown), copied, multiplier)
    for (name, p), (_, q) in zip(plain.named_parameters(), scaled.named_parameters()):
        mask = copied[name]
        assert torch.equal(p[~mask], q[~mask]), name
        expected = start[name][mask] + multiplier * (p[mask] - start[name][mask])
        torch.testing.assert_close(q[mask], expected, rtol=0, atol=1e-7)
