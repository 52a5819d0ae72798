"""Forward + backward of dlcourse.numpy_nn.Conv2d (im2col) against torch.nn.Conv2d on the CPU.

The performance goal of chapter 06: for N=64, C=16, H=W=16, D=32, k=3, padding 1 (float32), the NumPy
layer should be within 3x of PyTorch on the CPU, with one thread and with the libraries' default threads.
Not a unit test: machines differ, so this script measures and prints.

    python benchmarks/conv_numpy_vs_torch.py                  # float32, default threads
    python benchmarks/conv_numpy_vs_torch.py --threads 1      # one thread for both libraries
    python benchmarks/conv_numpy_vs_torch.py --threads 1 0    # both settings, one after the other
    python benchmarks/conv_numpy_vs_torch.py --dtype float64 --repeat 50
    python benchmarks/conv_numpy_vs_torch.py --only numpy --repeat 300   # one library, for an outside timer

Both libraries get the same number of threads (NumPy's BLAS through threadpoolctl; 0 = the defaults).
The two steps are timed in alternation (NumPy, PyTorch, NumPy, ...), so that a machine whose speed drifts
slows both alike; reported: the median and the minimum of ``--repeat`` timed calls after warm-up, and the
median of the per-round ratios NumPy / PyTorch. With ``--only`` the script times one library and prints
no ratio: compare two such processes with an outside timer (e.g. ``/usr/bin/time -v``).
"""
from __future__ import annotations

import argparse
import statistics
import time

GOAL = 3.0          # NumPy / PyTorch, forward + backward


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(steps: dict, repeat: int, warmup: int = 3) -> dict:
    """Time every step ``repeat`` times, in alternation; returns {name: [seconds, ...]}."""
    for _ in range(warmup):
        for fn in steps.values():
            fn()
    times = {name: [] for name in steps}
    for _ in range(repeat):
        for name, fn in steps.items():
            times[name].append(timed(fn))
    return times


def make_steps(size, dtype_name: str):
    """The two forward + backward steps on the same data and weights, checked to agree."""
    import numpy as np
    import torch

    from dlcourse.numpy_nn import Conv2d

    N, C, H, W, D, k = size
    dtype = np.dtype(dtype_name)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, C, H, W)).astype(dtype)
    g = rng.normal(size=(N, D, H, W)).astype(dtype)
    ours = Conv2d(C, D, k, padding=k // 2, dtype=dtype, rng=rng)
    theirs = torch.nn.Conv2d(C, D, k, padding=k // 2).to(getattr(torch, dtype_name))
    ours.load_state_dict(theirs.state_dict())
    xt, gt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(g)

    def numpy_step():
        ours(x)
        return ours.backward(g)

    def torch_step():
        theirs.zero_grad()
        xt.grad = None
        theirs(xt).backward(gt)
        return xt.grad

    tol = 1e-3 if dtype == np.float32 else 1e-10                 # same numbers first, then time
    assert np.allclose(numpy_step(), torch_step().numpy(), atol=tol), "NumPy and PyTorch disagree"
    for name, grad in ours.grads.items():
        assert np.allclose(grad, getattr(theirs, name).grad.numpy(), atol=tol * 100), f"{name} gradients disagree"
    return {"NumPy": numpy_step, "PyTorch CPU": torch_step}


def run(threads: int, size, dtype_name: str, repeat: int, only: str | None = None) -> dict:
    import torch
    from threadpoolctl import threadpool_limits

    default_threads, limits = torch.get_num_threads(), None
    if threads > 0:                         # (BLAS first: restoring it may reset torch's OpenMP threads)
        limits = threadpool_limits(threads, user_api="blas")
        torch.set_num_threads(threads)
    try:
        steps = make_steps(size, dtype_name)
        if only:
            steps = {name: fn for name, fn in steps.items() if name.lower().startswith(only)}
        times = measure(steps, repeat)
        setting = f"{threads}" if threads else f"defaults (torch {torch.get_num_threads()})"
    finally:
        if limits is not None:
            limits.restore_original_limits()
        torch.set_num_threads(default_threads)
    N, C, H, W, D, k = size
    print(f"Conv2d forward + backward, N={N}, C={C}, {H}x{W}, D={D}, k={k}, padding {k // 2}, {dtype_name}, "
          f"threads: {setting}")
    print(f"{'':14}{'median ms':>12}{'min ms':>10}")
    for name, ts in times.items():
        print(f"{name:14}{1e3 * statistics.median(ts):12.2f}{1e3 * min(ts):10.2f}")
    result = {name: statistics.median(ts) for name, ts in times.items()}
    if len(times) == 2:
        ratios = [a / b for a, b in zip(times["NumPy"], times["PyTorch CPU"])]
        ratio = statistics.median(ratios)
        print(f"NumPy / PyTorch: {ratio:.2f}x (median of {repeat} paired rounds), "
              f"{min(times['NumPy']) / min(times['PyTorch CPU']):.2f}x (min / min); "
              f"goal: within {GOAL:g}x -> {'met' if ratio <= GOAL else 'not met'}")
        result["ratio"] = ratio
    return result


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[0],
                        help="threads for both libraries, one run per value (0: library defaults)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--only", choices=["numpy", "pytorch"], default=None,
                        help="time one library only (no ratio)")
    parser.add_argument("--size", type=int, nargs=6, default=[64, 16, 16, 16, 32, 3],
                        metavar=("N", "C", "H", "W", "D", "K"))
    args = parser.parse_args(argv)
    return [run(threads, args.size, args.dtype, args.repeat, args.only) for threads in args.threads]


if __name__ == "__main__":
    main()
