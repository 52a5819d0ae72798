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


def torch_training_step_times(model, X, y, repeat: int = 5) -> dict:
    """Time one training step (zero_grad, cross-entropy forward, backward) of ``model`` on the batch
    ``X`` ``(N, ...)``, ``y`` ``(N,)``: on the CPU, and on CUDA when there is a GPU (synchronised).

    Returns:
        ``{"PyTorch CPU": seconds}`` plus ``"PyTorch GPU"`` when CUDA is available.
    """
    import torch
    import torch.nn.functional as F

    def step(m, xb, yb):
        m.zero_grad()
        F.cross_entropy(m(xb), yb).backward()

    times = {"PyTorch CPU": best_time(lambda: step(model, X, y), repeat)}
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        m, xg, yg = model.to(gpu), X.to(gpu), y.to(gpu)
        times["PyTorch GPU"] = best_time(lambda: (step(m, xg, yg), torch.cuda.synchronize()), repeat)
        model.to("cpu")
    return times


def print_timings(times: dict) -> None:
    """Print a small table ``name  milliseconds``; says so when no GPU row could be measured."""
    for name, t in times.items():
        print(f"{name:<12} {1000 * t:8.1f} ms")
    if "PyTorch GPU" not in times:
        print("PyTorch GPU  (no GPU here)")
