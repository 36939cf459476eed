"""DDP plumbing: read torchrun's environment, start the process group (gloo on CPU, NCCL on CUDA), wrap models.

A single process is world size 1 and needs none of this; the trainer asks `DistInfo.is_writer` before writing
any file, so only rank 0 touches the run directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from modinterp.device import pick_device


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_writer(self) -> bool:
        """Only rank 0 writes files (metrics, checkpoints, final weights, manifest)."""
        return self.rank == 0

    @classmethod
    def single(cls, device: torch.device) -> "DistInfo":
        return cls(rank=0, world_size=1, local_rank=0, device=device)


def init_distributed(device: str | None = None) -> DistInfo:
    """DistInfo from torchrun's RANK / WORLD_SIZE / LOCAL_RANK; starts the process group when world size > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo.single(pick_device(device))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    chosen = pick_device(device)
    if chosen.type == "cuda":
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo", rank=rank, world_size=world)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=chosen)


def wrap_model(model: nn.Module, info: DistInfo) -> nn.Module:
    """DDP-wrap `model` when running distributed; the raw model otherwise."""
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def mean_across_ranks(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a tensor over ranks (identity when not distributed)."""
    if info.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values /= info.world_size
    return values


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
