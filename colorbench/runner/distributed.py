"""torch.distributed for ``torchrun ... -m colorbench run``: who computes which chunk.

Rank 0 is the only process that touches the results store: it holds the lock, decides
which chunks are still missing, and receives every other rank's finished chunks over
the process group (``gather_object``), so a multi-node run needs no shared filesystem
and gives exactly the files of a one-process run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from colorbench.errors import ColorbenchError

T = TypeVar("T")


@dataclass
class Dist:
    """This process's place in the run; ``world_size == 1`` when not launched by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def share(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (plans, errors)."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def agree(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 and give every rank its result, or raise its error on every rank.

        Only rank 0 reads the results store, yet a refusal (lock held, provenance changed)
        must stop all ranks instead of leaving them waiting in a collective.
        """
        if not self.active:
            return fn()
        result, error = None, None
        if self.is_main:
            try:
                result = fn()
            except ColorbenchError as exc:
                error = str(exc)
        result, error = self.share((result, error))
        if error is not None:
            raise ColorbenchError(error)
        return result

    def collect(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj``, in rank order, on rank 0 (``None`` elsewhere)."""
        if not self.active:
            return [obj]
        out: list[Any] | None = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0)
        return out

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def from_env(device: str) -> Dist:
    """Join the process group torchrun describes in the environment (gloo on CPU, nccl on CUDA)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Dist()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    owns = False
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo")
        owns = True
    return Dist(rank=rank, world_size=world_size, local_rank=local_rank, owns_group=owns)


def rounds(pending: Sequence[int], world_size: int) -> list[list[int | None]]:
    """Deal ``pending`` chunks round-robin: round j gives rank r chunk ``pending[j*N + r]``.

    Ranks without a chunk in the last round get ``None`` so every rank joins every gather.
    """
    out = []
    for start in range(0, len(pending), world_size):
        part: list[int | None] = list(pending[start : start + world_size])
        out.append(part + [None] * (world_size - len(part)))
    return out
