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
# Four tasks from chapter 07 and three questions. Tasks 1-2 write a fully connected residual block as
# plain functions, forward and backward, with a projection shortcut (the chapter's `Residual` class
# composes layers; here you write the arithmetic). Task 3 counts the parameters of any ResNet, with basic
# **or bottleneck** blocks, by a formula (the chapter only sums `numel()`). Task 4 is an outcome task:
# train a deep network on the digits to a stated validation accuracy with your own code.
#
# Each **check** cell compares your function with PyTorch on random inputs (float64) and names the first
# thing that is wrong. `check.hint("name")` gives a nudge (call it again for a stronger one), and
# `check.failing_case("name")` returns the inputs of the case that failed, to run your function on.
# Replace every `raise NotImplementedError` with your code.

# %%
import numpy as np
import torch
from torch import nn

from dlcourse import data
from dlcourse.checks import resnet as check
from dlcourse.resnet import BasicBlock, ResNet, cifar_resnet

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
    ### BEGIN SOLUTION
    fx = np.maximum(x @ W1.T + b1, 0) @ W2.T + b2      # F(x): (N, D_out)
    shortcut = x if P is None else x @ P.T             # s(x): (N, D_out)
    return shortcut + fx
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    A = x @ W1.T + b1                      # (N, H)
    H = np.maximum(A, 0)                   # (N, H)
    G = grad_out                           # (N, D_out)
    grad_W2, grad_b2 = G.T @ H, G.sum(axis=0)
    grad_A = (G @ W2) * (A > 0)            # (N, H)
    grad_W1, grad_b1 = grad_A.T @ x, grad_A.sum(axis=0)
    grad_P = G.T @ x                       # (D_out, D_in)
    grad_x = grad_A @ W1 + G @ P           # through F + through the shortcut
    return grad_x, grad_W1, grad_b1, grad_W2, grad_b2, grad_P
    ### END SOLUTION


# %% tags=["check"]
check.residual_backward(residual_backward)

# %% [markdown]
# ## Task 3 · How many parameters has a ResNet?
#
# Count the trainable parameters of a ResNet in torchvision's layout (chapter 07's `dlcourse.resnet.ResNet`)
# with a formula, without building the network. A $7\times 7$ stem convolution from `in_channels` to
# `widths[0]` channels (no bias) and its batch norm; then stage $i$ has `layers[i]` blocks; finally a
# linear classifier to `num_classes`. Convolutions have no bias; a batch norm layer has a weight and a bias
# per channel (the running statistics are buffers, not parameters). The blocks:
#
# - `bottleneck=False`: **basic blocks**, two $3\times 3$ convolutions with `widths[i]` channels, each
#   followed by batch norm; a stage outputs `widths[i]` channels.
# - `bottleneck=True`: **bottleneck blocks**, a $1\times 1$ convolution to `widths[i]` channels, a
#   $3\times 3$ one at `widths[i]`, a $1\times 1$ one to $4\cdot$`widths[i]`, each followed by batch norm;
#   a stage outputs $4\cdot$`widths[i]` channels.
#
# The first block of a stage gets a projection shortcut ($1\times 1$ convolution + batch norm, from the
# block's input channels to its output channels) when its stride is 2 (every stage but the first) or its
# input and output channel counts differ. Return a Python `int`. ResNet-18 for ImageNet has 11,689,512
# parameters, ResNet-50 25,557,032.

# %%
def resnet_num_parameters(layers, widths, num_classes, in_channels=3, bottleneck=False):
    """layers: blocks per stage, widths: channels per stage (planes). Returns the number of parameters (int)."""
    ### BEGIN SOLUTION
    def bn(c):
        return 2 * c

    expansion = 4 if bottleneck else 1
    total = 7 * 7 * in_channels * widths[0] + bn(widths[0])           # stem
    c_in = widths[0]
    for i, (n, c) in enumerate(zip(layers, widths)):
        c_out = expansion * c
        for j in range(n):
            if bottleneck:                                            # 1x1 reduce, 3x3, 1x1 expand
                total += c_in * c + bn(c) + 9 * c * c + bn(c) + c * c_out + bn(c_out)
            else:                                                     # two 3x3
                total += 9 * c_in * c + bn(c) + 9 * c * c + bn(c)
            if j == 0 and (i > 0 or c_in != c_out):
                total += c_in * c_out + bn(c_out)                     # projection shortcut
            c_in = c_out
    return total + c_in * num_classes + num_classes                   # classifier
    ### END SOLUTION


# %% tags=["check"]
check.resnet_num_parameters(resnet_num_parameters)

# %% [markdown]
# ### Use it
#
# Where do the parameters sit, and what does the bottleneck buy? Almost all of ResNet-18's 11.7 M
# parameters are in its last stages, where the convolutions have 256 and 512 channels. ResNet-50 has
# almost three times the depth for 2.2 times the parameters.

# %%
imagenet = dict(widths=(64, 128, 256, 512), num_classes=1000)
r18 = resnet_num_parameters((2, 2, 2, 2), **imagenet)
r34 = resnet_num_parameters((3, 4, 6, 3), **imagenet)
r50 = resnet_num_parameters((3, 4, 6, 3), **imagenet, bottleneck=True)
r152 = resnet_num_parameters((3, 8, 36, 3), **imagenet, bottleneck=True)
stage4 = r18 - resnet_num_parameters((2, 2, 2), (64, 128, 256), 1000) - 512 * 1000 + 256 * 1000
print(f"ResNet-18: {r18:,}, ResNet-34: {r34:,}, ResNet-50: {r50:,}, ResNet-152: {r152:,} parameters")
print(f"stage 4 of ResNet-18 alone: {stage4:,} ({stage4 / r18:.0%})")

# %% [markdown]
# ## Task 4 · Outcome: a deep network on the digits
#
# Chapter 07 trains plain and residual networks of 32 layers on the $16\times 16$ digits. Now build and
# train your own, in PyTorch, under two rules: **at least 20 layers deep** (convolutions and linear
# layers on the main path, projection shortcuts not counted; the check counts them) and **at most 8
# epochs** over the 1077 training digits (on your honour). You may use the chapter's `BasicBlock`,
# `ResNet` or `cifar_resnet`, or write your own blocks. `train_digits_resnet(X, y, seed)` receives the
# training images `X` (1077, 1, 16, 16) float32 and their labels `y` and returns the trained model, a
# `torch.nn.Module` mapping (B, 1, 16, 16) to (B, 10) scores. The check evaluates it on the 270
# validation digits, which your code never sees. **Target: 95% validation accuracy.** (For scale: the
# chapter's plain-32 reaches about 58% after 4 epochs, res-32 about 92%.)

# %%
def train_digits_resnet(X, y, seed=0):
    """Train a network >= 20 layers deep for <= 8 epochs on X (N, 1, 16, 16), y (N,); return the model."""
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    epochs = 6
    model = cifar_resnet(20, (8, 16, 32))                  # 3 stages of 3 basic blocks: 19 convs + 1 linear
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    loader = data.to_loader(X, y, batch_size=64, seed=seed)
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
    return model.eval()
    ### END SOLUTION


# %% tags=["check"]
check.digits_resnet_outcome(train_digits_resnet)

# %% [markdown]
# ## Think
#
# Answer each question in two or three sentences in the cell below it, then open the discussion.
#
# **(1)** In Task 2, what is $\partial\mathcal{L}/\partial x$ when all of $W_1, b_1, W_2, b_2$ are zero and
# $P = I$? What does that mean for a deep stack of such blocks?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# With zero weights the branch contributes nothing (its gradient is multiplied by $W_1 = 0$ and
# $W_2 = 0$), so $\partial\mathcal{L}/\partial x = G P = G$: the upstream gradient passes through
# unchanged. A stack of such blocks is the identity forward and backward, so however deep it is, the
# gradient reaches the first layer at full size.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# This is the "+1" of $\partial h/\partial x = I + \partial F/\partial x$: with $F = 0$ only the identity
# remains. A plain stack with zero weights does the opposite: its output is constant and every gradient
# below the first zero layer is exactly zero. The chapter's NumPy experiment shows the same effect with
# small (not zero) weights: the plain stack's gradient vanishes, the residual one's does not.
# </details>

# %% [markdown]
# **(2)** Why does the count of Task 3 not depend on the size of the images? What in the network makes
# that possible?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# A convolution's weights are shared across positions: the same $k \times k \times C_\text{in}$ kernel
# slides over the whole image, so its size depends on channels and kernel size only. The classifier sees
# a fixed number of features because global average pooling reduces every feature map to one number per
# channel, whatever its height and width.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# Without the global pooling, a flattening layer would give the classifier $C \cdot H \cdot W$ inputs,
# and the parameter count (and the network itself) would be tied to one image size, as in AlexNet or
# VGG, whose first fully connected layers hold most of their parameters. The computation, in contrast,
# does grow with the image: the same ResNet-18 costs about 50 times more on $224\times 224$ images than
# on $32\times 32$ ones.
# </details>

# %% [markdown]
# **(3)** Chapter 07's longer run trains plain-32 three times as long as the short run: it ends below
# the training loss plain-8 reached in 4 epochs, but still several times above plain-8's after 12. Is
# that the degradation problem? What would you run to tell "cannot fit" from "fits more slowly"?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# At equal budget it is degradation as the paper defines it: the deeper plain net has the higher
# training loss. But plain-32 is not stuck: with more epochs it keeps going down, so on our digits the
# measurement shows slower convergence, not a floor. To tell them apart I would train both much longer
# (until the training loss stops falling) on several seeds and compare the losses they level off at.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# He et al. argue that the difference is not vanishing gradients (they used batch norm and checked that
# the gradients are healthy) and conjecture that deep plain nets "may have exponentially low convergence
# rates". That is the slower-convergence reading; on a dataset of 1077 digits that a 32-layer network can
# memorise, a floor would be surprising. Comparing at equal budget is still the fair test for practice:
# the shortcuts give a network the same accuracy in far fewer steps.
# </details>
