"""Checks for the exercises of chapter 06 (convolutional networks).

Each check runs the student's function and PyTorch (``torch.nn.functional.conv2d``, ``max_pool2d`` and
autograd, in float64) on random inputs and raises :class:`~dlcourse.checks.CheckFailed` at the first
difference, with a hint. Batch size 1, single channels, strides larger than 1 and zero padding are all
among the cases.
"""
from __future__ import annotations

import numpy as np

from . import run_check

__all__ = ["conv_output_shape", "conv2d_im2col", "conv2d_backward", "maxpool2d_backward"]


def _torch():
    import torch

    return torch


def _conv_cases(seed, n=16):
    """(x, weight, bias, stride, padding) with random N (1 included), C, D, sizes, kernel, stride, padding."""
    rng = np.random.default_rng(seed)
    cases = [(np.arange(16.0).reshape(1, 1, 4, 4), np.ones((1, 1, 2, 2)), np.zeros(1), 1, 0)]   # by hand: sums of 2x2
    for i in range(n):
        N = 1 if i % 3 == 0 else int(rng.integers(2, 5))
        C, D, k = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
        stride, padding = int(rng.integers(1, 3)), int(rng.integers(0, 3))
        H, W = int(rng.integers(max(1, k - 2 * padding), 9)), int(rng.integers(max(1, k - 2 * padding), 9))
        cases.append((rng.normal(size=(N, C, H, W)), rng.normal(size=(D, C, k, k)), rng.normal(size=D), stride, padding))
    return cases


# ---- conv_output_shape --------------------------------------------------------------------------
def _reference_shape(input_shape, out_channels, kernel_size, stride, padding):
    torch = _torch()
    x = torch.empty(input_shape, device="meta")
    w = torch.empty(out_channels, input_shape[1], kernel_size, kernel_size, device="meta")
    return tuple(int(s) for s in torch.nn.functional.conv2d(x, w, stride=stride, padding=padding).shape)


def conv_output_shape(student, seed: int = 0) -> None:
    """Check ``conv_output_shape(input_shape, out_channels, kernel_size, stride, padding) -> (N, D, H_out, W_out)``."""
    rng = np.random.default_rng(seed)
    cases = [((1, 3, 32, 32), 6, 5, 1, 0), ((8, 3, 32, 32), 6, 5, 1, 2), ((2, 16, 7, 7), 32, 3, 2, 1),
             ((1, 1, 28, 28), 4, 2, 2, 0), ((4, 8, 15, 9), 2, 4, 3, 1)]
    for _ in range(20):
        k, s, p = int(rng.integers(1, 8)), int(rng.integers(1, 5)), int(rng.integers(0, 4))
        shape = (int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(max(1, k - 2 * p), 40)),
                 int(rng.integers(max(1, k - 2 * p), 40)))
        cases.append((shape, int(rng.integers(1, 65)), k, s, p))

    def student_as_tuple(*args):
        out = student(*args)
        return tuple(out) if isinstance(out, list) else out

    run_check("conv_output_shape", student_as_tuple, _reference_shape, cases,
              arg_names=("input_shape", "out_channels", "kernel_size", "stride", "padding"), rtol=0, atol=0,
              hint="return (N, out_channels, H_out, W_out) with H_out = (H + 2 * padding - kernel_size) // stride + 1 "
                   "(the same for W): the padded input has H + 2p pixels, a window of size k fits "
                   "floor((H + 2p - k) / s) + 1 times when it moves s pixels at a time. Use integer division //.")


# ---- conv2d_im2col ------------------------------------------------------------------------------
def _reference_conv(x, weight, bias, stride, padding):
    torch = _torch()
    return torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias),
                                      stride=stride, padding=padding).numpy()


def conv2d_im2col(student, seed: int = 0) -> None:
    """Check ``conv2d_im2col(x, weight, bias, stride, padding) -> y (N, D, H_out, W_out)`` against F.conv2d."""
    run_check("conv2d_im2col", student, _reference_conv, _conv_cases(seed),
              arg_names=("x", "weight", "bias", "stride", "padding"), rtol=1e-9, atol=1e-10,
              hint="pad x with np.pad (only the last two axes); take windows = sliding_window_view(xp, (kh, kw), "
                   "axis=(2, 3))[:, :, ::stride, ::stride], shape (N, C, Ho, Wo, kh, kw); move the (C, kh, kw) axes "
                   "last and reshape to cols (N * Ho * Wo, C * kh * kw); then y = cols @ weight.reshape(D, -1).T + bias "
                   "(both flattened in the same (C, kh, kw) order), reshape to (N, Ho, Wo, D) and transpose to "
                   "(N, D, Ho, Wo). Deep-learning convolutions do not flip the kernel.")


# ---- conv2d_backward ----------------------------------------------------------------------------
def _reference_conv_backward(x, weight, grad_out, stride, padding):
    torch = _torch()
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
    bt = torch.zeros(weight.shape[0], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=padding).backward(torch.from_numpy(grad_out))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def conv2d_backward(student, seed: int = 0) -> None:
    """Check ``conv2d_backward(x, weight, grad_out, stride, padding) -> (grad_x, grad_weight, grad_bias)``."""
    rng = np.random.default_rng(seed + 1)
    cases = []
    for x, w, b, s, p in _conv_cases(seed + 1):
        out = _reference_conv(x, w, b, s, p)
        cases.append((x, w, rng.normal(size=out.shape), s, p))
    run_check("conv2d_backward", student, _reference_conv_backward, cases,
              arg_names=("x", "weight", "grad_out", "stride", "padding"), rtol=1e-9, atol=1e-10,
              hint="loop over the output positions (n, d, i, j) of grad_out (shape (N, D, Ho, Wo)); the window is "
                   "xp[n, :, i*s:i*s+kh, j*s:j*s+kw] of the padded input. Add grad_out[n, d, i, j] * window to "
                   "grad_weight[d], and grad_out[n, d, i, j] * weight[d] to the same window of grad_xp (+=: windows "
                   "overlap). grad_bias sums grad_out over (n, i, j). Finally cut the padding off grad_xp.")


# ---- maxpool2d_backward -------------------------------------------------------------------------
def _reference_maxpool_backward(x, grad_out, kernel_size, stride):
    torch = _torch()
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(xt, kernel_size, stride).backward(torch.from_numpy(grad_out))
    return xt.grad.numpy()


def maxpool2d_backward(student, seed: int = 0) -> None:
    """Check ``maxpool2d_backward(x, grad_out, kernel_size, stride) -> grad_x`` (no padding)."""
    torch = _torch()
    rng = np.random.default_rng(seed + 2)
    cases = [(np.array([[[[1.0, 3, 2, 0], [4, 2, 1, 5], [0, 1, 9, 2], [6, 2, 3, 3]]]]), np.ones((1, 1, 2, 2)), 2, 2)]
    for i in range(18):
        k = int(rng.integers(2, 4))
        stride = k if i < 6 else int(rng.integers(1, k + 1))          # then overlapping windows (stride < k)
        N = 1 if i % 4 == 0 else int(rng.integers(2, 4))
        shape = (N, int(rng.integers(1, 4)), int(rng.integers(k, 9)), int(rng.integers(k, 9)))
        x = rng.normal(size=shape)
        if i >= 12:
            x = np.round(x)                                           # ties: the gradient goes to the first maximum
        out_shape = tuple(torch.nn.functional.max_pool2d(torch.from_numpy(x), k, stride).shape)
        cases.append((x, rng.normal(size=out_shape), k, stride))
    run_check("maxpool2d_backward", student, _reference_maxpool_backward, cases,
              arg_names=("x", "grad_out", "kernel_size", "stride"), rtol=1e-12, atol=1e-12,
              hint="for every output position (n, c, i, j) find the position of the maximum inside its window "
                   "x[n, c, i*s:i*s+k, j*s:j*s+k] with np.argmax (the FIRST maximum if several are equal, as "
                   "PyTorch does) and add grad_out[n, c, i, j] there; the other entries of the window get nothing. "
                   "Windows overlap when stride < kernel_size: accumulate with +=.")
