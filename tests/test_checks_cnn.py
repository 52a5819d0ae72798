"""Chapter 06 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/06_cnn.py, see checks_harness.py)."""
import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

from checks_harness import assert_fails, blank, check_tests, solution
from dlcourse.checks import cnn as check

RIGHT = solution("06_cnn")


def pair(v):
    return (int(v), int(v)) if np.ndim(v) == 0 else (int(v[0]), int(v[1]))


# ---- Task 1: output shape -----------------------------------------------------------------------
def shape_as_list(*args):
    return list(RIGHT.conv_output_shape(*args))


def shape_float(input_shape, out_channels, kernel_size, stride=1, padding=0):
    """True division and np.floor: the right numbers, as floats (the next cell then crashes)."""
    N, C, H, W = input_shape
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel_size), pair(stride), pair(padding)
    return (N, out_channels, np.floor((H + 2 * ph - kh) / sh) + 1, np.floor((W + 2 * pw - kw) / sw) + 1)


def shape_square(input_shape, out_channels, kernel_size, stride=1, padding=0):
    """Assumes a square kernel, stride and padding: uses the first entry of each pair for both axes."""
    k, s, p = pair(kernel_size)[0], pair(stride)[0], pair(padding)[0]
    N, C, H, W = input_shape
    return (N, out_channels, (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1)


def shape_forgets_padding(input_shape, out_channels, kernel_size, stride=1, padding=0):
    return RIGHT.conv_output_shape(input_shape, out_channels, kernel_size, stride, 0)


def shape_ceil(input_shape, out_channels, kernel_size, stride=1, padding=0):
    N, C, H, W = input_shape
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel_size), pair(stride), pair(padding)
    return (N, out_channels, -(-(H + 2 * ph - kh) // sh) + 1, -(-(W + 2 * pw - kw) // sw) + 1)


def shape_keeps_input_channels(input_shape, out_channels, kernel_size, stride=1, padding=0):
    return (input_shape[0], input_shape[1], *RIGHT.conv_output_shape(input_shape, out_channels, kernel_size,
                                                                     stride, padding)[2:])


# ---- Task 2: im2col and the convolution ---------------------------------------------------------
def _windows(x, kernel_size, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel_size), pair(stride), pair(padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    return sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]    # (N, C, Ho, Wo, kh, kw)


def im2col_channels_last(x, kernel_size, stride=1, padding=0):
    """Rows in (a, b, c) order (the chapter's layout) instead of the (c, a, b) order of weight[d]."""
    w = _windows(x, kernel_size, stride, padding)
    return w.transpose(0, 2, 3, 4, 5, 1).reshape(-1, w.shape[1] * w.shape[4] * w.shape[5])


def im2col_square(x, kernel_size, stride=1, padding=0):
    """Assumes a square kernel: (kh, kh) windows."""
    kh = pair(kernel_size)[0]
    return RIGHT.im2col(x, kh, stride, padding)


def im2col_ignores_stride(x, kernel_size, stride=1, padding=0):
    return RIGHT.im2col(x, kernel_size, 1, padding)


def im2col_int_stride(x, kernel_size, stride=1, padding=0):
    """Treats stride and padding as ints: fails on pairs."""
    kh, kw = pair(kernel_size)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    w = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    return w.transpose(0, 2, 3, 1, 4, 5).reshape(-1, w.shape[1] * kh * kw)


def conv_no_bias(x, weight, bias, stride=1, padding=0):
    return RIGHT.conv2d_im2col(x, weight, np.zeros_like(bias), stride, padding)


def conv_flipped_kernel(x, weight, bias, stride=1, padding=0):
    return RIGHT.conv2d_im2col(x, weight[:, :, ::-1, ::-1], bias, stride, padding)


def conv_square_kernel(x, weight, bias, stride=1, padding=0):
    """Reads the kernel size from one axis: windows of (kh, kh)."""
    D, C, k, _ = weight.shape
    N, _, Ho, Wo = RIGHT.conv_output_shape(x.shape, D, k, stride, padding)
    y = RIGHT.im2col(x, k, stride, padding) @ weight.reshape(D, -1).T + bias
    return y.reshape(N, Ho, Wo, D).transpose(0, 3, 1, 2)


def conv_reshape_without_transpose(x, weight, bias, stride=1, padding=0):
    """Reshapes the (N Ho Wo, D) product straight to (N, D, Ho, Wo)."""
    D = len(weight)
    N, _, Ho, Wo = RIGHT.conv_output_shape(x.shape, D, weight.shape[2:], stride, padding)
    y = RIGHT.im2col(x, weight.shape[2:], stride, padding) @ weight.reshape(D, -1).T + bias
    return y.reshape(N, D, Ho, Wo)


# ---- Task 3: col2im -------------------------------------------------------------------------------
def _col2im(cols, x_shape, kernel_size, stride, padding, assign=False, keep_padding=False, square=False):
    N, C, H, W = x_shape
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel_size), pair(stride), pair(padding)
    if square:
        kw, sw, pw = kh, sh, ph
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    d = cols.reshape(N, Ho, Wo, C, kh, kw)
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    for a in range(kh):
        for b in range(kw):
            block = d[:, :, :, :, a, b].transpose(0, 3, 1, 2)
            if assign:
                xp[:, :, a:a + sh * Ho:sh, b:b + sw * Wo:sw] = block
            else:
                xp[:, :, a:a + sh * Ho:sh, b:b + sw * Wo:sw] += block
    return xp if keep_padding else xp[:, :, ph:ph + H, pw:pw + W]


def col2im_assigns(cols, x_shape, kernel_size, stride=1, padding=0):
    return _col2im(cols, x_shape, kernel_size, stride, padding, assign=True)


def col2im_keeps_padding(cols, x_shape, kernel_size, stride=1, padding=0):
    return _col2im(cols, x_shape, kernel_size, stride, padding, keep_padding=True)


def col2im_square(cols, x_shape, kernel_size, stride=1, padding=0):
    return _col2im(cols, x_shape, kernel_size, stride, padding, square=True)


# ---- Task 4: convolution backward ---------------------------------------------------------------
def backward_bias_mean(x, weight, grad_out, stride=1, padding=0):
    gx, gw, _ = RIGHT.conv2d_backward(x, weight, grad_out, stride, padding)
    return gx, gw, grad_out.mean(axis=(0, 2, 3))


def backward_keeps_padding(x, weight, grad_out, stride=1, padding=0):
    D = len(weight)
    G = grad_out.transpose(0, 2, 3, 1).reshape(-1, D)
    _, gw, gb = RIGHT.conv2d_backward(x, weight, grad_out, stride, padding)
    return col2im_keeps_padding(G @ weight.reshape(D, -1), x.shape, weight.shape[2:], stride, padding), gw, gb


def backward_reshape_without_transpose(x, weight, grad_out, stride=1, padding=0):
    """G_mat = grad_out.reshape(-1, D): mixes channels and positions."""
    D = len(weight)
    G = grad_out.reshape(-1, D)
    gw = (G.T @ RIGHT.im2col(x, weight.shape[2:], stride, padding)).reshape(weight.shape)
    gx = RIGHT.col2im(G @ weight.reshape(D, -1), x.shape, weight.shape[2:], stride, padding)
    return gx, gw, G.sum(axis=0)


def backward_square_kernel(x, weight, grad_out, stride=1, padding=0):
    """Passes kernel_size = kh: col2im and im2col then work with (kh, kh) windows."""
    D, C, k, _ = weight.shape
    G = grad_out.transpose(0, 2, 3, 1).reshape(-1, D)
    gw = (G.T @ RIGHT.im2col(x, k, stride, padding)).reshape(weight.shape)
    return RIGHT.col2im(G @ weight.reshape(D, -1), x.shape, k, stride, padding), gw, G.sum(axis=0)


# ---- Task 5: max-pool backward ------------------------------------------------------------------
def _pool(x, grad_out, kernel_size, stride, mode):
    (kh, kw), (sh, sw) = pair(kernel_size), pair(stride)
    windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    N, C, Ho, Wo = windows.shape[:4]
    flat = windows.reshape(N, C, Ho, Wo, kh * kw)
    n, c, i, j = np.indices((N, C, Ho, Wo))
    gx = np.zeros_like(x)
    if mode == "fancy":                                  # g[idx] += v: repeated indices are added only once
        arg = flat.argmax(-1)
        gx[n, c, i * sh + arg // kw, j * sw + arg % kw] += grad_out
    elif mode == "last":                                 # the last maximum on ties
        arg = kh * kw - 1 - flat[..., ::-1].argmax(-1)
        np.add.at(gx, (n, c, i * sh + arg // kw, j * sw + arg % kw), grad_out)
    elif mode == "average":
        for a in range(kh):
            for b in range(kw):
                np.add.at(gx, (n, c, i * sh + a, j * sw + b), grad_out / (kh * kw))
    return gx


def pool_fancy_index(x, grad_out, kernel_size, stride):
    return _pool(x, grad_out, kernel_size, stride, "fancy")


def pool_last_maximum(x, grad_out, kernel_size, stride):
    return _pool(x, grad_out, kernel_size, stride, "last")


def pool_like_average(x, grad_out, kernel_size, stride):
    return _pool(x, grad_out, kernel_size, stride, "average")


def pool_square(x, grad_out, kernel_size, stride):
    k, s = pair(kernel_size)[0], pair(stride)[0]
    return RIGHT.maxpool2d_backward(x, grad_out, k, s)


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("conv_output_shape", shape_float, "should be an int"),
    ("conv_output_shape", shape_square, "W_out is"),
    ("conv_output_shape", shape_forgets_padding, "H_out is"),
    ("conv_output_shape", shape_ceil, "_out is"),
    ("conv_output_shape", shape_keeps_input_channels, "out_channels is"),
    ("im2col", im2col_channels_last, "differs at index"),
    ("im2col", im2col_square, "has shape"),
    ("im2col", im2col_ignores_stride, "has shape"),
    ("im2col", im2col_int_stride, "raised"),
    ("conv2d_im2col", conv_no_bias, "differs at index"),
    ("conv2d_im2col", conv_flipped_kernel, "differs at index"),
    ("conv2d_im2col", conv_square_kernel, "raised ValueError"),
    ("conv2d_im2col", conv_reshape_without_transpose, "differs at index"),
    ("col2im", col2im_assigns, "differs at index"),
    ("col2im", col2im_keeps_padding, "has shape"),
    ("col2im", col2im_square, "raised"),
    ("conv2d_backward", backward_bias_mean, "grad_bias differs"),
    ("conv2d_backward", backward_keeps_padding, "grad_x has shape"),
    ("conv2d_backward", backward_reshape_without_transpose, "grad_x differs"),
    ("conv2d_backward", backward_square_kernel, "raised"),
    ("maxpool2d_backward", pool_fancy_index, "differs at index"),
    ("maxpool2d_backward", pool_last_maximum, "differs at index"),
    ("maxpool2d_backward", pool_like_average, "differs at index"),
    ("maxpool2d_backward", pool_square, "raised"),
], extra_right=[("conv_output_shape", shape_as_list)])


def test_a_failure_names_the_case_and_offers_hints_without_the_answer():
    message = assert_fails(check.conv2d_im2col, conv_no_bias, "conv2d_im2col")
    assert "Test case" in message and "check.hint('conv2d_im2col')" in message
    args = check.failing_case("conv2d_im2col")
    assert np.abs(conv_no_bias(*args) - RIGHT.conv2d_im2col(*args)).max() > 0     # the case really fails



# ---- Task 6: the outcome task -------------------------------------------------------------------
def logistic_regression(X, y, seed=0):
    torch.manual_seed(seed)
    model = nn.Linear(40, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(50):
        loss = nn.functional.cross_entropy(model(Xt), yt)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def too_big(X, y, seed=0):
    return nn.Sequential(nn.Linear(40, 1000), nn.ReLU(), nn.Linear(1000, 10))


def returns_accuracy(X, y, seed=0):
    return 0.95


@pytest.mark.parametrize("wrong,message", [(blank, "not implemented yet"), (logistic_regression, "the target is"),
                                           (too_big, "the limit is"), (returns_accuracy, "torch.nn.Module")])
def test_the_outcome_check_fails_below_the_target(wrong, message):
    assert_fails(check.mnist1d_outcome, wrong, message)


@pytest.mark.slow
def test_the_outcome_check_passes_on_the_solution(capsys):
    check.mnist1d_outcome(RIGHT.train_mnist1d_cnn)
    assert "reached validation accuracy" in capsys.readouterr().out
