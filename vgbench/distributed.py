"""torchrun support shared by every command: ``torchrun --nproc_per_node N -m vgbench <command> ...``.

:func:`init` reads torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) and starts the process group
(NCCL on CUDA, gloo on CPU) with a 4-hour timeout: rank 0 may work alone for a long time (a training snapshot, a
merge, the periodic FVD) while the others wait at a barrier. Without torchrun everything here is a no-op for one
process, so library code calls :func:`rank_world` and :func:`all_gather` unconditionally.

Statistics under torchrun (:func:`vgbench.metrics.fvd.compute_stats`): rank ``r`` of ``W`` computes shard ``r/W``
of the set and every rank receives all parts and merges them (:mod:`vgbench.metrics.shards`), so each rank holds
the statistics one process would have made; only rank 0 writes files and prints.
"""
from __future__ import annotations

import atexit
import datetime
import os

__all__ = ["env", "init", "rank_world", "is_main", "all_gather", "agree", "sharing", "TIMEOUT"]

TIMEOUT = datetime.timedelta(hours=4)

# whether statistics are split over the ranks (set by init(share=True): the measuring commands). Training leaves it
# off: its periodic FVD16 runs on rank 0 alone while the other ranks wait, so it must not wait for them.
_SHARE = False


def env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment (0, 1, 0 without it)."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


def init(device: str | None = None, share: bool = False) -> str:
    """Start the process group when launched by torchrun with more than one process; returns the device this rank
    uses (``cuda:LOCAL_RANK`` when CUDA is available and ``device`` is not given). ``share``: statistics computed
    from now on are split over the ranks (:func:`sharing`)."""
    global _SHARE
    import torch

    rank, world, local = env()
    if device is None:
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    elif world > 1 and str(device) == "cuda":
        device = f"cuda:{local}"
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if str(device).startswith("cuda") else "gloo", timeout=TIMEOUT)
            atexit.register(_destroy)
        if str(device).startswith("cuda"):
            torch.cuda.set_device(torch.device(device))
    _SHARE = share and world > 1
    return str(device)


def _destroy() -> None:
    """Tear the process group down while the interpreter is still whole. Left to the interpreter's own teardown,
    gloo's threads could be destroyed while still joinable: "terminate called without an active exception" and
    SIGABRT, so torchrun reported a finished job as failed (4 of 12 runs of a 4-process job on a loaded 2-core
    machine; tests/test_distributed.py)."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def sharing() -> bool:
    """True when statistics are to be split over the ranks of a process group of more than one process."""
    return _SHARE and rank_world()[1] > 1


def rank_world() -> tuple[int, int]:
    """(rank, world size) of the running process group, (0, 1) when there is none."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch without distributed support
        return 0, 1
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return rank_world()[0] == 0


def all_gather(obj) -> list:
    """Every rank's ``obj`` (picklable), in rank order, on every rank; ``[obj]`` without a process group."""
    rank, world = rank_world()
    if world == 1:
        return [obj]
    import torch.distributed as dist

    out: list = [None] * world
    dist.all_gather_object(out, obj)
    return out


def agree(value):
    """Rank 0's ``value`` on every rank (a decision all ranks must take alike, e.g. whether a cache file exists)."""
    return all_gather(value)[0] if sharing() else value

