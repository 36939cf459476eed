"""The one place that decides where tensors live and which precision the math runs in.

Everything else asks this module: `pick_device()` for a torch.device and `autocast(device)` for a
context manager (bf16 autocast on CUDA, a no-op on CPU, so CPU runs stay bit-for-bit reproducible).
"""

from __future__ import annotations

import contextlib
import os

import torch


def pick_device(requested: str | None = None) -> torch.device:
    """Return the requested device, else CUDA when present, else CPU.

    `MODINTERP_DEVICE` in the environment overrides the automatic choice (e.g. to force `cpu`).
    """
    name = requested or os.environ.get("MODINTERP_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} was requested but CUDA is not available; use 'cpu'")
    return device


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA; on CPU a null context (fp32 keeps results exactly reproducible)."""
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def supports_bf16(device: torch.device) -> bool:
    """Whether bf16 math is worth using on this device (Ampere or newer GPUs)."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()
