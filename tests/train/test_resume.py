"""A run killed at any moment and resumed ends bit for bit where an uninterrupted run ends."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from modinterp.train import checkpoint as ckpt
from modinterp.train.checkpoint import load_tensors


class Killed(RuntimeError):
    pass


def _kill_at(step_to_die):
    def callback(step, trainer):
        if step == step_to_die:
            raise Killed(f"simulated kill after step {step}")
    return callback


def _final_state(run_dir):
    """Every tensor a run ends with: final weights and the last checkpoint's model and optimizer tensors."""
    last = ckpt.latest_checkpoint(run_dir / "checkpoints")[1]
    tensors = {f"final/{k}": v for k, v in load_tensors(run_dir / "final" / "model.safetensors").items()}
    tensors.update({f"ckpt/model/{k}": v for k, v in load_tensors(last / "model.safetensors").items()})
    tensors.update({f"ckpt/opt/{k}": v for k, v in load_tensors(last / "optimizer.safetensors").items()})
    return tensors


def _assert_same_run(a, b):
    ta, tb = _final_state(a), _final_state(b)
    assert ta.keys() == tb.keys()
    different = [k for k in ta if not torch.equal(ta[k], tb[k])]
    assert different == []
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, store):
    """The uninterrupted run every resumed run is compared with."""
    from modinterp.train.run import make_model, make_positions
    from modinterp.train.trainer import Trainer

    from .train_fixtures import fast_config

    run_dir = tmp_path_factory.mktemp("reference")
    config = fast_config()
    train, val = make_positions(config, store)
    Trainer(config, make_model(config, store), train, val, run_dir).fit()
    return run_dir


@pytest.mark.parametrize("die_after", [1, 5, 9, 10, 17, 23])
def test_killed_and_resumed_run_matches_uninterrupted_run_bitwise(tmp_path, make_trainer, config_factory, reference_run, die_after):
    config = config_factory()
    with pytest.raises(Killed):
        make_trainer(config, tmp_path, callbacks=[_kill_at(die_after)]).fit()
    make_trainer(config, tmp_path).fit(resume=True)
    _assert_same_run(reference_run, tmp_path)


def test_resume_after_a_random_kill_step_matches(tmp_path, make_trainer, config_factory, reference_run):
    die_after = int(np.random.default_rng(20261122).integers(1, 24))
    config = config_factory()
    with pytest.raises(Killed):
        make_trainer(config, tmp_path, callbacks=[_kill_at(die_after)]).fit()
    make_trainer(config, tmp_path).fit(resume=True)
    _assert_same_run(reference_run, tmp_path)


def test_kill_while_writing_a_checkpoint_leaves_the_previous_one_usable(tmp_path, make_trainer, config_factory,
                                                                         reference_run, monkeypatch):
    config = config_factory()
    real_save = ckpt.save_tensors
    calls = {"n": 0}

    def dying_save(path, tensors):
        calls["n"] += 1
        if calls["n"] == 4:  # the optimizer file of the second checkpoint (step 10)
            raise Killed("simulated kill inside a checkpoint write")
        return real_save(path, tensors)

    monkeypatch.setattr(ckpt, "save_tensors", dying_save)
    with pytest.raises(Killed):
        make_trainer(config, tmp_path).fit()
    monkeypatch.setattr(ckpt, "save_tensors", real_save)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [5]
    make_trainer(config, tmp_path).fit(resume=True)
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]
    _assert_same_run(reference_run, tmp_path)


def test_resume_drops_metrics_lines_written_after_the_checkpoint(tmp_path, make_trainer, config_factory):
    config = config_factory()
    with pytest.raises(Killed):
        make_trainer(config, tmp_path, callbacks=[_kill_at(9)]).fit()  # lines up to step 8 exist, checkpoint at 5
    steps_before = [int(line.split('"step": ')[1].split(",")[0].rstrip("}")) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert max(steps_before) == 8
    make_trainer(config.model_copy(update={"steps": 6}), tmp_path)  # building a trainer does not touch files
    trainer = make_trainer(config, tmp_path)
    trainer._restore(resume=True)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert trainer.step == 5 and all('"step": 8' not in line for line in lines) and any('"step": 4' in line for line in lines)


def test_resume_of_a_finished_run_changes_nothing(tmp_path, make_trainer, config_factory, reference_run):
    config = config_factory()
    make_trainer(config, tmp_path).fit()
    before = (tmp_path / "metrics.jsonl").read_bytes()
    result = make_trainer(config, tmp_path).fit(resume=True)
    assert result.step == config.steps
    assert (tmp_path / "metrics.jsonl").read_bytes() == before
    _assert_same_run(reference_run, tmp_path)


def test_starting_over_an_existing_run_without_resume_is_refused(tmp_path, make_trainer, config_factory):
    config = config_factory(steps=6)
    make_trainer(config, tmp_path).fit()
    with pytest.raises(FileExistsError, match="already holds checkpoints.*--resume"):
        make_trainer(config, tmp_path).fit()


def test_resume_with_another_batch_seed_is_refused(tmp_path, make_trainer, config_factory):
    make_trainer(config_factory(steps=6), tmp_path).fit()
    with pytest.raises(ckpt.CheckpointError, match="sampler seed is 0, this run has 5"):
        make_trainer(config_factory(steps=12, batch_seed=5), tmp_path).fit(resume=True)


def test_resume_with_another_model_config_is_refused(tmp_path, make_trainer, config_factory):
    """Same weight shapes, other masks: a one-way bus would load the two-way bus's weights and change the function."""
    modular = {"preset": "smoke", "overrides": {"n_modules": 2, "bus_width": 4}}
    make_trainer(config_factory(steps=6, model=modular), tmp_path).fit()
    one_way = {"preset": "smoke", "overrides": {"n_modules": 2, "bus_width": 4, "bus_writer": 1}}
    with pytest.raises(ckpt.CheckpointError, match="written for another model config \\(bus_writer: -1 -> 1\\)"):
        make_trainer(config_factory(steps=12, model=one_way), tmp_path).fit(resume=True)
    make_trainer(config_factory(steps=12, model=modular), tmp_path).fit(resume=True)  # the same config resumes


@pytest.mark.slow
def test_sigkilled_cli_run_resumes_to_the_same_weights(tmp_path, games_path):
    """A real process killed with SIGKILL mid-run, resumed by the CLI, ends where an uninterrupted run ends."""
    cli = [sys.executable, "-m", "modinterp.train", "--preset", "smoke", "--games", str(games_path),
           "--set", "positions.concept_kwargs={sector=[3,3]}", "--set", "val_positions.concept_kwargs={sector=[3,3]}",
           "--set", "checkpoint_every=7", "--set", "steps=200", "--set", "progress=false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cli + ["--out", str(tmp_path / "a")], check=True, env=env, capture_output=True)
    victim = subprocess.Popen(cli + ["--out", str(tmp_path / "b")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(ckpt.list_checkpoints(tmp_path / "b" / "checkpoints")) == 0:
        time.sleep(0.05)
    time.sleep(0.3)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (tmp_path / "b" / "final").exists(), "the run finished before it could be killed; raise steps"
    subprocess.run(cli + ["--out", str(tmp_path / "b"), "--resume"], check=True, env=env, capture_output=True)
    _assert_same_run(tmp_path / "a", tmp_path / "b")


def _modularity_term():
    from modinterp.modularity import ModularityLoss

    return ModularityLoss(0.5, k=2, refresh_every=7, top_k=8, warmup_steps=2, warmup_l1=1e-3, penalty_every=2)


def test_a_modularity_loss_term_is_trained_logged_and_resumed_exactly(tmp_path, make_trainer, config_factory):
    import json

    config = config_factory()
    make_trainer(config, tmp_path / "plain").fit()
    term = _modularity_term()
    make_trainer(config, tmp_path / "whole", loss_terms=[term]).fit()
    with pytest.raises(Killed):  # killed between refreshes (7, 14, 21), with a partition in use
        make_trainer(config, tmp_path / "resumed", loss_terms=[_modularity_term()], callbacks=[_kill_at(17)]).fit()
    make_trainer(config, tmp_path / "resumed", loss_terms=[_modularity_term()]).fit(resume=True)
    _assert_same_run(tmp_path / "whole", tmp_path / "resumed")
    plain, whole = _final_state(tmp_path / "plain"), _final_state(tmp_path / "whole")
    assert any(not torch.equal(plain[k], whole[k]) for k in plain)  # the term changed the training
    records = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in records if r["split"] == "train" and "modularity/penalty" in r]
    assert logged and all(r["loss"] > r["value_loss"] for r in logged)  # the logged loss includes the term
    assert logged[-1]["modularity/refreshes"] == 3.0
    assert term.refresh_seconds_ and len(term.refresh_seconds_) == 3  # steps 2, 9, 16 (first after warm-up, K=7)
    with pytest.raises(Killed):  # a checkpoint without the term's state cannot resume a run with the term
        make_trainer(config, tmp_path / "plain2", callbacks=[_kill_at(6)]).fit()
    with pytest.raises(ckpt.CheckpointError, match="loss term 0"):
        make_trainer(config, tmp_path / "plain2", loss_terms=[_modularity_term()]).fit(resume=True)


def _modularity_term_with_levers():
    from modinterp.train.config import ModularitySettings

    return ModularitySettings(lam=0.5, k=3, refresh_every=7, top_k=8, warmup_steps=2, form="ncut", graph="adjacent",
                              canonical=True, match_previous=True, accept_if_better=True).build()


def test_a_modularity_term_with_every_lever_on_resumes_exactly(tmp_path, make_trainer, config_factory):
    config = config_factory()
    term = _modularity_term_with_levers()
    make_trainer(config, tmp_path / "whole", loss_terms=[term]).fit()
    assert term.couplings == "adjacent" and term.canonical and term.provider.criterion == "normalized_cut"
    # refreshes at 2, 9, 16, 23; the last ones keep the previous partition (its n-cut is lower than the new one's)
    assert term.provider.last_info_["accepted"] is False
    # killed after step 12 (last checkpoint: step 10), between the refreshes at 9 and 16: the resumed run's refreshes
    # must match and compare against the partition restored from the checkpoint (without it, step 16 would take
    # the new partition)
    with pytest.raises(Killed):
        make_trainer(config, tmp_path / "resumed", loss_terms=[_modularity_term_with_levers()],
                     callbacks=[_kill_at(12)]).fit()
    resumed = _modularity_term_with_levers()
    make_trainer(config, tmp_path / "resumed", loss_terms=[resumed]).fit(resume=True)
    _assert_same_run(tmp_path / "whole", tmp_path / "resumed")
    np.testing.assert_array_equal(resumed.labels_, term.labels_)
    np.testing.assert_array_equal(resumed.provider.previous_, term.provider.previous_)
