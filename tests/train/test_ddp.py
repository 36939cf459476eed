"""The trainer under DDP (gloo, two CPU processes): ranks agree, and only rank 0 writes files."""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from modinterp.train.checkpoint import load_tensors, save_tensors

STEPS = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config():
    from .train_fixtures import fast_config

    return fast_config(steps=STEPS, checkpoint_every=3, quick_val_every=3, full_val_every=0)


def _worker(rank, world_size, port, games_path, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    from modinterp.data.store import GameStore
    from modinterp.train.distributed import init_distributed, shutdown_distributed
    from modinterp.train.run import make_model, make_positions
    from modinterp.train.trainer import Trainer

    dist = init_distributed("cpu")
    try:
        config, store = _config(), GameStore.load(games_path)
        train, val = make_positions(config, store)
        trainer = Trainer(config, make_model(config, store), train, val, os.path.join(out_dir, f"run-rank{rank}"), dist=dist)
        trainer.fit()
        save_tensors(os.path.join(out_dir, f"weights-rank{rank}.safetensors"), trainer.model.state_dict())
    finally:
        shutdown_distributed()


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, games_path):
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, _free_port(), str(games_path), str(out)), nprocs=2, join=True)
    return out


def test_both_ranks_end_with_identical_weights(ddp_run):
    w0 = load_tensors(ddp_run / "weights-rank0.safetensors")
    w1 = load_tensors(ddp_run / "weights-rank1.safetensors")
    assert w0.keys() == w1.keys()
    assert [k for k in w0 if not torch.equal(w0[k], w1[k])] == []


def test_only_rank_zero_writes_run_files(ddp_run):
    assert not (ddp_run / "run-rank1").exists()
    written = {p.name for p in (ddp_run / "run-rank0").iterdir()}
    assert {"checkpoints", "final", "metrics.jsonl", "manifest.json"} <= written


def test_ddp_matches_a_single_process_run_on_the_same_global_batches(ddp_run, make_trainer, tmp_path):
    """Two ranks each take half of every global batch; averaged gradients equal the full batch's (up to rounding)."""
    single = make_trainer(_config(), tmp_path)
    single.fit()
    ddp = load_tensors(ddp_run / "weights-rank0.safetensors")
    for name, value in single.model.state_dict().items():
        if name == "policy_head.fc_out.bias":
            continue  # shifts every policy logit alike: its true gradient is 0, Adam amplifies rounding noise to +-lr
        torch.testing.assert_close(ddp[name], value, rtol=1e-4, atol=1e-5, msg=name)
