import json

import pytest
import torch
from safetensors.torch import save as safetensors_bytes

from modinterp.models import build_model
from modinterp.train.checkpoint import (
    CheckpointError,
    flatten_optimizer_state,
    latest_checkpoint,
    load_model_weights,
    load_tensors,
    read_checkpoint,
    save_tensors,
    tensor_digest,
    unflatten_optimizer_state,
    write_checkpoint,
)
from modinterp.train.optim import build_optimizer


def _trained_pair(seed=0):
    model = build_model("smoke", 4, 4, seed=seed, n_concepts=4)
    opt = build_optimizer(model, lr=1e-2, weight_decay=0.1)
    tokens = torch.zeros(5, 17, dtype=torch.long)
    tokens[:, -1] = 2
    for _ in range(2):
        out = model(tokens)
        (out.value.square().sum() + out.policy.mean() + out.concepts.sum()).backward()
        opt.step()
        opt.zero_grad()
    return model, opt


def test_tensors_round_trip_bit_for_bit(tmp_path):
    tensors = {"a": torch.randn(3, 4, generator=torch.Generator().manual_seed(0)), "b": torch.arange(5), "c": torch.tensor(2.5)}
    save_tensors(tmp_path / "t.safetensors", tensors)
    loaded = load_tensors(tmp_path / "t.safetensors")
    assert loaded.keys() == tensors.keys()
    assert all(torch.equal(loaded[k], tensors[k]) and loaded[k].dtype == tensors[k].dtype for k in tensors)


def test_equal_tensors_give_byte_identical_files(tmp_path):
    tensors = {f"w{i}": torch.full((3,), float(i)) for i in range(12)}
    save_tensors(tmp_path / "a.safetensors", tensors)
    save_tensors(tmp_path / "b.safetensors", dict(reversed(tensors.items())))
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()


@pytest.mark.parametrize("corrupt", [False, True])
def test_files_with_one_checksum_entry_per_tensor_still_load_and_are_verified(tmp_path, corrupt):
    tensors = {"first": torch.zeros(4), "second": torch.arange(3.0)}
    digests = {f"sha256:{k}": tensor_digest(v) for k, v in tensors.items()}  # the layout of sessions 1-2
    if corrupt:
        digests["sha256:second"] = tensor_digest(torch.ones(3))
    path = tmp_path / "old.safetensors"
    path.write_bytes(safetensors_bytes(tensors, metadata=digests))
    if corrupt:
        with pytest.raises(CheckpointError, match=r"old\.safetensors: tensor 'second' does not match its checksum"):
            load_tensors(path)
    else:
        assert all(torch.equal(load_tensors(path)[k], v) for k, v in tensors.items())


def test_flipped_byte_in_a_tensor_is_rejected_naming_file_and_key(tmp_path):
    path = tmp_path / "t.safetensors"
    save_tensors(path, {"first": torch.zeros(64), "second": torch.ones(64)})
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF  # the data of the last tensor in the file ("second": keys are stored sorted)
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=r"t\.safetensors: tensor 'second' does not match its checksum"):
        load_tensors(path)


def test_truncated_file_is_rejected_naming_the_file(tmp_path):
    path = tmp_path / "t.safetensors"
    save_tensors(path, {"w": torch.ones(100)})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match=r"t\.safetensors: not a readable safetensors file"):
        load_tensors(path)


def test_loading_into_a_model_of_another_shape_names_the_differences(tmp_path):
    small = build_model("smoke", 4, 4, n_concepts=4)
    save_tensors(tmp_path / "m.safetensors", small.state_dict())
    other = build_model("smoke", 4, 4, n_concepts=6)
    with pytest.raises(CheckpointError) as info:
        load_model_weights(other, tmp_path / "m.safetensors")
    message = str(info.value)
    assert "concept_head.weight: checkpoint (4, 32) vs model (6, 32)" in message
    assert "concept_head.bias: checkpoint (4,) vs model (6,)" in message


def test_loading_into_a_deeper_model_names_missing_keys(tmp_path):
    save_tensors(tmp_path / "m.safetensors", build_model("smoke", 4, 4, n_concepts=4).state_dict())
    deeper = build_model("smoke", 4, 4, n_concepts=4, n_layers=2)
    with pytest.raises(CheckpointError, match=r"missing keys \['blocks\.1\.attn\.W_K'"):
        load_model_weights(deeper, tmp_path / "m.safetensors")


def test_optimizer_state_flattens_to_tensors_and_json_and_back():
    _, opt = _trained_pair()
    tensors, structure = flatten_optimizer_state(opt.state_dict())
    structure = json.loads(json.dumps(structure))  # must survive JSON
    rebuilt = unflatten_optimizer_state(tensors, structure, "mem")
    original = opt.state_dict()
    assert rebuilt["state"].keys() == original["state"].keys()
    for index, entries in original["state"].items():
        for name, value in entries.items():
            assert torch.equal(rebuilt["state"][index][name], value)


def test_checkpoint_restores_model_and_optimizer_exactly(tmp_path):
    model, opt = _trained_pair(seed=0)
    write_checkpoint(tmp_path, 7, model, opt, {"step": 7}, {"note": "x"})
    fresh, fresh_opt = _trained_pair(seed=1)
    state = read_checkpoint(tmp_path / "step-00000007", fresh, fresh_opt)
    assert state == {"step": 7}
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
    saved, loaded = opt.state_dict()["state"], fresh_opt.state_dict()["state"]
    assert all(torch.equal(saved[i][k], loaded[i][k]) for i in saved for k in saved[i])


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    model, opt = _trained_pair()
    for step in (5, 10, 15):
        write_checkpoint(tmp_path, step, model, opt, {"step": step}, {}, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000010", "step-00000015"]
    assert latest_checkpoint(tmp_path)[0] == 15


def test_checkpoint_is_safetensors_and_json_only(tmp_path):
    model, opt = _trained_pair()
    path = write_checkpoint(tmp_path, 1, model, opt, {"step": 1}, {"k": 1})
    assert sorted(p.name for p in path.iterdir()) == [
        "config.json", "model.safetensors", "optimizer.json", "optimizer.safetensors", "trainer_state.json"]
    assert set(load_tensors(path / "optimizer.safetensors")) == {
        f"state.{i}.{k}" for i in range(len(list(model.parameters()))) for k in ("step", "exp_avg", "exp_avg_sq")}
    assert json.loads((path / "config.json").read_text()) == {"k": 1}
