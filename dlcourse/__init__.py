"""dlcourse — the support package of the course *From NumPy to GPU*.

Modules a newcomer can guess:

- :mod:`dlcourse.data`        every dataset of the course, offline and deterministic
- :mod:`dlcourse.plots`       matplotlib helpers (decision boundaries, loss curves, image grids)
- :mod:`dlcourse.train`       a small, readable PyTorch fit/evaluate loop
- :mod:`dlcourse.widgets`     the interactive experiments (ipywidgets)
- :mod:`dlcourse.checks`      exercise checks that explain the first thing that is wrong
- :mod:`dlcourse.perceptron`  NumPy reference code of chapter 01 (generated from the chapter)

and, at the top level, :func:`device` and :func:`seed_everything`.
"""
from __future__ import annotations

import os
import random

import numpy as np

__all__ = ["device", "seed_everything", "__version__"]
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
