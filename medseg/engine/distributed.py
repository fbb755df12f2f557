"""torch.distributed helpers for training and evaluation under ``torchrun``.

``torchrun --nproc_per_node=2 -m medseg.cli train --config ...`` sets ``RANK``/``WORLD_SIZE``/
``LOCAL_RANK``/``MASTER_ADDR``; :func:`init_distributed` then starts the process group (gloo
on CPU, NCCL on CUDA). Without those variables everything here is a no-op, so the same code
runs single-process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def init_distributed(backend: str | None = None) -> bool:
    """Start the process group when launched by ``torchrun``; return whether it is on.

    Args:
        backend: ``"gloo"`` or ``"nccl"``; default NCCL when CUDA is available, else gloo.
    """
    if is_distributed():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or "RANK" not in os.environ:
        return False
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def cleanup() -> None:
    if is_distributed():
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_sum(values: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """Sum a small vector of numbers over all processes (float64; returns a new tensor)."""
    t = torch.as_tensor(values, dtype=torch.float64).clone()
    if is_distributed():
        if dist.get_backend() == "nccl":
            t = t.cuda()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu()


def broadcast_object(obj):
    """Rank 0's ``obj`` on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class ShardSampler(torch.utils.data.Sampler):
    """Indices ``rank, rank + world, ...``: every sample exactly once over all ranks.

    For evaluation: ``DistributedSampler`` pads shards with repeated samples, which would
    count those samples twice in dataset-level metrics.
    """

    def __init__(self, dataset, rank_: int | None = None, world: int | None = None):
        self.n = len(dataset)
        self.rank = rank() if rank_ is None else rank_
        self.world = world_size() if world is None else world

    def __iter__(self):
        return iter(range(self.rank, self.n, self.world))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world))


def make_sampler(dataset, shuffle: bool, seed: int = 0, drop_last: bool = False, pad: bool = True):
    """A per-rank sampler under torch.distributed, else ``None`` (let the loader shuffle).

    Args:
        dataset: the dataset.
        shuffle, seed, drop_last: as for ``DistributedSampler`` (training).
        pad: ``False`` for evaluation: a :class:`ShardSampler` (no repeated samples).
    """
    if not is_distributed():
        return None
    if not pad:
        return ShardSampler(dataset)
    return torch.utils.data.distributed.DistributedSampler(
        dataset, shuffle=shuffle, seed=seed, drop_last=drop_last
    )


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside ``DistributedDataParallel`` (or the model itself)."""
    return model.module if hasattr(model, "module") else model
