"""The one place that decides where tensors live and which precision the math runs in.

Everything else asks this module: `pick_device()` for a torch.device and `autocast(device)` for a
context manager (bf16 autocast on CUDA, a no-op on CPU, so CPU runs stay bit-for-bit reproducible), and
`reuse_freed_memory()` for CPU training's allocator setting. (The cap on oneDNN's per-shape kernel cache is set
in `modinterp/__init__.py`, because it must precede any tensor op and that module does not import torch.)
"""

from __future__ import annotations

import contextlib
import functools
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


def reuse_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse (no mmap, no trim); True if it took effect.

    Why: glibc serves each block above its adaptive mmap threshold (32 MiB at most) with a fresh mapping, so
    every page of a large CPU tensor is faulted in and zeroed again at every step. The paper's large preset on
    16x16 trained 1.6-1.7x faster on CPU with this (docs/training.md); results are bit-identical. The cost: the
    process keeps its peak heap (7-12% more RSS there). Process-wide. A no-op off glibc Linux and when
    `MODINTERP_MALLOC=system` is set. PyTorch's CPU tuning guide suggests jemalloc/tcmalloc for the same reason.
    """
    if os.environ.get("MODINTERP_MALLOC", "").lower() == "system":
        return False
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # malloc.h
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 2**31 - 1))  # mallopt takes an int


@functools.cache
def _glibc_mallopt():
    """glibc's `mallopt(int, int)`, or None where the C library is not glibc (looked up once per process)."""
    import ctypes
    import ctypes.util
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt
