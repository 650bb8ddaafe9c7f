"""Data-parallel training under ``torchrun``: the process group, each process's rows of a batch, DDP.

``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; :func:`setup` joins the process
group (NCCL on CUDA, Gloo on CPU). A global batch of ``--batch-size`` states is split by rows:
rank r of W takes rows r, r + W, r + 2W, ... (the order of ``DistributedSampler``). Every random
draw (batch indices, crops, noise) is made for the whole global batch from generators seeded alike
on every rank, then sliced, and DDP averages the gradients: W processes compute what one process
computes on the global batch, up to the order of floating-point sums.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ..checkpoints import resolve_device
from ..errors import SeaIceInputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shard:
    """This process's place in a data-parallel run: rank ``rank`` of ``world`` (0 of 1 alone)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """The process that writes checkpoints, model cards and logs."""
        return self.rank == 0

    @property
    def rows(self) -> slice:
        """This process's rows of a global batch."""
        return slice(self.rank, None, self.world)

    def local(self, batch_size: int) -> int:
        """Rows per process of a global batch of ``batch_size``."""
        if batch_size % self.world:
            raise SeaIceInputError("--batch-size", f"{batch_size} does not split across {self.world} processes",
                                   f"Use a multiple of {self.world}")
        return batch_size // self.world

    def randn(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        """Standard normal draws for the global batch of ``shape`` (this process's rows), on the generator's device."""
        full = torch.randn((shape[0] * self.world, *shape[1:]), generator=generator, device=generator.device)
        return full[self.rows].contiguous()

    def randint(self, high: int, size: int, generator: torch.Generator) -> Tensor:
        """Integers in [0, high) for a global batch; ``size`` is this process's row count."""
        return torch.randint(high, (size * self.world,), generator=generator, device=generator.device)[self.rows]

    def global_mean(self, mean: Tensor, weight: Tensor | None) -> Tensor:
        """Rescale this process's ``weight``-ed mean so DDP's average over processes is the weighted
        mean over the global batch (crops hold different numbers of ocean cells)."""
        if self.world == 1 or weight is None:
            return mean
        local = weight.detach().float().sum()
        total = local.clone()
        dist.all_reduce(total)
        return mean * (local * self.world / total)

    def average(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        """Scalars averaged over the processes (the losses a log or model card shows)."""
        if self.world == 1:
            return values
        stacked = torch.stack([v.detach().float() for v in values.values()])
        dist.all_reduce(stacked)
        return dict(zip(values, stacked / self.world))


def current_shard() -> Shard:
    """The shard of this process: from the process group when one is joined, else 0 of 1."""
    if dist.is_available() and dist.is_initialized():
        return Shard(dist.get_rank(), dist.get_world_size())
    return Shard()


def launched() -> bool:
    """Whether torchrun started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str = "auto") -> Shard:
    """Join the process group when torchrun started several processes (NCCL on CUDA, Gloo on CPU)."""
    if not launched() or dist.is_initialized():
        return current_shard()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "gloo"
    if resolve_device(device).type == "cuda":
        torch.cuda.set_device(local_rank)
        backend = "nccl"
    dist.init_process_group(backend)  # env:// rendezvous: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
    shard = current_shard()
    log.info("process %d of %d (%s, local rank %d)", shard.rank, shard.world, backend, local_rank)
    return shard


def teardown() -> None:
    """Leave the process group, if joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def local_device(device: str | torch.device = "auto") -> torch.device:
    """The device this process trains on: :func:`checkpoints.resolve_device` (the one resolver), then an
    index-free ``cuda`` -> this process's GPU (``cuda:LOCAL_RANK`` after :func:`setup`)."""
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return dev


class Entry(nn.Module):
    """Calls ``method`` of ``module`` as ``forward``: DDP syncs gradients only of calls through its forward."""

    def __init__(self, module: nn.Module, method: str) -> None:
        super().__init__()
        self.module = module
        self.method = method

    def forward(self, *args, **kwargs):
        return getattr(self.module, self.method)(*args, **kwargs)


def wrap(model: nn.Module, device: torch.device, entry: str = "forward") -> nn.Module:
    """What the loss calls: ``model`` (or its ``entry`` method), in DDP when the process group holds several."""
    net = model if entry == "forward" else Entry(model, entry)
    if current_shard().world > 1:
        net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    return net
