"""Forward + backward of dlcourse.numpy_nn.Conv2d (im2col) against torch.nn.Conv2d on the CPU.

The performance goal of chapter 06: for N=64, C=16, H=W=16, D=32, k=3, padding 1, the NumPy layer should be
within 5x of PyTorch on the CPU. Not a unit test: machines differ, so this script measures and prints.

    python benchmarks/conv_numpy_vs_torch.py                  # float32, all cores
    python benchmarks/conv_numpy_vs_torch.py --threads 1      # one thread for both libraries
    python benchmarks/conv_numpy_vs_torch.py --dtype float64 --repeat 50

Both libraries get the same number of threads (NumPy's BLAS through threadpoolctl). Reported: the median
and the minimum of `--repeat` timed calls after warm-up, and their ratios NumPy / PyTorch.
"""
from __future__ import annotations

import argparse
import time


def measure(fn, repeat: int, warmup: int = 3) -> tuple[float, float]:
    """(median, minimum) wall time of fn() in seconds."""
    import statistics

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=0, help="threads for both libraries (0: library defaults)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--size", type=int, nargs=6, default=[64, 16, 16, 16, 32, 3], metavar=("N", "C", "H", "W", "D", "K"))
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    from dlcourse.numpy_nn import Conv2d

    if args.threads > 0:
        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads, user_api="blas")
    N, C, H, W, D, k = args.size
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, C, H, W)).astype(dtype)
    g = rng.normal(size=(N, D, H, W)).astype(dtype)

    ours = Conv2d(C, D, k, padding=k // 2, dtype=dtype, rng=rng)
    theirs = torch.nn.Conv2d(C, D, k, padding=k // 2).to(getattr(torch, args.dtype))
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

    # same numbers first, then time
    tol = 1e-3 if dtype == np.float32 else 1e-10
    assert np.allclose(numpy_step(), torch_step().numpy(), atol=tol), "NumPy and PyTorch disagree"

    t_np, t_np_min = measure(numpy_step, args.repeat)
    t_pt, t_pt_min = measure(torch_step, args.repeat)
    threads = f"{args.threads}" if args.threads else f"defaults (torch {torch.get_num_threads()})"
    print(f"Conv2d forward + backward, N={N}, C={C}, {H}x{W}, D={D}, k={k}, padding {k // 2}, {args.dtype}, "
          f"threads: {threads}")
    print(f"{'':14}{'median ms':>12}{'min ms':>10}")
    print(f"{'NumPy':14}{1e3 * t_np:12.2f}{1e3 * t_np_min:10.2f}")
    print(f"{'PyTorch CPU':14}{1e3 * t_pt:12.2f}{1e3 * t_pt_min:10.2f}")
    ratio, ratio_min = t_np / t_pt, t_np_min / t_pt_min
    print(f"NumPy / PyTorch: {ratio:.2f}x (median), {ratio_min:.2f}x (min); goal: within 5x -> "
          f"{'met' if ratio <= 5 else 'not met'}")
    return {"numpy": t_np, "torch": t_pt, "ratio": ratio, "ratio_min": ratio_min}


if __name__ == "__main__":
    main()
