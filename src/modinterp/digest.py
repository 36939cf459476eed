"""Content digests of tensors and weights: one definition for checkpoints' checksums and the model hash that
generated data records."""

from __future__ import annotations

import hashlib
import json

import torch


def tensor_digest(t: torch.Tensor) -> str:
    """SHA-256 of a tensor's raw bytes (dtype and shape are checked by safetensors itself)."""
    flat = t.detach().contiguous().reshape(-1).view(torch.uint8)
    return hashlib.sha256(flat.cpu().numpy().tobytes()).hexdigest()


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the sorted {name: tensor SHA-256} JSON, the header checkpoint files carry."""
    digests = {name: tensor_digest(state[name]) for name in sorted(state)}
    return hashlib.sha256(json.dumps(digests, separators=(",", ":")).encode("utf-8")).hexdigest()
