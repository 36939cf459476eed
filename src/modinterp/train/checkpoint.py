"""Checkpoints: safetensors for every tensor (with a SHA-256 per tensor in the header), JSON for everything else.

The checksums sit in one header entry, "sha256", a JSON object sorted by tensor name: safetensors writes its
metadata from a hash map in random order, so one entry per tensor made equal weights give files that differ
byte for byte. Files written with one "sha256:NAME" entry per tensor (before that change) still load.

Layout of one checkpoint, written into a temporary folder and renamed into place (a reader sees all or nothing):
    checkpoints/step-00000100/model.safetensors       model weights
    checkpoints/step-00000100/optimizer.safetensors   optimizer state tensors, keys `state.{param index}.{name}`
    checkpoints/step-00000100/optimizer.json          the rest of the optimizer state (param groups, scalars)
    checkpoints/step-00000100/trainer_state.json      step, RNG states, log accumulators, sampler position
    checkpoints/step-00000100/config.json             the run's config
Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes

from modinterp.atomic import atomic_write_bytes, atomic_write_json
from modinterp.digest import tensor_digest
from modinterp.errors import ModinterpError
from modinterp.models import BoardTransformer, TransformerConfig, build_model

_CHECKSUMS_KEY = "sha256"  # header entry: JSON {tensor name: hex digest}, sorted
_LEGACY_CHECKSUM_PREFIX = "sha256:"  # older files: one "sha256:NAME" entry per tensor
_STEP_DIR = re.compile(r"^step-(\d{8})$")


class CheckpointError(ModinterpError, RuntimeError):
    """A checkpoint file is missing, damaged or does not fit the model/optimizer it is loaded into."""


class ModelPathError(ModinterpError, ValueError):
    """The path given does not lead to a model (no weights, or no config to build the model from)."""


# What to do about a damaged weights file, appended to each message that reports one.
_DAMAGED_FIX = ("replace it with an intact copy, or delete the damaged checkpoints/step-* folder of a run "
                "to resume from the one before")


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor]) -> Path:
    """Atomically write `tensors` as safetensors, with each tensor's SHA-256 in the header metadata.

    Deterministic: the same tensors always give the same bytes."""
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    digests = json.dumps({k: tensor_digest(cpu[k]) for k in sorted(cpu)}, separators=(",", ":"))
    return atomic_write_bytes(path, safetensors_bytes(cpu, metadata={_CHECKSUMS_KEY: digests}))


def _expected_digests(path: Path, meta: dict[str, str]) -> dict[str, str]:
    """The header's checksums by tensor name, from either header layout."""
    if _CHECKSUMS_KEY in meta:
        try:
            return json.loads(meta[_CHECKSUMS_KEY])
        except json.JSONDecodeError:
            raise CheckpointError(
                f"{path}: header entry {_CHECKSUMS_KEY!r} is not valid JSON; the file is damaged: {_DAMAGED_FIX}") from None
    n = len(_LEGACY_CHECKSUM_PREFIX)
    return {k[n:]: v for k, v in meta.items() if k.startswith(_LEGACY_CHECKSUM_PREFIX)}


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file written by `save_tensors`, verifying every tensor against its checksum."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        handle = safe_open(str(path), framework="pt")
    except OSError as err:
        raise CheckpointError(f"{path}: cannot be read ({err.strerror or err})") from None
    except Exception as err:  # safetensors raises its own error types for damaged headers
        raise CheckpointError(f"{path}: not a readable safetensors file (damaged header or truncated: {err}); "
                              f"{_DAMAGED_FIX}") from None
    with handle as f:
        expected_digests = _expected_digests(path, f.metadata() or {})
        out: dict[str, torch.Tensor] = {}
        for key in f.keys():
            try:
                tensor = f.get_tensor(key)
            except Exception as err:
                raise CheckpointError(f"{path}: tensor {key!r} cannot be read ({err}); the file is damaged: "
                                      f"{_DAMAGED_FIX}") from None
            expected = expected_digests.get(key)
            if expected is None:
                raise CheckpointError(f"{path}: tensor {key!r} has no checksum in the header; not written by modinterp")
            if tensor_digest(tensor) != expected:
                raise CheckpointError(f"{path}: tensor {key!r} does not match its checksum; the file is damaged: "
                                      f"{_DAMAGED_FIX}")
            out[key] = tensor
    return out


def check_state_fits(expected: dict[str, torch.Tensor], loaded: dict[str, torch.Tensor], source: str | Path) -> None:
    """Raise CheckpointError naming every missing key, unexpected key and shape difference."""
    missing = sorted(set(expected) - set(loaded))
    unexpected = sorted(set(loaded) - set(expected))
    shapes = [
        f"{k}: checkpoint {tuple(loaded[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(loaded))
        if tuple(loaded[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    if shapes:
        problems.append("shape differences [" + "; ".join(shapes) + "]")
    if problems:
        raise CheckpointError(f"{source} does not fit the model: " + ", ".join(problems) + "; build the model with the config saved beside the checkpoint")


def load_model_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load verified weights into `model` after checking keys and shapes agree exactly."""
    tensors = load_tensors(path)
    check_state_fits(model.state_dict(), tensors, path)
    model.load_state_dict(tensors, strict=True)


def load_trained_model(path: str | Path, *, model_preset: str | None = None, board: int | None = None,
                       device: torch.device | str | None = None) -> tuple[BoardTransformer, Path]:
    """(model in eval mode on `device`, default CPU; its folder) from a run directory (its final/), a checkpoint
    directory (model.safetensors + config.json) or a .safetensors file (config.json beside it, else
    `model_preset` and `board`). The one loader of trained models for every command."""
    path = Path(path)
    if path.is_dir() and (path / "final" / "model.safetensors").exists():
        path = path / "final"
    weights = path / "model.safetensors" if path.is_dir() else path
    if not weights.exists():
        raise ModelPathError(f"{weights} does not exist; expected a run directory (with final/model.safetensors, "
                             "written by `modinterp train --out DIR`), a checkpoint directory or a .safetensors file")
    config_path = weights.parent / "config.json"
    if config_path.exists():
        config = _read_json(config_path)
        if "model" not in config:
            raise ModelPathError(f"{config_path}: no 'model' section; expected the trainer's run config")
        model = BoardTransformer(TransformerConfig.from_dict(config["model"]))
    elif model_preset and board:
        model = build_model(model_preset, board, board)
    else:
        raise ModelPathError(f"no config.json beside {weights}; pass --model-preset and --board")
    load_model_weights(model, weights)
    return model.to(device or "cpu").eval(), weights.parent


def flatten_optimizer_state(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split `optimizer.state_dict()` into tensors (for safetensors) and a JSON-ready structure."""
    tensors: dict[str, torch.Tensor] = {}
    per_param: dict[str, dict[str, Any]] = {}
    for index, entries in state["state"].items():
        record: dict[str, Any] = {}
        for name, value in entries.items():
            if torch.is_tensor(value):
                key = f"state.{index}.{name}"
                tensors[key] = value
                record[name] = {"tensor": key}
            else:
                record[name] = {"value": value}
        per_param[str(index)] = record
    return tensors, {"state": per_param, "param_groups": state["param_groups"]}


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], structure: dict[str, Any], source: str | Path) -> dict[str, Any]:
    """Rebuild an optimizer state dict from `flatten_optimizer_state`'s two halves."""
    state: dict[int, dict[str, Any]] = {}
    for index, record in structure["state"].items():
        entries: dict[str, Any] = {}
        for name, slot in record.items():
            if "tensor" in slot:
                if slot["tensor"] not in tensors:
                    raise CheckpointError(f"{source}: optimizer tensor {slot['tensor']!r} is missing")
                entries[name] = tensors[slot["tensor"]]
            else:
                entries[name] = slot["value"]
        state[int(index)] = entries
    return {"state": state, "param_groups": structure["param_groups"]}


def check_optimizer_fits(optimizer: torch.optim.Optimizer, state: dict[str, Any], source: str | Path) -> None:
    """Raise CheckpointError if the saved groups or moment shapes differ from the optimizer's parameters."""
    saved_groups = state["param_groups"]
    groups = optimizer.param_groups
    if len(saved_groups) != len(groups):
        raise CheckpointError(f"{source}: {len(saved_groups)} parameter groups saved, the optimizer has {len(groups)}")
    index = 0
    for g, (saved, group) in enumerate(zip(saved_groups, groups)):
        names = group.get("param_names") or [f"param {i}" for i in range(len(group["params"]))]
        if saved.get("param_names") is not None and list(saved["param_names"]) != list(names):
            raise CheckpointError(f"{source}: group {g} holds {saved['param_names']}, the optimizer's holds {names}")
        for name, p in zip(names, group["params"]):
            for slot, value in state["state"].get(index, {}).items():
                if torch.is_tensor(value) and value.ndim > 0 and tuple(value.shape) != tuple(p.shape):
                    raise CheckpointError(f"{source}: optimizer {slot} of {name} has shape {tuple(value.shape)}, the parameter {tuple(p.shape)}")
            index += 1


def step_dir_name(step: int) -> str:
    return f"step-{step:08d}"


def list_checkpoints(checkpoint_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (renamed into place) under `checkpoint_dir`, oldest first."""
    root = Path(checkpoint_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))]
    return sorted(found)


def latest_checkpoint(checkpoint_dir: str | Path) -> tuple[int, Path] | None:
    found = list_checkpoints(checkpoint_dir)
    return found[-1] if found else None


def write_checkpoint(
    checkpoint_dir: str | Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
    config: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write a complete checkpoint for `step` atomically, then delete all but the newest `keep` ones."""
    root = Path(checkpoint_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / step_dir_name(step)
    tmp = root / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    opt_tensors, opt_structure = flatten_optimizer_state(optimizer.state_dict())
    save_tensors(tmp / "model.safetensors", model.state_dict())
    save_tensors(tmp / "optimizer.safetensors", opt_tensors)
    atomic_write_json(tmp / "optimizer.json", opt_structure)
    atomic_write_json(tmp / "trainer_state.json", trainer_state)
    atomic_write_json(tmp / "config.json", config)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    for _, old in list_checkpoints(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
    """Load weights (and optimizer state) from checkpoint folder `path`; return its trainer state."""
    path = Path(path)
    load_model_weights(model, path / "model.safetensors")
    if optimizer is not None:
        tensors = load_tensors(path / "optimizer.safetensors")
        structure = _read_json(path / "optimizer.json")
        state = unflatten_optimizer_state(tensors, structure, path / "optimizer.safetensors")
        check_optimizer_fits(optimizer, state, path / "optimizer.safetensors")
        optimizer.load_state_dict(state)
    return _read_json(path / "trainer_state.json")


def clean_partial_checkpoints(checkpoint_dir: str | Path) -> None:
    """Remove temporary folders left by a run killed while writing a checkpoint."""
    root = Path(checkpoint_dir)
    if root.is_dir():
        for p in root.iterdir():
            if p.name.startswith(".step-") and ".tmp-" in p.name:
                shutil.rmtree(p, ignore_errors=True)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint file not found") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: damaged JSON ({err})") from None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
