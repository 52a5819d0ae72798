# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 06 · Convolutional networks
#
# The chapter's convolutions have square kernels in its examples, and its im2col stores images
# channels-last. Here you write the general versions that the chapter does not print: non-square kernels
# $(k_h, k_w)$, strides and paddings given as one int or as a pair, im2col in PyTorch's $(C, k_h, k_w)$
# order, its adjoint `col2im`, the backward pass of a convolution **without loops over the output
# positions**, and a loop-free backward pass of max pooling. Then an outcome task: train your own CNN on
# MNIST-1D to a stated validation accuracy; and three questions to answer in words.
#
# Each **check** cell compares your function with PyTorch (`torch.nn.functional.conv2d`, `unfold`, `fold`,
# `max_pool2d` and autograd, in float64) on random inputs and names the first thing that is wrong.
# `check.hint("name")` gives a nudge (call it again for a stronger one), and
# `check.failing_case("name")` returns the inputs of the case that failed, to run your function on.
# Replace every `raise NotImplementedError` with NumPy code (no PyTorch inside Tasks 1-5).
#
# Layout conventions, as in PyTorch: images `x` have shape $(N, C, H, W)$, kernels `weight` have shape
# $(D, C, k_h, k_w)$, and the output of a convolution has shape $(N, D, H_\text{out}, W_\text{out})$.

# %%
import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

from dlcourse import data
from dlcourse.checks import cnn as check
from dlcourse.validate import int_pair   # int_pair(3, "stride") == (3, 3); int_pair((2, 1), "stride") == (2, 1)


# %% [markdown]
# ## Task 1 · Output shapes with non-square kernels
#
# A convolution with `out_channels` kernels of size $k_h \times k_w$, stride $(s_h, s_w)$ and zero padding
# $(p_h, p_w)$ ($p_h$ rows above and below, $p_w$ columns left and right) maps $(N, C, H, W)$ to
# $(N, D, H_\text{out}, W_\text{out})$ with
#
# $$ H_\text{out} = \left\lfloor \frac{H + 2p_h - k_h}{s_h} \right\rfloor + 1, \qquad
#    W_\text{out} = \left\lfloor \frac{W + 2p_w - k_w}{s_w} \right\rfloor + 1 . $$
#
# `kernel_size`, `stride` and `padding` may each be one int (the same along both axes) or a pair, as in
# PyTorch (`int_pair(value, name)`, imported above, converts either to a pair). Return a tuple of four
# **ints**: the next cell uses them as array sizes.

# %%
def conv_output_shape(input_shape, out_channels, kernel_size, stride=1, padding=0):
    """input_shape: (N, C, H, W); kernel_size, stride, padding: int or (int, int).
    Returns (N, out_channels, H_out, W_out), four ints."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.conv_output_shape(conv_output_shape)

# %% [markdown]
# ## Task 2 · im2col in PyTorch's order, and a convolution with it
#
# `im2col(x, kernel_size, stride, padding)` pads `x`, takes every window (every `stride`-th along each
# axis) and copies it into one row of a matrix `cols` of shape $(N H_\text{out} W_\text{out},\;
# C k_h k_w)$: rows in $(n, i, j)$ order, and each row in the order $(c, a, b)$ of `weight[d]`, so that
# one matrix product of `cols` with the kernels, flattened in the same order, is the convolution. Use `sliding_window_view` (a view, no loops over
# positions). Then write `conv2d_im2col` with it, bias included.

# %%
def im2col(x, kernel_size, stride=1, padding=0):
    """x: (N, C, H, W). Returns cols (N * H_out * W_out, C * kh * kw), rows in (n, i, j) order, each row in
    (c, a, b) order; kernel_size, stride, padding: int or pair."""
    raise NotImplementedError  # your code here


def conv2d_im2col(x, weight, bias, stride=1, padding=0):
    """x: (N, C, H, W); weight: (D, C, kh, kw); bias: (D,); stride, padding: int or pair.
    Returns (N, D, H_out, W_out)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.im2col(im2col)
check.conv2d_im2col(conv2d_im2col)

# %% [markdown]
# ## Task 3 · col2im, the adjoint of im2col
#
# `im2col` copies each input pixel into every row whose window covers it. Its adjoint `col2im` goes the
# other way: given a matrix `cols` of the same shape, it **adds** each entry back onto the pixel it was
# copied from, and returns an array of shape `x_shape` $(N, C, H, W)$ (entries that were copied from the
# padding are dropped). This is exactly what the backward pass of `im2col` does with a gradient.
#
# Write it without loops over the output positions: one loop over the $k_h k_w$ kernel offsets $(a, b)$ is
# fine (for each offset, all windows' entries land on a strided grid of the padded image).

# %%
def col2im(cols, x_shape, kernel_size, stride=1, padding=0):
    """cols: (N * H_out * W_out, C * kh * kw) in im2col's layout. Returns (N, C, H, W) = x_shape."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.col2im(col2im)

# %% [markdown]
# ## Task 4 · The backward pass of a convolution, via im2col and col2im
#
# With $\text{cols} = $ `im2col(x)`, $W_\text{mat}$ = `weight.reshape(D, -1)` and the upstream gradient
# $G = \partial\mathcal{L}/\partial Y$ of shape $(N, D, H_\text{out}, W_\text{out})$ rearranged into
# $G_\text{mat}$ of shape $(N H_\text{out} W_\text{out}, D)$, the forward pass is
# $Y_\text{mat} = \text{cols}\, W_\text{mat}^\top + b$. Differentiate this matrix product (chapter 03's
# linear layer) to get the gradients of $W_\text{mat}$, $b$ and $\text{cols}$, then use your `col2im` to
# turn the gradient of `cols` into the gradient of `x`. No loops over output positions.

# %%
def conv2d_backward(x, weight, grad_out, stride=1, padding=0):
    """x: (N, C, H, W); weight: (D, C, kh, kw); grad_out: (N, D, H_out, W_out).
    Returns (grad_x (N, C, H, W), grad_weight (D, C, kh, kw), grad_bias (D,))."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.conv2d_backward(conv2d_backward)

# %% [markdown]
# ## Task 5 · A loop-free backward pass of max pooling
#
# Max pooling with a $k_h \times k_w$ window moved by stride $(s_h, s_w)$ (no padding) keeps the largest
# value of each window. Its backward pass sends each window's gradient entirely to the position of that
# maximum: the **first** one if several entries are equal, as PyTorch does (`np.argmax` over a flattened
# window does exactly that); when windows overlap, a pixel collects the gradients of every window it
# is the maximum of. The chapter's `MaxPool2d` does this with its own im2col; here, write it without
# any Python loop: find every window's maximum with one `argmax` over a window view, turn it into the
# input coordinates $(n, c, r, q)$ of that pixel, and add all the gradients there at once with `np.add.at`
# (plain fancy-index assignment `g[idx] += v` loses repeated indices).

# %%
def maxpool2d_backward(x, grad_out, kernel_size, stride):
    """x: (N, C, H, W); grad_out: (N, C, H_out, W_out); kernel_size, stride: int or pair. Returns grad_x."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.maxpool2d_backward(maxpool2d_backward)

# %% [markdown]
# ## Use it
#
# Your functions make a small convolutional layer. Check your backward pass against central differences
# of your forward pass on a tiny example with a non-square kernel (the relative error should be around
# $10^{-9}$ or smaller).

# %%
rng = np.random.default_rng(0)
x = rng.normal(size=(2, 3, 6, 5))
weight, bias = rng.normal(size=(4, 3, 3, 2)), rng.normal(size=4)
G = rng.normal(size=conv_output_shape(x.shape, 4, (3, 2), stride=(2, 1), padding=(1, 0)))


def loss_of(w):
    return float(np.sum(conv2d_im2col(x, w, bias, stride=(2, 1), padding=(1, 0)) * G))   # dL/dY = G


numeric = np.zeros_like(weight)
for idx in np.ndindex(weight.shape):
    e = np.zeros_like(weight)
    e[idx] = 1e-6
    numeric[idx] = (loss_of(weight + e) - loss_of(weight - e)) / 2e-6
grad_weight = conv2d_backward(x, weight, G, stride=(2, 1), padding=(1, 0))[1]
print(f"relative error of grad_weight: "
      f"{np.linalg.norm(grad_weight - numeric) / (np.linalg.norm(grad_weight) + np.linalg.norm(numeric)):.1e}")

# %% [markdown]
# ## Task 6 · Outcome: a CNN for MNIST-1D
#
# Chapter 06 trains a small "modern" CNN on MNIST-1D. Now build and train your own, in PyTorch, with
# any architecture and optimizer you like, under two limits: **at most 20 000 parameters** and **at most
# 20 epochs** over the 3 200 training sequences (the check measures the parameters; the epochs are on
# your honour). `train_mnist1d_cnn(X, y, seed)` receives the training sequences `X` (3200, 40) float32
# and their labels `y`, and returns the trained model: a `torch.nn.Module` mapping a (B, 40) float32
# tensor to (B, 10) scores. The check evaluates it on the 800 validation sequences, which your code
# never sees. **Target: 91% validation accuracy.** (For scale: logistic regression reaches about 31%,
# the paper's MLP 68% and its CNN 94% after 150+ epochs.)

# %%
def train_mnist1d_cnn(X, y, seed=0):
    """Train a 1-D CNN (<= 20 000 parameters, <= 20 epochs) on X (N, 40), y (N,); return the model."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.mnist1d_outcome(train_mnist1d_cnn)

# %% [markdown]
# ## Think
#
# Answer each question in two or three sentences in the cell below it, then open the discussion.
#
# **(1)** Your `col2im` adds (`+=`) into the padded image, and your max-pool backward uses `np.add.at`.
# When would plain assignment give the same result, and why does it not in general?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The gradient of a variable used several times is the sum of the gradients of its uses (chapter 03's
# multivariate chain rule). In a convolution with stride 1 and a 3×3 kernel, an interior pixel is used by
# 9 windows. Max pooling with stride = window size never overlaps, which is why the chapter's simple
# examples hide the bug; `check.maxpool2d_backward` includes overlapping cases to catch it.
# </details>

# %% [markdown]
# **(2)** How many numbers does `cols` hold compared with `x` (stride 1, "same" padding, a $k \times k$
# kernel), and how many multiplications does `conv2d_im2col` perform? Why do libraries still use im2col?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The arithmetic does not change, only how it is organised. Fast libraries avoid materialising the whole
# `cols` (implicit GEMM, Winograd or FFT convolutions for large kernels), but the idea of turning a
# convolution into a matrix product stays.
# </details>

# %% [markdown]
# **(3)** The chapter's LeCun experiment found that Net-5 beats Net-1 clearly on translated digits but not
# on centred ones. In your MNIST-1D network, which layer makes the prediction (almost) independent of where
# a pattern sits in the sequence, and what would you expect if you replaced it with `Flatten` followed by
# a linear layer?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The convolutions are translation-*equivariant* (a shifted input gives shifted feature maps, up to the
# borders and the pooling grid); a global pool turns that into (approximate) *invariance*. This is an
# inductive bias: it helps exactly when the label does not depend on the position, as in MNIST-1D, and
# would hurt a task where position matters.
# </details>
