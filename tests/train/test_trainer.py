import json

import pytest
import torch

from modinterp.data.batch import PositionBatch
from modinterp.models import ModelOutput, build_model
from modinterp.train.loss import LossWeights, compute_loss
from modinterp.train.metrics import read_metrics
from modinterp.train.run import make_positions
from modinterp.train.trainer import Trainer


def _batch(n=4, n_moves=3, n_concepts=2):
    return PositionBatch(
        tokens=torch.zeros(n, 5, dtype=torch.long), value=torch.tensor([1.0, 0.0, 1.0, 0.0]),
        policy=torch.tensor([0, 2, 1, 0]), legal=torch.tensor([[1, 0, 1], [1, 1, 1], [0, 1, 0], [1, 0, 0]], dtype=torch.bool),
        concepts=torch.zeros(n, n_concepts), game_ids=torch.arange(n), plies=torch.arange(n))


def test_loss_is_the_weighted_sum_of_bce_masked_ce_and_mse():
    out = ModelOutput(value=torch.zeros(4), policy=torch.zeros(4, 3), concepts=torch.ones(4, 2))
    parts = compute_loss(out, _batch(), LossWeights(1.0, 0.2, 0.8))
    # BCE at logit 0 is ln 2; CE over k equal legal logits is ln k (k = 2, 3, 1, 1); MSE of ones vs zeros is 1
    policy = (torch.log(torch.tensor(2.0)) + torch.log(torch.tensor(3.0))) / 4
    assert parts.value.item() == pytest.approx(0.693147, abs=1e-6)
    assert parts.policy.item() == pytest.approx(policy.item(), abs=1e-6)
    assert parts.concept.item() == pytest.approx(1.0)
    assert parts.total.item() == pytest.approx(0.693147 + 0.2 * policy.item() + 0.8, abs=1e-6)


def test_zero_weighted_concept_term_gives_its_head_no_gradient():
    model = build_model("smoke", 4, 4, n_concepts=2)
    tokens = torch.zeros(4, 17, dtype=torch.long)
    tokens[:, -1] = 2
    legal = torch.ones(4, model.config.n_moves, dtype=torch.bool)
    batch = PositionBatch(tokens, torch.ones(4), torch.zeros(4, dtype=torch.long), legal, torch.ones(4, 2),
                          torch.arange(4), torch.arange(4))
    compute_loss(model(tokens), batch, LossWeights(1.0, 0.2, 0.0)).total.backward()
    assert model.concept_head.weight.grad is None and model.value_head.weight.grad is not None


def test_concept_width_mismatch_names_the_fix():
    out = ModelOutput(value=torch.zeros(4), policy=torch.zeros(4, 3), concepts=torch.ones(4, 16))
    with pytest.raises(ValueError, match="build the model with n_concepts=2"):
        compute_loss(out, _batch(), LossWeights())


def test_quick_validation_batches_depend_on_seed_and_step_only(store, config_factory):
    config = config_factory(val_batch_size=4)
    _, val_a = make_positions(config, store)
    _, val_b = make_positions(config.model_copy(update={"lr": 1.0, "batch_seed": 99}), store)
    assert val_a.quick_indices(800, 3) == val_b.quick_indices(800, 3)
    assert [val_a.quick_indices(s, 3) for s in range(6, 60, 6)] != [val_a.quick_indices(6, 3)] * 9


def test_metrics_file_has_train_quick_and_full_validation_lines(tmp_path, make_trainer, config_factory):
    make_trainer(config_factory(), tmp_path).fit()
    records = read_metrics(tmp_path / "metrics.jsonl")
    by_split = {s: [r["step"] for r in records if r["split"] == s] for s in ("train", "val_quick", "val_full")}
    assert by_split == {"train": [4, 8, 12, 16, 20, 24], "val_quick": [6, 12, 18, 24], "val_full": [12, 24]}
    assert {"loss", "value_loss", "policy_loss", "concept_loss", "grad_norm", "lr"} <= set(records[0])


def test_run_directory_holds_checkpoints_final_weights_metrics_and_manifest(tmp_path, make_trainer, config_factory):
    make_trainer(config_factory(tensorboard=True), tmp_path).fit()
    assert {p.name for p in tmp_path.iterdir()} == {"checkpoints", "final", "metrics.jsonl", "manifest.json", "tensorboard"}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["steps"] == 24
    assert json.loads((tmp_path / "final" / "config.json").read_text())["model"]["n_concepts"] == 4


def test_probe_hook_sees_the_model_at_step_zero_and_every_interval(tmp_path, make_trainer, config_factory):
    seen = []

    def probe(step, model):
        seen.append((step, model.training))
        return {"r2": step / 100}

    make_trainer(config_factory(probe_every=8), tmp_path, probe_hook=probe).fit()
    assert seen == [(0, False), (8, False), (16, False), (24, False)]
    probes = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r["split"] == "probe"]
    assert [(r["step"], r["r2"]) for r in probes] == [(0, 0.0), (8, 0.08), (16, 0.16), (24, 0.24)]


def test_same_batch_seed_gives_identical_runs_for_an_external_model(store, config_factory):
    config = config_factory(checkpoint_every=0, quick_val_every=0, full_val_every=0)
    finals = []
    for _ in range(2):
        model = build_model("smoke", 6, 6, seed=3, n_concepts=4)  # built outside the trainer, as the growth study does
        train, val = make_positions(config, store, batch_seed=7)
        Trainer(config, model, train, val).fit()
        finals.append(model.state_dict())
    assert all(torch.equal(finals[0][k], finals[1][k]) for k in finals[0])


def test_training_lowers_the_validation_loss_of_a_learnable_target(store, config_factory):
    """Sector move differences are a function of the board, so their validation MSE must fall; winners of random
    games are mostly noise, so the value loss is not a fair check at this size."""
    config = config_factory(steps=40, lr=1e-2, checkpoint_every=0, quick_val_every=0, full_val_every=0)
    train, val = make_positions(config, store)
    model = build_model("smoke", 6, 6, seed=0, n_concepts=4)
    trainer = Trainer(config, model, train, val)
    before = trainer.validate()["concept_loss"]
    trainer.fit()
    assert trainer.validate()["concept_loss"] < 0.5 * before


def _trained_weights(store, config, **update):
    """State dict of the smoke model after `config` (with `update` applied) trains on `store`."""
    train, val = make_positions(config, store)
    model = build_model("smoke", 6, 6, seed=0, n_concepts=4)
    Trainer(config.model_copy(update=update), model, train, val).fit()
    return model.state_dict()


@pytest.mark.slow
def test_compiled_model_trains_to_the_same_weights_as_eager_on_cpu(store, config_factory):
    """torch.compile (minutes on a small CPU) changes rounding only."""
    config = config_factory(steps=3, checkpoint_every=0, quick_val_every=0, full_val_every=0)
    weights = [_trained_weights(store, config, compile=compile_) for compile_ in (False, True)]
    for k in weights[0]:
        if k != "policy_head.fc_out.bias":  # zero true gradient: Adam turns rounding noise into +-lr steps
            torch.testing.assert_close(weights[0][k], weights[1][k], rtol=1e-3, atol=1e-4, msg=k)


def test_batches_built_in_a_worker_process_give_the_same_run_as_in_the_loop(store, config_factory):
    config = config_factory(steps=6, checkpoint_every=0, quick_val_every=0, full_val_every=0)
    finals = [_trained_weights(store, config, prefetch=prefetch) for prefetch in (False, True)]
    assert all(torch.equal(finals[0][k], finals[1][k]) for k in finals[0])


def test_a_cpu_trainer_tells_malloc_to_reuse_freed_memory(make_trainer, config_factory, monkeypatch):
    import modinterp.device

    calls = []
    monkeypatch.setattr(modinterp.device, "reuse_freed_memory", lambda: calls.append("cpu") or True)
    make_trainer(config_factory(device="cpu"))
    assert calls == ["cpu"]


def test_probe_steps_call_the_hook_at_exactly_the_listed_steps(tmp_path, make_trainer, config_factory):
    seen = []
    make_trainer(config_factory(probe_steps=[0, 1, 3, 10, 24]), tmp_path,
                 probe_hook=lambda step, model: seen.append(step) or {}).fit()
    assert seen == [0, 1, 3, 10, 24]


def test_probe_steps_without_step_zero_skip_the_initial_probe(tmp_path, make_trainer, config_factory):
    seen = []
    make_trainer(config_factory(probe_steps=[5, 20]), tmp_path, probe_hook=lambda step, model: seen.append(step) or {}).fit()
    assert seen == [5, 20]


@pytest.mark.parametrize("bad", [[], [0, 3, 3], [4, 2], [-1, 2], [0, 25]])
def test_probe_steps_must_be_increasing_and_within_the_run(config_factory, bad):
    with pytest.raises(ValueError, match="probe_steps"):
        config_factory(probe_steps=bad)


def test_probe_steps_and_probe_every_are_exclusive(config_factory):
    with pytest.raises(ValueError, match="probe_every=8 and probe_steps"):
        config_factory(probe_every=8, probe_steps=[0, 8])


def test_a_resumed_run_probes_exactly_the_steps_of_an_uninterrupted_one(tmp_path, make_trainer, config_factory):
    """Killed at step 11 (last checkpoint at 8): the resumed run probes 10 again and nothing twice in its metrics."""
    steps = [0, 2, 7, 10, 17, 24]
    config = config_factory(probe_steps=steps, checkpoint_every=4)

    def killer(step, trainer):
        if step == 11:
            raise RuntimeError("simulated kill")

    first = []
    with pytest.raises(RuntimeError, match="simulated kill"):
        make_trainer(config, tmp_path / "a", probe_hook=lambda s, m: first.append(s) or {"x": s},
                     callbacks=[killer]).fit()
    second = []
    make_trainer(config, tmp_path / "a", probe_hook=lambda s, m: second.append(s) or {"x": s}).fit(resume=True)
    assert first == [0, 2, 7, 10] and second == [10, 17, 24]
    reference = []
    make_trainer(config, tmp_path / "b", probe_hook=lambda s, m: reference.append(s) or {"x": s}).fit()
    assert reference == steps
    assert (tmp_path / "a" / "metrics.jsonl").read_bytes() == (tmp_path / "b" / "metrics.jsonl").read_bytes()
