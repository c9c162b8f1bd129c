"""One process or many (torchrun): the process group, this process's rank and device, and small collectives.

torchrun sets WORLD_SIZE, RANK and LOCAL_RANK; without them (or with WORLD_SIZE=1) training runs single-process.
The backend is NCCL on CUDA (one GPU per process, cuda:LOCAL_RANK) and gloo on CPU.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..streaming import resolve_device


@dataclass(frozen=True)
class Distributed:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise mean of a tensor over the ranks (the tensor itself when single-process)."""
        if not self.enabled:
            return values
        values = values.clone()
        dist.all_reduce(values)
        return values / self.world_size

    def close(self) -> None:
        if self.enabled:
            dist.destroy_process_group()


def setup(device: str) -> Distributed:
    """Join the torchrun process group when there is one; ``device`` is "auto", "cpu", "cuda", ..."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    resolved = resolve_device(device)
    if world_size == 1:
        return Distributed(0, 1, resolved)
    local_rank = int(os.environ["LOCAL_RANK"])
    if resolved.type == "cuda":
        resolved = torch.device("cuda", local_rank)
        torch.cuda.set_device(resolved)
    dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), resolved)
