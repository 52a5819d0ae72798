"""Tools of chapter 14 (scaling up): count the memory autograd keeps for backward, run the two-process
DDP demo, load torchvision's pretrained weights from a local file only."""
from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import torch

__all__ = ["SavedTensors", "saved_tensors", "saved_bytes", "run_ddp_demo", "load_pretrained_resnet18",
           "RESNET18_FILE"]


class SavedTensors:
    """What autograd saved for backward while the ``with saved_tensors():`` block ran.

    Tensors are de-duplicated by their storage (two views of one buffer count once), and storages in
    ``exclude`` (usually the model's parameters, which exist anyway) are not counted.

    Attributes:
        count: number of distinct storages saved; ``nbytes``: their total size in bytes.
    """

    def __init__(self, exclude=()):
        self._exclude = {p.untyped_storage().data_ptr() for p in exclude}
        self._sizes: dict[int, int] = {}

    def _pack(self, t):
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in self._exclude:
            self._sizes[ptr] = storage.nbytes()
        return t

    @property
    def count(self) -> int:
        return len(self._sizes)

    @property
    def nbytes(self) -> int:
        return sum(self._sizes.values())


@contextmanager
def saved_tensors(exclude=()):
    """Context manager yielding a :class:`SavedTensors` that counts every tensor autograd saves inside.

    Uses :func:`torch.autograd.graph.saved_tensors_hooks`. A checkpointed region
    (``torch.utils.checkpoint`` with ``use_reentrant=False``) installs its own hooks and saves nothing
    here, which is exactly the memory checkpointing saves.
    """
    counter = SavedTensors(exclude)
    with torch.autograd.graph.saved_tensors_hooks(counter._pack, lambda t: t):
        yield counter


def saved_bytes(fn, exclude=()) -> int:
    """Bytes of the distinct tensors autograd saves for backward while ``fn()`` runs (see :func:`saved_tensors`)."""
    with saved_tensors(exclude) as counter:
        fn()
    return counter.nbytes


def run_ddp_demo(out, nproc: int = 2, epochs: int = 3, batch: int = 64, lr: float = 0.1, seed: int = 0,
                 timeout: float = 300) -> dict:
    """Launch :mod:`dlcourse.ddp_demo` in ``nproc`` processes with ``torchrun`` and load rank 0's result.

    Runs ``python -m torch.distributed.run --nproc_per_node=NPROC --standalone -m dlcourse.ddp_demo
    --out OUT ...`` in a subprocess (its launcher warnings are kept out of the notebook; they are shown
    only if the run fails).

    Returns:
        ``{"state_dict": ..., "world_size": nproc, "rank_spread": max |difference| between ranks,
        "command": the command line}``.
    """
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--standalone",
           "-m", "dlcourse.ddp_demo", "--out", str(out), "--epochs", str(epochs), "--batch", str(batch),
           "--lr", str(lr), "--seed", str(seed)]
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH", "")])))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"torchrun failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = torch.load(out, weights_only=True)
    result["command"] = " ".join(["python"] + cmd[1:])
    return result


RESNET18_FILE = "resnet18-f37072fd.pth"   # the file name torchvision's ResNet18_Weights.IMAGENET1K_V1 uses


def load_pretrained_resnet18(path=RESNET18_FILE):
    """torchvision's ResNet-18 with ImageNet weights read from the local file ``path``; never downloads.

    Raises:
        FileNotFoundError: when ``path`` does not exist, saying how to get the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained weights not found: {path}. This course never downloads anything. To use them, "
            "on a machine with internet access run\n"
            "    python -c \"from torchvision.models import resnet18, ResNet18_Weights; "
            "resnet18(weights=ResNet18_Weights.IMAGENET1K_V1)\"\n"
            f"which saves {RESNET18_FILE} under ~/.cache/torch/hub/checkpoints/, "
            f"then copy that file to {path}.")
    from torchvision.models import resnet18

    model = resnet18(weights=None)                           # the architecture, randomly initialised
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model
