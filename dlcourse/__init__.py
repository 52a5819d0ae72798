"""dlcourse — the support package of the course *From NumPy to GPU*.

Written by hand (the course's infrastructure):

- :mod:`dlcourse.data`        every dataset of the course, offline and deterministic
- :mod:`dlcourse.plots`       matplotlib helpers (decision boundaries, loss curves, image grids)
- :mod:`dlcourse.train`       a small, readable PyTorch fit/evaluate loop and ``accuracy``
- :mod:`dlcourse.timing`      best-of-N timings and the CPU/GPU timing table
- :mod:`dlcourse.validate`    the one argument-checking module (errors that name the argument)
- :mod:`dlcourse.lecun`       the locally connected layers of LeCun's 1989 networks (chapter 06)
- :mod:`dlcourse.segmentation` segmentation metrics and the training loop of chapter 08
- :mod:`dlcourse.sample_quality` sample-quality measures for generative models (chapters 09-10)
- :mod:`dlcourse.scaling`     memory counting, the DDP launcher and a local-only pretrained loader (chapter 14)
- :mod:`dlcourse.ddp_demo`    the data-parallel training script of chapter 14
- :mod:`dlcourse.widgets`     the interactive experiments (ipywidgets), one module per chapter
- :mod:`dlcourse.checks`      exercise checks that explain the first thing that is wrong, one module per chapter

Generated from the chapters' ``#| export`` cells by ``make export`` (never edit by hand):

- :mod:`dlcourse.perceptron`  chapter 01's perceptron
- :mod:`dlcourse.numpy_nn`    the NumPy layers and losses, one module per topic (``core``, ``activations``,
  ``losses``, ``regularization``, ``conv``, ``residual``, ``upsample``, ``recurrent``, ``attention``), re-exported by the package
- :mod:`dlcourse.autograd`    chapter 03's scalar autograd engine
- :mod:`dlcourse.gradcheck`   numerical gradients (chapter 03)
- :mod:`dlcourse.parity`      the twin checker: a NumPy layer against its PyTorch twin (chapter 03)
- :mod:`dlcourse.numpy_optim` optimizers, schedulers and the NumPy training loop (chapter 04)
- :mod:`dlcourse.mnist1d_models` chapter 06's MNIST-1D networks (trained again in chapter 11)
- :mod:`dlcourse.resnet`      chapter 07's ResNet-18 by hand
- :mod:`dlcourse.boxes`       chapter 08's box IoU and non-maximum suppression
- :mod:`dlcourse.detection`   chapter 08's grid detector
- :mod:`dlcourse.generative`  chapter 09's PCA, VAE and GAN pieces
- :mod:`dlcourse.diffusion`   chapter 10's noise schedule, forward process and reverse steps
- :mod:`dlcourse.charlm`      chapter 11's character-level text and bigram model
- :mod:`dlcourse.saliency`    chapter 13's heat maps and adversarial attacks
- :mod:`dlcourse.rl`          chapter 15's MDPs, value iteration, Q-learning, REINFORCE in NumPy and tree search
- :mod:`dlcourse.rl_torch`    chapter 15's DQN and REINFORCE on CartPole, several seeds side by side

At the top level: :func:`setup` (the first line of every chapter), :func:`seeds`, :func:`device` and
:func:`seed_everything`.
"""
from __future__ import annotations

import os
import random

import numpy as np

__all__ = ["setup", "seeds", "add_to_class", "device", "seed_everything", "__version__"]
__version__ = "0.1.0"


def device():
    """Return the best available ``torch.device``: ``cuda``, else ``mps``, else ``cpu``.

    Set the environment variable ``DLCOURSE_DEVICE`` (e.g. ``cpu``) to force one.

    Returns:
        torch.device
    """
    import torch

    forced = os.environ.get("DLCOURSE_DEVICE")
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python's ``random``, NumPy's global state and PyTorch (CPU and CUDA).

    Args:
        seed: a non-negative integer.

    Returns:
        A fresh ``numpy.random.Generator`` seeded with ``seed``; prefer it to the global
        NumPy state in new code (``rng.normal(size=(3, 4))``).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    else:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)


def seeds(n: int, start: int = 0) -> list[int]:
    """The ``n`` seeds an experiment is repeated over: ``start, start+1, ...`` shifted by the
    environment variable ``DLCOURSE_SEED_SHIFT`` (default 0).

    Chapters take every seed list from here, never from literals, so that ``make check-seeds``
    can re-run them on seeds nobody looked at (``DLCOURSE_SEED_SHIFT=1000``).
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"seeds needs n >= 1, got {n}")
    shift = os.environ.get("DLCOURSE_SEED_SHIFT", "0")
    try:
        shift = int(shift)
    except ValueError:
        raise ValueError(f"DLCOURSE_SEED_SHIFT must be an integer, got {shift!r}") from None
    return [start + shift + i for i in range(n)]


def setup(seed: int = 0, threads: int | None = 1):
    """The first line of every chapter: ``rng, device = dlcourse.setup(seed=0, threads=1)``.

    Seeds Python, NumPy and PyTorch (``seed`` shifted by ``DLCOURSE_SEED_SHIFT``, see :func:`seeds`),
    limits PyTorch and the BLAS library to ``threads`` threads (the course's models are small: on a
    busy 2-core machine one thread is up to 10x faster than two; ``None`` leaves the defaults), and
    picks the device (:func:`device`).

    Returns:
        (numpy.random.Generator, torch.device)
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    rng = seed_everything(seeds(1, start=int(seed))[0])
    if threads is not None:
        set_threads(threads)
    return rng, device()


def set_threads(threads: int) -> None:
    """Use ``threads`` threads in PyTorch and in NumPy's BLAS (e.g. all cores for a timing table)."""
    import torch
    from threadpoolctl import threadpool_limits

    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    torch.set_num_threads(int(threads))
    global _blas_limits
    _blas_limits = threadpool_limits(int(threads), user_api="blas")


_blas_limits = None


def add_to_class(cls):
    """Decorator that adds the function below it to ``cls`` as a method (d2l's idiom), so that a long
    class can be taught over several notebook cells::

        @add_to_class(Value)
        def backward(self): ...
    """
    def register(fn):
        setattr(cls, fn.__name__, fn)
    return register
