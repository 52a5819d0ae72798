"""Data-parallel training with PyTorch's own engine: one script for one process or many.

Launched by ``torchrun`` (here as ``python -m torch.distributed.run``), every process runs this same
file; ``torchrun`` sets the environment variables ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT`` that :func:`torch.distributed.init_process_group` reads::

    python -m torch.distributed.run --nproc_per_node=2 --standalone -m dlcourse.ddp_demo --out params.pt

On a cluster the same command runs on every machine with ``--nnodes=N --node_rank=i
--rdzv_endpoint=HOST:PORT`` instead of ``--standalone`` (and the ``nccl`` backend on GPUs).
Without ``torchrun``, :func:`train` with ``world_size=1`` is the single-process reference: the same
data, the same model, the same global batch, so the two results must agree to rounding.

The three details that make DDP equal to single-process training: a :class:`DistributedSampler`
with ``drop_last=True`` (every rank gets the same number of samples, nothing is padded by repeating
samples), ``sampler.set_epoch(epoch)`` (each epoch is shuffled differently, identically on all ranks),
and a local batch of ``global_batch // world_size`` (DDP averages the ranks' gradients, so the step
follows the mean loss over the union of the ranks' batches).
"""
from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

__all__ = ["make_dataset", "make_model", "train", "main"]


def make_dataset(n: int = 1280) -> TensorDataset:
    """The first ``n`` training digits (8x8, flattened to 64 features) as a ``TensorDataset``."""
    from dlcourse import data

    split = data.load_digits(seed=0)
    if not 0 < n <= len(split.X_train):
        raise ValueError(f"n must be in 1..{len(split.X_train)}, got {n}")
    return TensorDataset(torch.from_numpy(split.X_train[:n]), torch.from_numpy(split.y_train[:n]))


def make_model(seed: int = 0) -> nn.Module:
    """A small MLP 64 -> 64 -> 10, initialised from ``seed`` (identically in every process)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def train(rank: int = 0, world_size: int = 1, epochs: int = 3, global_batch: int = 64, lr: float = 0.1,
          seed: int = 0, n: int = 1280) -> dict:
    """Train :func:`make_model` with SGD; this process's share when ``world_size > 1``.

    With ``world_size > 1`` the default process group must already be initialised; the model is wrapped
    in :class:`DistributedDataParallel`, which averages the gradients of all ranks during ``backward``.

    Returns:
        the model's ``state_dict`` (float32 tensors on the CPU).
    """
    if global_batch % world_size:
        raise ValueError(f"global_batch ({global_batch}) must be divisible by world_size ({world_size})")
    dataset = make_dataset(n)
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed,
                                 drop_last=True)
    loader = DataLoader(dataset, batch_size=global_batch // world_size, sampler=sampler, drop_last=True)
    model = make_model(seed)
    net = DistributedDataParallel(model) if world_size > 1 else model
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)                  # a new shuffle each epoch, the same on every rank
        for xb, yb in loader:                     # (global_batch / world_size, 64), (same,)
            opt.zero_grad()
            F.cross_entropy(net(xb), yb).backward()   # DDP all-reduces (averages) the gradients here
            opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def main(argv=None) -> None:
    """Entry point of each process started by ``torchrun``; rank 0 writes the result to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="file for the final parameters (torch.save)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64, help="global batch size (all ranks together)")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    distributed = "RANK" in os.environ           # set by torchrun
    if distributed:
        dist.init_process_group("gloo")           # "nccl" for GPUs
        rank, world_size = dist.get_rank(), dist.get_world_size()
    else:
        rank, world_size = 0, 1
    state = train(rank, world_size, args.epochs, args.batch, args.lr, args.seed)
    flat = torch.cat([v.reshape(-1) for v in state.values()])
    if distributed:                               # do all ranks hold the same parameters?
        gathered = [torch.empty_like(flat) for _ in range(world_size)]
        dist.all_gather(gathered, flat)
        spread = max(float((g - gathered[0]).abs().max()) for g in gathered)
    else:
        spread = 0.0
    if rank == 0:
        torch.save({"state_dict": state, "world_size": world_size, "rank_spread": spread}, args.out)
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
