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
# Four functions from chapter 06. Each **check** cell compares your function with PyTorch
# (`torch.nn.functional.conv2d`, `max_pool2d` and autograd, in float64) on random inputs, batch size 1,
# strides and padding included, and tells you the first entry that is wrong, with a hint. Replace every
# `raise NotImplementedError` with NumPy code (no PyTorch inside your functions).
#
# Layout conventions, as in PyTorch: images `x` have shape $(N, C, H, W)$, kernels `weight` have shape
# $(D, C, k_h, k_w)$, and the output of a convolution has shape $(N, D, H_\text{out}, W_\text{out})$.

# %%
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlcourse.checks import cnn as check

# %% [markdown]
# ## Task 1 · An output-shape calculator
#
# A convolution with `out_channels` kernels of size `kernel_size`×`kernel_size`, stride $s$ and zero padding
# $p$ on every side maps an input of shape $(N, C, H, W)$ to $(N, D, H_\text{out}, W_\text{out})$ with
#
# $$ H_\text{out} = \left\lfloor \frac{H + 2p - k}{s} \right\rfloor + 1 $$
#
# and the same for $W$. Return the output shape as a tuple of four ints.

# %%
def conv_output_shape(input_shape, out_channels, kernel_size, stride=1, padding=0):
    """input_shape: (N, C, H, W); kernel_size, stride, padding: ints. Returns (N, out_channels, H_out, W_out)."""
    ### BEGIN SOLUTION
    N, C, H, W = input_shape
    H_out = (H + 2 * padding - kernel_size) // stride + 1
    W_out = (W + 2 * padding - kernel_size) // stride + 1
    return (N, out_channels, H_out, W_out)
    ### END SOLUTION


# %% tags=["check"]
check.conv_output_shape(conv_output_shape)

# %% [markdown]
# ## Task 2 · Convolution by im2col
#
# Compute $Y_{n,d,i,j} = b_d + \sum_{c,a,b} W_{d,c,a,b}\,\tilde X_{n,c,\,si+a,\,sj+b}$ (the cross-correlation
# of deep-learning libraries, $\tilde X$ the zero-padded input) **without Python loops over positions**:
#
# 1. pad `x` on its last two axes (`np.pad`);
# 2. get every window as a view with `sliding_window_view(xp, (kh, kw), axis=(2, 3))`, keeping every
#    `stride`-th window: shape $(N, C, H_\text{out}, W_\text{out}, k_h, k_w)$;
# 3. rearrange into a matrix `cols` with one row per output position, $(N H_\text{out} W_\text{out},\; C k_h k_w)$;
# 4. one matrix product with the kernels flattened to $(D,\; C k_h k_w)$ in the same order, plus the bias;
# 5. reshape and transpose to $(N, D, H_\text{out}, W_\text{out})$.

# %%
def conv2d_im2col(x, weight, bias, stride=1, padding=0):
    """x: (N, C, H, W); weight: (D, C, kh, kw); bias: (D,). Returns (N, D, H_out, W_out)."""
    ### BEGIN SOLUTION
    N = x.shape[0]
    D, C, kh, kw = weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]   # (N, C, Ho, Wo, kh, kw)
    H_out, W_out = windows.shape[2:4]
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(N * H_out * W_out, C * kh * kw)
    y = cols @ weight.reshape(D, -1).T + bias                                            # (N Ho Wo, D)
    return y.reshape(N, H_out, W_out, D).transpose(0, 3, 1, 2)
    ### END SOLUTION


# %% tags=["check"]
check.conv2d_im2col(conv2d_im2col)

# %% [markdown]
# ## Task 3 · The backward pass of a convolution
#
# Given the upstream gradient $G = \partial\mathcal{L}/\partial Y$ of shape $(N, D, H_\text{out}, W_\text{out})$,
# return $\partial\mathcal{L}/\partial X$, $\partial\mathcal{L}/\partial W$ and $\partial\mathcal{L}/\partial b$.
# From the chapter:
#
# $$ \frac{\partial\mathcal{L}}{\partial W_{d,c,a,b}} = \sum_{n,i,j} G_{n,d,i,j}\,\tilde X_{n,c,\,si+a,\,sj+b},
#    \qquad \frac{\partial\mathcal{L}}{\partial b_d} = \sum_{n,i,j} G_{n,d,i,j}, $$
#
# and every input pixel collects $G_{n,d,i,j} W_{d,c,a,b}$ from each window that contains it. Loops over the
# output positions are fine here (vectorise over the channels inside). Do not forget to remove the
# padding from the input gradient.

# %%
def conv2d_backward(x, weight, grad_out, stride=1, padding=0):
    """x: (N, C, H, W); weight: (D, C, kh, kw); grad_out: (N, D, H_out, W_out).
    Returns (grad_x (N, C, H, W), grad_weight (D, C, kh, kw), grad_bias (D,))."""
    ### BEGIN SOLUTION
    D, C, kh, kw = weight.shape
    N, _, H_out, W_out = grad_out.shape
    H, W = x.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    grad_xp, grad_weight = np.zeros_like(xp), np.zeros_like(weight)
    for i in range(H_out):
        for j in range(W_out):
            rows, cols = slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw)
            g = grad_out[:, :, i, j]                                       # (N, D)
            grad_weight += np.einsum("nd,nchw->dchw", g, xp[:, :, rows, cols])
            grad_xp[:, :, rows, cols] += np.einsum("nd,dchw->nchw", g, weight)
    grad_x = grad_xp[:, :, padding:padding + H, padding:padding + W]
    return grad_x, grad_weight, grad_out.sum(axis=(0, 2, 3))
    ### END SOLUTION


# %% tags=["check"]
check.conv2d_backward(conv2d_backward)

# %% [markdown]
# ## Task 4 · The backward pass of max pooling
#
# Max pooling with a `kernel_size`×`kernel_size` window moved by `stride` (no padding) keeps the largest
# value of each window. Its backward pass sends each window's gradient entirely to the position of that
# maximum (the **first** one if several entries are equal, as PyTorch does: `np.argmax` does exactly that);
# every other entry of the window receives nothing from it. When windows overlap (stride smaller than the
# window), a pixel can be the maximum of several windows and collects all their gradients.

# %%
def maxpool2d_backward(x, grad_out, kernel_size, stride):
    """x: (N, C, H, W); grad_out: (N, C, H_out, W_out). Returns grad_x (N, C, H, W)."""
    ### BEGIN SOLUTION
    N, C, H_out, W_out = grad_out.shape
    k, s = kernel_size, stride
    grad_x = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * s:i * s + k, j * s:j * s + k]
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                    grad_x[n, c, i * s + a, j * s + b] += grad_out[n, c, i, j]
    return grad_x
    ### END SOLUTION


# %% tags=["check"]
check.maxpool2d_backward(maxpool2d_backward)

# %% [markdown]
# ## Use it
#
# Your functions make a small convolutional layer. Check your backward pass against central differences
# of your forward pass on a tiny example (the relative error should be around $10^{-9}$ or smaller), then
# apply your convolution to a real photo with the lecture's vertical-edge kernel.

# %%
rng = np.random.default_rng(0)
x = rng.normal(size=(2, 3, 6, 5))
weight, bias = rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
G = rng.normal(size=conv_output_shape(x.shape, 4, 3, stride=2, padding=1))


def loss_of(w):
    return float(np.sum(conv2d_im2col(x, w, bias, stride=2, padding=1) * G))   # dL/dY = G


numeric = np.zeros_like(weight)
for idx in np.ndindex(weight.shape):
    e = np.zeros_like(weight)
    e[idx] = 1e-6
    numeric[idx] = (loss_of(weight + e) - loss_of(weight - e)) / 2e-6
grad_weight = conv2d_backward(x, weight, G, stride=2, padding=1)[1]
print(f"relative error of grad_weight: "
      f"{np.linalg.norm(grad_weight - numeric) / (np.linalg.norm(grad_weight) + np.linalg.norm(numeric)):.1e}")

# %%
import matplotlib.pyplot as plt
from sklearn.datasets import load_sample_images

photo = load_sample_images().images[1][::2, ::2].mean(axis=2) / 255          # (214, 320) grey flower
vertical_edges = np.array([[-1.0, 0.0, 1.0]] * 3)[None, None]                  # (1, 1, 3, 3)
edges = conv2d_im2col(photo[None, None], vertical_edges, np.zeros(1), padding=1)[0, 0]
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
axes[0].imshow(photo, cmap="gray")
axes[1].imshow(edges, cmap="RdBu_r")
for ax, title in zip(axes, ["photo", "vertical edges"]):
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# **Think.** (1) Why does `conv2d_backward` need `+=` for the input gradient but a max-pooling layer with
# stride equal to its window size would not? (2) How many multiplications does your im2col convolution
# perform, and how many numbers does `cols` hold compared with `x`? (3) Your Task 3 loops over output
# positions; how would you vectorise it with the `cols` matrix of Task 2 (hint: two matrix products and a
# scatter-add, the chapter's `col2im`)?
