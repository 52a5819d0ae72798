"""Timing helper for the chapters' NumPy vs PyTorch CPU vs GPU tables."""
from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["best_time"]


def best_time(fn: Callable[[], object], repeat: int = 5) -> float:
    """Smallest wall time of ``repeat`` calls of ``fn()``, in seconds (the least disturbed run).

    For GPU code, make ``fn`` wait for the device (e.g. call ``torch.cuda.synchronize()`` at its end),
    since CUDA kernels run asynchronously.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
