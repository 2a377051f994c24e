"""Multi-process audits under ``torchrun``: rank 0 prepares, every rank audits a shard.

``torchrun --nproc_per_node N -m auditor run config.yaml`` starts N processes. Rank 0 creates
the run directory, generates synthetic data and trains the models while the others wait;
then every rank audits the batches ``b`` with ``b % world_size == rank`` (each batch is a
result shard in the run directory); rank 0 merges the shards, analyses and writes the report.
Gloo on CPU, NCCL on GPUs (one GPU per local rank).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)

__all__ = ["Dist", "distributed_context"]


@dataclass(frozen=True)
class Dist:
    """This process's place in the job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        """Wait for every rank (no-op when not distributed)."""
        if self.enabled:
            dist.barrier()

    def device(self, device: torch.device) -> torch.device:
        """One GPU per local rank; CPU stays CPU."""
        if device.type == "cuda" and self.enabled:
            return torch.device("cuda", self.local_rank)
        return device


@contextmanager
def distributed_context(device: torch.device) -> Iterator[Dist]:
    """Join the ``torchrun`` job described by the environment, if any, and leave it after.

    Reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (set by torchrun); a process without
    them, or with ``WORLD_SIZE=1``, runs alone.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield Dist()
        return
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    owned = not dist.is_initialized()
    if owned:
        if device.type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    log.info("distributed audit: rank %d of %d", rank, world)
    try:
        yield Dist(rank=rank, world=world, local_rank=local)
    finally:
        if owned and dist.is_initialized():
            dist.destroy_process_group()
