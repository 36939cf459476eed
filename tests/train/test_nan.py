import pytest
import torch

from modinterp.train import checkpoint as ckpt
from modinterp.train.trainer import NonFiniteLossError


def _poison_at(step_to_poison):
    def callback(step, trainer):
        if step == step_to_poison:
            with torch.no_grad():
                trainer.model.value_head.weight.fill_(float("inf"))
    return callback


def test_non_finite_loss_stops_the_run_with_a_clear_message(tmp_path, make_trainer, config_factory):
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step 7 \(loss=nan.*last good checkpoint .*step-00000005 is kept"):
        make_trainer(config_factory(), tmp_path, callbacks=[_poison_at(7)]).fit()


def test_non_finite_loss_keeps_the_last_good_checkpoint_and_writes_no_final_model(tmp_path, make_trainer, config_factory):
    trainer = make_trainer(config_factory(), tmp_path, callbacks=[_poison_at(7)])
    with pytest.raises(NonFiniteLossError):
        trainer.fit()
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [5]
    weights = ckpt.load_tensors(tmp_path / "checkpoints" / "step-00000005" / "model.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert not (tmp_path / "final").exists()


def test_non_finite_step_is_not_applied_to_the_optimizer_state(make_trainer, config_factory):
    trainer = make_trainer(config_factory(checkpoint_every=0), None, callbacks=[_poison_at(7)])
    with pytest.raises(NonFiniteLossError):
        trainer.fit()
    steps = {float(s["step"]) for s in trainer.optimizer.state_dict()["state"].values()}
    assert steps == {7.0}  # seven updates applied, the eighth (non-finite) one not
