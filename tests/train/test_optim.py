import pytest
import torch

from modinterp.models import build_model
from modinterp.train.optim import build_optimizer, decay_names, resolve_lr_multipliers, set_learning_rate


@pytest.fixture
def model():
    return build_model("smoke", 4, 4, seed=0, n_concepts=4)


def _group_of(optimizer, name):
    return next(g for g in optimizer.param_groups if name in g["param_names"])


def test_only_weight_matrices_of_linear_and_attention_layers_decay(model):
    assert decay_names(model) == {
        "blocks.0.attn.W_Q", "blocks.0.attn.W_K", "blocks.0.attn.W_V", "blocks.0.attn.W_O",
        "blocks.0.mlp.W_in.weight", "blocks.0.mlp.W_out.weight",
        "value_head.weight", "concept_head.weight", "policy_head.fc_in.weight", "policy_head.fc_out.weight",
    }


def test_decay_all_decays_norms_biases_and_embeddings(model):
    assert decay_names(model, decay_all=True) == {n for n, _ in model.named_parameters()}


def test_optimizer_groups_carry_their_weight_decay(model):
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.1)
    assert _group_of(opt, "blocks.0.attn.W_Q")["weight_decay"] == 0.1
    for name in ("state_embed.weight", "pos_embed.weight", "blocks.0.ln1.weight", "blocks.0.mlp.W_in.bias"):
        assert _group_of(opt, name)["weight_decay"] == 0.0
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_lr_multiplier_scales_the_scheduled_rate_of_named_parameters(model):
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.0, lr_multipliers={"blocks.0.attn.W_Q": 0.1})
    set_learning_rate(opt, base_lr=1e-3, factor=0.5)
    assert _group_of(opt, "blocks.0.attn.W_Q")["lr"] == pytest.approx(0.5e-4)
    assert _group_of(opt, "blocks.0.attn.W_K")["lr"] == pytest.approx(0.5e-3)


def test_zero_multiplier_freezes_a_parameter_through_an_adamw_step(model):
    opt = build_optimizer(model, lr=1e-2, weight_decay=0.1, lr_multipliers={"blocks.0.mlp.W_in.weight": 0.0})
    frozen = model.blocks[0].mlp.W_in.weight.detach().clone()
    moving = model.blocks[0].mlp.W_out.weight.detach().clone()
    out = model(torch.full((3, 17), 0, dtype=torch.long).index_fill_(1, torch.tensor([16]), 2))
    (out.value.sum() + out.policy.sum() + out.concepts.sum()).backward()
    opt.step()
    assert torch.equal(model.blocks[0].mlp.W_in.weight, frozen)
    assert not torch.equal(model.blocks[0].mlp.W_out.weight, moving)


def test_patterns_match_many_names_and_exact_names_override_them(model):
    mults = resolve_lr_multipliers(model, names={"blocks.0.attn.W_Q": 2.0}, patterns={"blocks.0.attn.*": 0.5})
    assert mults == {"blocks.0.attn.W_Q": 2.0, "blocks.0.attn.W_K": 0.5, "blocks.0.attn.W_V": 0.5, "blocks.0.attn.W_O": 0.5}


def test_unknown_parameter_name_is_rejected_with_the_name(model):
    with pytest.raises(ValueError, match="'blocks.9.attn.W_Q'.*no parameter"):
        resolve_lr_multipliers(model, names={"blocks.9.attn.W_Q": 0.1})


def test_pattern_matching_nothing_is_rejected(model):
    with pytest.raises(ValueError, match=r"pattern 'decoder\.\*' matches no parameter"):
        resolve_lr_multipliers(model, patterns={"decoder.*": 0.1})
