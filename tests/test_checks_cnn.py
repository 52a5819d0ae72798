"""Chapter 06 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/06_cnn.py, see checks_harness.py)."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from checks_harness import assert_fails, check_tests, solution
from dlcourse.checks import cnn as check

RIGHT = solution("06_cnn")
shape_right, conv_right, backward_right = RIGHT.conv_output_shape, RIGHT.conv2d_im2col, RIGHT.conv2d_backward


# ---- Task 1: output shape -----------------------------------------------------------------------
def shape_as_list(*args):
    return list(shape_right(*args))


def shape_forgets_padding(input_shape, out_channels, kernel_size, stride=1, padding=0):
    return shape_right(input_shape, out_channels, kernel_size, stride, 0)


def shape_ceil(input_shape, out_channels, kernel_size, stride=1, padding=0):
    N, C, H, W = input_shape
    return (N, out_channels, -(-(H + 2 * padding - kernel_size) // stride) + 1, -(-(W + 2 * padding - kernel_size) // stride) + 1)


def shape_keeps_input_channels(input_shape, out_channels, kernel_size, stride=1, padding=0):
    return (input_shape[0], input_shape[1], *shape_right(input_shape, out_channels, kernel_size, stride, padding)[2:])


# ---- Task 2: convolution by im2col --------------------------------------------------------------
def _windows(x, weight, stride, padding):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    return sliding_window_view(xp, weight.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]


def conv_no_bias(x, weight, bias, stride=1, padding=0):
    return np.einsum("nchwab,dcab->ndhw", _windows(x, weight, stride, padding), weight)


def conv_flipped_kernel(x, weight, bias, stride=1, padding=0):
    return conv_right(x, weight[:, :, ::-1, ::-1], bias, stride, padding)


def conv_ignores_stride(x, weight, bias, stride=1, padding=0):
    return conv_right(x, weight, bias, 1, padding)


def conv_mismatched_order(x, weight, bias, stride=1, padding=0):
    """cols flattened as (kh, kw, C) but the kernels as (C, kh, kw)."""
    win = _windows(x, weight, stride, padding)
    N, C, Ho, Wo, kh, kw = win.shape
    cols = win.transpose(0, 2, 3, 4, 5, 1).reshape(N * Ho * Wo, -1)
    y = cols @ weight.reshape(len(weight), -1).T + bias
    return y.reshape(N, Ho, Wo, -1).transpose(0, 3, 1, 2)


# ---- Task 3: convolution backward ---------------------------------------------------------------
def backward_keeps_padding(x, weight, grad_out, stride=1, padding=0):
    """Returns the gradient of the padded input: forgot to cut the padding off."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    return backward_right(xp, weight, grad_out, stride, 0)


def backward_bias_mean(x, weight, grad_out, stride=1, padding=0):
    gx, gw, _ = backward_right(x, weight, grad_out, stride, padding)
    return gx, gw, grad_out.mean(axis=(0, 2, 3))


def backward_assigns_instead_of_adding(x, weight, grad_out, stride=1, padding=0):
    D, C, kh, kw = weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    gxp = np.zeros_like(xp)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            r, c = slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw)
            gxp[:, :, r, c] = np.einsum("nd,dchw->nchw", grad_out[:, :, i, j], weight)      # = instead of +=
    H, W = x.shape[2:]
    _, gw, gb = backward_right(x, weight, grad_out, stride, padding)
    return gxp[:, :, padding:padding + H, padding:padding + W], gw, gb


# ---- Task 4: max-pool backward ------------------------------------------------------------------
def _pool_loop(x, grad_out, k, s, route):
    gx = np.zeros_like(x)
    N, C, Ho, Wo = grad_out.shape
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * s:i * s + k, j * s:j * s + k]
                    route(gx[n, c, i * s:i * s + k, j * s:j * s + k], window, grad_out[n, c, i, j])
    return gx


def pool_to_all_ties(x, grad_out, kernel_size, stride):
    def route(g, window, value):
        g += value * (window == window.max())
    return _pool_loop(x, grad_out, kernel_size, stride, route)


def pool_like_average(x, grad_out, kernel_size, stride):
    def route(g, window, value):
        g += value / window.size
    return _pool_loop(x, grad_out, kernel_size, stride, route)


def pool_assigns(x, grad_out, kernel_size, stride):
    def route(g, window, value):
        a, b = np.unravel_index(np.argmax(window), window.shape)
        g[a, b] = value                                   # = instead of +=: overlapping windows overwrite
    return _pool_loop(x, grad_out, kernel_size, stride, route)


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("conv_output_shape", shape_forgets_padding, "value 2 of the result is"),
    ("conv_output_shape", shape_ceil, "integer division"),
    ("conv_output_shape", shape_keeps_input_channels, "value 1 of the result is"),
    ("conv2d_im2col", conv_no_bias, "differs at index"),
    ("conv2d_im2col", conv_flipped_kernel, "do not flip the kernel"),
    ("conv2d_im2col", conv_ignores_stride, "has shape"),
    ("conv2d_im2col", conv_mismatched_order, "same (C, kh, kw) order"),
    ("conv2d_backward", backward_keeps_padding, "value 0 of the result has shape"),
    ("conv2d_backward", backward_bias_mean, "value 2 of the result differs"),
    ("conv2d_backward", backward_assigns_instead_of_adding, "windows overlap"),
    ("maxpool2d_backward", pool_like_average, "differs at index"),
    ("maxpool2d_backward", pool_to_all_ties, "FIRST maximum"),
    ("maxpool2d_backward", pool_assigns, "accumulate with +="),
], extra_right=[("conv_output_shape", shape_as_list)])


def test_the_first_mistake_is_reported_with_the_case():
    message = assert_fails(check.conv2d_im2col, conv_no_bias, "conv2d_im2col")
    assert "Test case" in message and "Hint:" in message
