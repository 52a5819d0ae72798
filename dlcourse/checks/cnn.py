"""Checks for the exercises of chapter 06 (convolutional networks).

Each check runs the student's function and PyTorch (``torch.nn.functional.conv2d``, ``unfold``, ``fold``,
``max_pool2d`` and autograd, in float64) on random inputs and raises :class:`~dlcourse.checks.CheckFailed`
at the first difference. The cases include batch size 1, single channels, non-square kernels, and strides
and paddings given as one int or as a pair with different values along the two axes.
"""
from __future__ import annotations

import numpy as np

from . import check_outcome, CheckFailed, failing_case, hint, model_scores, run_check, trained_model

__all__ = ["conv_output_shape", "im2col", "conv2d_im2col", "col2im", "conv2d_backward", "maxpool2d_backward",
           "mnist1d_outcome", "hint", "failing_case"]


def _torch():
    import torch

    return torch


def _pair(v):
    return (int(v), int(v)) if np.ndim(v) == 0 else (int(v[0]), int(v[1]))


def _maybe_pair(rng, low, high, force_pair=False):
    """An int, or a pair of (usually different) ints in [low, high)."""
    if not force_pair and rng.random() < 0.35:
        return int(rng.integers(low, high))
    return (int(rng.integers(low, high)), int(rng.integers(low, high)))


def _conv_cases(seed, n=18):
    """(x, weight, bias, stride, padding): random N (1 included), C, D, non-square kernels, int or pair
    strides and paddings."""
    rng = np.random.default_rng(seed)
    cases = [(np.arange(16.0).reshape(1, 1, 4, 4), np.ones((1, 1, 2, 2)), np.zeros(1), 1, 0),   # by hand
             (np.arange(30.0).reshape(1, 1, 5, 6), np.arange(6.0).reshape(1, 1, 2, 3), np.zeros(1), 1, 0)]
    for i in range(n):
        N = 1 if i % 3 == 0 else int(rng.integers(2, 4))
        C, D = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        if kh == kw:
            kw = kh % 4 + 1                                              # every random kernel is non-square
        stride, padding = _maybe_pair(rng, 1, 4, force_pair=i < 6), _maybe_pair(rng, 0, 3, force_pair=i < 6)
        (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
        H, W = int(rng.integers(max(1, kh - 2 * ph), 9)), int(rng.integers(max(1, kw - 2 * pw), 9))
        cases.append((rng.normal(size=(N, C, H, W)), rng.normal(size=(D, C, kh, kw)), rng.normal(size=D),
                      stride, padding))
    return cases


# ---- conv_output_shape --------------------------------------------------------------------------
def _reference_shape(input_shape, out_channels, kernel_size, stride, padding):
    torch = _torch()
    x = torch.empty(input_shape, device="meta")
    w = torch.empty(out_channels, input_shape[1], *_pair(kernel_size), device="meta")
    out = torch.nn.functional.conv2d(x, w, stride=_pair(stride), padding=_pair(padding))
    return tuple(int(s) for s in out.shape)


def conv_output_shape(student, seed: int = 0) -> None:
    """Check ``conv_output_shape(input_shape, out_channels, kernel_size, stride, padding) -> 4 ints``."""
    rng = np.random.default_rng(seed)
    cases = [((1, 3, 32, 32), 6, 5, 1, 0), ((8, 3, 32, 32), 6, 5, 1, 2), ((2, 16, 7, 7), 32, 3, 2, 1),
             ((1, 1, 28, 28), 4, (2, 2), (2, 2), 0), ((4, 8, 15, 9), 2, (4, 2), (3, 1), (1, 0)),
             ((2, 3, 10, 12), 5, (1, 5), 1, (0, 2)), ((1, 2, 9, 9), 3, (3, 1), (2, 3), 1)]
    for _ in range(20):
        kernel, stride, padding = _maybe_pair(rng, 1, 8), _maybe_pair(rng, 1, 5), _maybe_pair(rng, 0, 4)
        (kh, kw), (ph, pw) = _pair(kernel), _pair(padding)
        shape = (int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(max(1, kh - 2 * ph), 40)),
                 int(rng.integers(max(1, kw - 2 * pw), 40)))
        cases.append((shape, int(rng.integers(1, 65)), kernel, stride, padding))

    def student_as_tuple(*args):
        out = student(*args)
        return tuple(out) if isinstance(out, list) else out

    run_check("conv_output_shape", student_as_tuple, _reference_shape, cases, rtol=0, atol=0,
              arg_names=("input_shape", "out_channels", "kernel_size", "stride", "padding"),
              out_names=("N", "out_channels", "H_out", "W_out"),
              hints=("Count how many times a window of size k fits into the padded length when it moves s "
                     "pixels at a time; do it separately for the height (k_h, s_h, p_h) and the width "
                     "(k_w, s_w, p_w).",
                     "The sizes must be ints: `/` gives a float even when the division is exact; the floor "
                     "of the formula is an integer division. `int_pair` gives (k_h, k_w) for an int and for a "
                     "pair alike."))


# ---- im2col and conv2d_im2col -------------------------------------------------------------------
def _reference_im2col(x, kernel_size, stride, padding):
    torch = _torch()
    cols = torch.nn.functional.unfold(torch.from_numpy(x), _pair(kernel_size), padding=_pair(padding),
                                      stride=_pair(stride))                     # (N, C kh kw, L)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1]).numpy()


def im2col(student, seed: int = 0) -> None:
    """Check ``im2col(x, kernel_size, stride, padding) -> cols (N Ho Wo, C kh kw)`` against F.unfold."""
    cases = [(x, w.shape[2] if w.shape[2] == w.shape[3] else tuple(w.shape[2:]), s, p)   # an int when square
             for x, w, _, s, p in _conv_cases(seed + 3)]
    run_check("im2col", student, _reference_im2col, cases, rtol=0, atol=0,
              arg_names=("x", "kernel_size", "stride", "padding"),
              hints=("A window view over the two spatial axes of the padded input has the axes (N, C, Ho, Wo, kh, kw) "
                     "before you apply the stride; rows of cols are output positions, columns are window "
                     "entries.",
                     "Move the three position axes (n, i, j) to the front, keep (c, a, b) in that order at "
                     "the back, then reshape; the stride is a step in the slice of the Ho and Wo axes, each "
                     "with its own step."))


def _reference_conv(x, weight, bias, stride, padding):
    torch = _torch()
    return torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias),
                                      stride=_pair(stride), padding=_pair(padding)).numpy()


def conv2d_im2col(student, seed: int = 0) -> None:
    """Check ``conv2d_im2col(x, weight, bias, stride, padding) -> y (N, D, H_out, W_out)`` against F.conv2d."""
    run_check("conv2d_im2col", student, _reference_conv, _conv_cases(seed),
              arg_names=("x", "weight", "bias", "stride", "padding"), rtol=1e-9, atol=1e-10,
              hints=("Flatten the kernels in the same (c, a, b) order as the rows of cols; one matrix product "
                     "then gives one row per output position and one column per output channel.",
                     "The product has shape (N Ho Wo, D): reshape it to (N, Ho, Wo, D) before moving D to "
                     "axis 1. Deep-learning convolutions do not flip the kernel."))


# ---- col2im ---------------------------------------------------------------------------------------
def _reference_col2im(cols, x_shape, kernel_size, stride, padding):
    torch = _torch()
    N, C, H, W = x_shape
    blocks = torch.from_numpy(cols).reshape(N, -1, cols.shape[1]).transpose(1, 2)   # (N, C kh kw, L)
    return torch.nn.functional.fold(blocks, (H, W), _pair(kernel_size), padding=_pair(padding),
                                    stride=_pair(stride)).numpy()


def col2im(student, seed: int = 0) -> None:
    """Check ``col2im(cols, x_shape, kernel_size, stride, padding) -> (N, C, H, W)`` against F.fold."""
    rng = np.random.default_rng(seed + 4)
    cases = []
    for x, w, _, s, p in _conv_cases(seed + 4):
        cols = _reference_im2col(x, w.shape[2:], s, p)
        cases.append((rng.normal(size=cols.shape), tuple(x.shape), tuple(w.shape[2:]), s, p))
    run_check("col2im", student, _reference_col2im, cases, rtol=1e-9, atol=1e-10,
              arg_names=("cols", "x_shape", "kernel_size", "stride", "padding"),
              hints=("Reshape cols to (N, Ho, Wo, C, kh, kw). For a fixed kernel offset (a, b), the entries of "
                     "all windows land on the pixels a + s_h * i, b + s_w * j of the padded image: a strided "
                     "slice.",
                     "Add (+=), do not assign: with overlapping windows several rows land on the same pixel. "
                     "Work in a zero image of the padded size and cut the padding off at the end."))


# ---- conv2d_backward ----------------------------------------------------------------------------
def _reference_conv_backward(x, weight, grad_out, stride, padding):
    torch = _torch()
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
    bt = torch.zeros(weight.shape[0], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.conv2d(xt, wt, bt, stride=_pair(stride), padding=_pair(padding)).backward(
        torch.from_numpy(grad_out))
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
              out_names=("grad_x", "grad_weight", "grad_bias"),
              hints=("For Y_mat = cols W_mat^T + b (chapter 03's linear layer): the gradient of W_mat is a "
                     "product of G_mat and cols, the gradient of cols a product of G_mat and W_mat, and b's "
                     "gradient sums G_mat over its rows.",
                     "Rearrange grad_out to G_mat (N Ho Wo, D) with the channel axis last before reshaping, "
                     "as the forward pass did; the gradient of x is col2im of the gradient of cols, with the "
                     "same kernel size, stride and padding."))


# ---- maxpool2d_backward -------------------------------------------------------------------------
def _reference_maxpool_backward(x, grad_out, kernel_size, stride):
    torch = _torch()
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(xt, _pair(kernel_size), _pair(stride)).backward(torch.from_numpy(grad_out))
    return xt.grad.numpy()


def maxpool2d_backward(student, seed: int = 0) -> None:
    """Check ``maxpool2d_backward(x, grad_out, kernel_size, stride) -> grad_x`` (no padding)."""
    torch = _torch()
    rng = np.random.default_rng(seed + 2)
    cases = [(np.array([[[[1.0, 3, 2, 0], [4, 2, 1, 5], [0, 1, 9, 2], [6, 2, 3, 3]]]]), np.ones((1, 1, 2, 2)), 2, 2)]
    for i in range(20):
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(2, 4))
        if i < 6:                                                       # non-overlapping windows first
            kernel, stride = (kh, kw), (kh, kw)
        else:                                                           # then overlapping ones (stride < k)
            kernel, stride = (kh, kw), (int(rng.integers(1, kh + 1)), int(rng.integers(1, kw + 1)))
        if i % 5 == 4:
            kernel, stride = kw, int(rng.integers(1, kw + 1))           # one int for both axes
        N = 1 if i % 4 == 0 else int(rng.integers(2, 4))
        (kh, kw) = _pair(kernel)
        shape = (N, int(rng.integers(1, 4)), int(rng.integers(kh, 9)), int(rng.integers(kw, 9)))
        x = rng.normal(size=shape)
        if i >= 13:
            x = np.round(x)                                             # ties: the gradient goes to the first maximum
        out_shape = tuple(torch.nn.functional.max_pool2d(torch.from_numpy(x), _pair(kernel), _pair(stride)).shape)
        cases.append((x, rng.normal(size=out_shape), kernel, stride))
    run_check("maxpool2d_backward", student, _reference_maxpool_backward, cases, rtol=1e-12, atol=1e-12,
              arg_names=("x", "grad_out", "kernel_size", "stride"),
              hints=("One argmax over each flattened window (axis of length kh * kw) says where the maximum "
                     "sits inside the window; the window's top-left corner in x is (i * s_h, j * s_w). "
                     "np.argmax returns the FIRST maximum on ties, like PyTorch.",
                     "Divide the flat index by kw (quotient and remainder) to get the offset (a, b); "
                     "np.indices gives the (n, c, i, j) of every window. Overlapping windows can share a "
                     "maximum: np.add.at accumulates repeated indices, `g[idx] += v` does not."))


# ---- the outcome task -----------------------------------------------------------------------------
MNIST1D_TARGET, MNIST1D_MAX_PARAMETERS = 0.91, 20_000


def mnist1d_outcome(student, seed: int = 0) -> None:
    """Train the student's model with ``student(X_train, y_train, seed)`` on MNIST-1D's first 3200 training
    sequences (the chapter's split, val_size=0.2) and require the validation accuracy to reach the target."""
    torch = _torch()
    from .. import data
    from ..train import accuracy

    name = "train_mnist1d_cnn"
    split = data.load_mnist1d(val_size=0.2, seed=0)
    hints = ("A global max pool over positions (nn.AdaptiveMaxPool1d(1)) makes the features ignore where a "
             "pattern sits: MNIST-1D's main nuisance is a random shift.",
             "Stride-1 convolutions with max pooling between them, then the global pool and one linear "
             "layer; AdamW with a cosine learning-rate schedule over the 20 epochs works well.")
    model = trained_model(name, student, split.X_train, split.y_train, seed, max_parameters=MNIST1D_MAX_PARAMETERS)
    scores = model_scores(model, split.X_val)
    check_outcome(name, accuracy(scores, split.y_val), MNIST1D_TARGET, what="validation accuracy", hints=hints)

