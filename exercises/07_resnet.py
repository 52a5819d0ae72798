# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 07 · Residual networks
#
# Three tasks from chapter 07. Each **check** cell compares your function with PyTorch on random inputs
# (float64) and tells you the first entry that is wrong, with a hint. Replace every
# `raise NotImplementedError` with NumPy code.

# %%
import numpy as np

from dlcourse.checks import resnet as check

# %% [markdown]
# ## Task 1 · A residual block, forward
#
# A fully connected residual block with input $x$ of shape $(N, D_\text{in})$:
#
# $$ F(x) = \mathrm{ReLU}(xW_1^\top + b_1)\,W_2^\top + b_2, \qquad h = s(x) + F(x), $$
#
# where the shortcut is the identity $s(x) = x$ when `P is None` (then $D_\text{out} = D_\text{in}$), and
# the projection $s(x) = xP^\top$ with $P$ of shape $(D_\text{out}, D_\text{in})$ otherwise. No ReLU after
# the sum here.

# %%
def residual_forward(x, W1, b1, W2, b2, P=None):
    """x: (N, D_in), W1: (H, D_in), b1: (H,), W2: (D_out, H), b2: (D_out,), P: (D_out, D_in) or None.
    Returns h: (N, D_out)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.residual_forward(residual_forward)

# %% [markdown]
# ## Task 2 · Its backward pass, with a projection shortcut
#
# Given $G = \partial\mathcal{L}/\partial h$ of shape $(N, D_\text{out})$, return the gradients of the loss
# with respect to $x$, $W_1$, $b_1$, $W_2$, $b_2$ and $P$. The input gradient is the sum of the two paths:
# $\partial\mathcal{L}/\partial x = G P + (\text{the gradient through } F)$.

# %%
def residual_backward(x, W1, b1, W2, b2, P, grad_out):
    """Shapes as in Task 1 (P is given); grad_out: (N, D_out).
    Returns (grad_x, grad_W1, grad_b1, grad_W2, grad_b2, grad_P)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.residual_backward(residual_backward)

# %% [markdown]
# ## Task 3 · How many parameters has a ResNet?
#
# Count the trainable parameters of a BasicBlock ResNet in torchvision's layout (chapter 07's
# `dlcourse.resnet.ResNet`): a $7\times 7$ stem convolution from `in_channels` to `widths[0]` channels
# (no bias) and its batch norm; then stage $i$ has `layers[i]` BasicBlocks with `widths[i]` channels, each
# two $3\times 3$ convolutions without bias and two batch norms (a weight and a bias per channel; the
# running statistics are buffers, not parameters); the first block of a stage gets a projection shortcut
# ($1\times 1$ convolution without bias + batch norm) when its stride is 2 (every stage but the first) or
# its number of input channels differs from `widths[i]`; finally a linear classifier from `widths[-1]`
# to `num_classes`. ResNet-18 for ImageNet has 11,689,512.

# %%
def resnet_num_parameters(layers, widths, num_classes, in_channels=3):
    """layers: blocks per stage, widths: channels per stage. Returns the number of parameters (int)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.resnet_num_parameters(resnet_num_parameters)

# %% [markdown]
# ## Use it
#
# Where do ResNet-18's 11.7 M (ImageNet) parameters sit? Almost all in the last stages, where the
# convolutions have 256 and 512 channels; the stem and the classifier are small.

# %%
r18 = resnet_num_parameters((2, 2, 2, 2), (64, 128, 256, 512), 1000)
r34 = resnet_num_parameters((3, 4, 6, 3), (64, 128, 256, 512), 1000)
stage4 = resnet_num_parameters((2, 2, 2, 2), (64, 128, 256, 512), 1000) - resnet_num_parameters(
    (2, 2, 2), (64, 128, 256), 1000) - 512 * 1000 + 256 * 1000
print(f"ResNet-18: {r18:,} parameters, ResNet-34: {r34:,}")
print(f"stage 4 of ResNet-18 alone: {stage4:,} ({stage4 / r18:.0%})")

# %% [markdown]
# **Think.** (1) In Task 2, what is $\partial\mathcal{L}/\partial x$ when all of $W_1, b_1, W_2, b_2$ are zero
# and $P = I$? (2) Why does the count of Task 3 not depend on the image size? (3) Chapter 07's ResNet-18
# for 16x16 digits used a $3\times 3$ stem instead of the $7\times 7$ one: how many parameters does that save
# with one input channel?
