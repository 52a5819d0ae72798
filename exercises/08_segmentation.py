# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 08 · Segmentation and detection
#
# Five tasks from chapter 08 and three questions. The chapter resizes images with a dense interpolation
# matrix per axis and with a transposed convolution, reports per-class IoU and Dice (from a helper it does
# not print), and prints single-class non-maximum suppression. Here you write what it does not print:
# Task 1 a **bilinear** resize to any output size, up or down, with both values of `align_corners`, by
# gathering neighbours (no matrix); Task 2 the IoU and Dice of every class from two label masks; Task 3
# non-maximum suppression **with classes**; Task 4 the `output_padding` that makes a decoder restore an
# encoder's exact size. Task 5 is an outcome task: train your own segmentation network to a stated IoU.
#
# Each **check** cell compares your function with PyTorch or torchvision (`F.interpolate`,
# `torchvision.ops.batched_nms`, `F.conv_transpose2d`) or with a reference on random inputs, and names the
# first thing that is wrong. `check.hint("name")` gives a nudge (call it again for a stronger one), and
# `check.failing_case("name")` returns the inputs of the case that failed, to run your function on.
# Replace every `raise NotImplementedError` with NumPy code (no PyTorch inside Tasks 1-4).

# %%
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import dlcourse
from dlcourse import data
from dlcourse.checks import segmentation as check

dlcourse.set_threads(1)      # small networks train faster on one thread than on several competing ones


# %% [markdown]
# ## Task 1 · Bilinear resizing, any size, both conventions
#
# `upsample_bilinear(x, size, align_corners)` resizes images `x` of shape $(N, C, H, W)$ to
# $(N, C, H_\text{out}, W_\text{out})$ with `size` $= (H_\text{out}, W_\text{out})$, like
# `F.interpolate(x, size, mode="bilinear", align_corners=...)`. The output sizes are arbitrary (at least
# 2): larger or smaller than the input, and the two axes change by different factors.
#
# Bilinear interpolation is separable: resize along the rows, then along the columns. Output row $i$
# samples the input at a fractional coordinate $u_i$:
#
# - `align_corners=True`: the corner pixels of input and output coincide, $u_i = i\,\dfrac{H - 1}{H_\text{out} - 1}$;
# - `align_corners=False`: the pixel *centres* are matched, $u_i = \left(i + \tfrac12\right)\dfrac{H}{H_\text{out}} - \tfrac12$,
#   clamped at 0 (PyTorch's convention).
#
# The value there mixes the input rows $\lfloor u_i \rfloor$ and the one below it (kept inside the
# image), weighted by how close $u_i$ is to each. Columns work the same way with $W$ and $W_\text{out}$.
#
# The chapter writes this as a matrix $A$ of shape $(H_\text{out}, H)$ with two nonzeros per row. Do not
# build it (nor call `interpolation_matrix`): compute, per axis, the index arrays of the two neighbours and
# their weights, and gather rows and columns of `x` with them, so that the memory is proportional to the
# output.

# %%
def upsample_bilinear(x, size, align_corners=False):
    """x: (N, C, H, W); size: (H_out, W_out). Returns (N, C, H_out, W_out), like F.interpolate(mode="bilinear")."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.upsample_bilinear(upsample_bilinear)

# %% [markdown]
# ## Task 2 · IoU and Dice of every class
#
# A segmentation network predicts a label per pixel. For class $c$, let $P_c$ be the set of pixels
# predicted as $c$ and $T_c$ the set of pixels labelled $c$ in the target (over all images of the
# batch together). Then
#
# $$ \text{IoU}_c = \frac{|P_c \cap T_c|}{|P_c \cup T_c|}, \qquad
#    \text{Dice}_c = \frac{2\,|P_c \cap T_c|}{|P_c| + |T_c|} . $$
#
# A class that appears in **neither** mask has no score: return NaN for it (then `np.nanmean` averages
# over the classes that occur); a class that is predicted but absent from the target scores 0.
# `pred` and `target` are integer arrays of the same shape (any number of axes) with values in
# $0, \dots, C - 1$; return two float arrays of shape $(C,)$.

# %%
def iou_and_dice(pred, target, n_classes):
    """pred, target: integer label arrays of the same shape. Returns (iou (C,), dice (C,)), NaN where a
    class is in neither."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.iou_and_dice(iou_and_dice)

# %% [markdown]
# ## Task 3 · Non-maximum suppression with classes
#
# The chapter's `nms(boxes, scores, iou_threshold)` treats all boxes alike: a confident circle would
# delete an overlapping square. Detectors run NMS **per class**: `batched_nms(boxes, scores, labels,
# iou_threshold)` keeps a box unless a kept box *of the same label* with a higher score overlaps it with
# IoU **strictly greater** than `iou_threshold`. Boxes are $(N, 4)$ arrays of corners $(x_1, y_1, x_2,
# y_2)$ with $x_1 < x_2$, $y_1 < y_2$; `scores` $(N,)$ are distinct; `labels` $(N,)$ are integers.
# Return the kept **indices** (an integer array into the original arrays) in decreasing score order,
# exactly like `torchvision.ops.batched_nms`. NumPy only; you may call the chapter's `nms` and `box_iou`
# (`from dlcourse.boxes import box_iou, nms`) or write the greedy loop yourself.

# %%
def batched_nms(boxes, scores, labels, iou_threshold):
    """boxes: (N, 4) x1, y1, x2, y2; scores: (N,); labels: (N,) ints. Returns the kept indices (int array),
    highest score first; boxes of different labels never suppress each other."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.batched_nms(batched_nms)

# %% [markdown]
# ## Task 4 · Restoring the size: `output_padding`
#
# An encoder's convolution with kernel size $k$, stride $s$ and padding $p$ maps a side of length
# $H$ to $H' = \lfloor (H + 2p - k)/s \rfloor + 1$. A decoder's `ConvTranspose2d` with the same $k, s, p$
# maps $H'$ to $(H' - 1)\,s - 2p + k + o$, where $o$ is its argument `output_padding`. Because of the
# floor, several $H$ give the same $H'$, so the transposed convolution cannot know which one to restore:
# $o$ (an int in $0, \dots, s - 1$) tells it. Write `output_padding_for(size, kernel_size, stride, padding)`: the
# `output_padding` with which the transposed convolution restores exactly `size` (all arguments ints).

# %%
def output_padding_for(size, kernel_size, stride, padding):
    """The output_padding (int) that makes ConvTranspose2d(k, stride, padding) undo the size change of
    Conv2d(k, stride, padding) on a side of length `size`."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.output_padding_for(output_padding_for)

# %% [markdown]
# ## Use it
#
# With your function a decoder restores odd sizes too: a stride-2 encoder and its mirror image on 15×15
# and 16×16 inputs (the output must have the input's size, or a U-Net could not concatenate its skips).

# %%
for side in (15, 16):
    down = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    up = nn.ConvTranspose2d(8, 3, 3, stride=2, padding=1, output_padding=output_padding_for(side, 3, 2, 1))
    x = torch.zeros(1, 3, side, side)
    print(f"{tuple(x.shape)} -> {tuple(down(x).shape)} -> {tuple(up(down(x)).shape)}")

# %% [markdown]
# ## Task 5 · Outcome: a segmentation network of your own
#
# Build and train a network, in PyTorch, that labels every pixel of 16×16 shapes images (background,
# circle, square, triangle), under two limits: **at most 30 000 parameters** and **at most 10 epochs**
# over the 1 000 training images (the check counts the parameters; the epochs are on your honour).
# `train_segmenter(images, masks, seed)` receives `images` (1000, 3, 16, 16) float32 and `masks`
# (1000, 16, 16) int64 from `data.shapes(n=1000, size=16, radius=(0.2, 0.3), seed=0)` and returns the
# trained model: a `torch.nn.Module` mapping (B, 3, 16, 16) float32 images to (B, 4, 16, 16) class
# scores. The check evaluates it on 300 validation images (seed 1) that your code never sees, with the
# IoU of Task 2 averaged over the three object classes. **Target: mean foreground IoU 0.5.**

# %%
def train_segmenter(images, masks, seed=0):
    """Train a segmentation network (<= 30 000 parameters, <= 10 epochs); return the model."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.segmentation_outcome(train_segmenter)

# %% [markdown]
# ## Think
#
# Answer each question in two or three sentences in the cell below it, then open the discussion.
#
# **(1)** The chapter's U-Net and its FCN without skips have the same encoder and the same budget, yet the
# U-Net's masks have sharper boundaries. What information do the skip connections carry that the
# decoder of the FCN cannot recover?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# Pooling throws away position within each window, and nothing later can invent it again: the decoder of
# an FCN has to guess the boundary from a low-resolution map. This is why the advantage of skips shows
# most on boundary pixels and on small objects, whose whole extent is a few pixels, and little on the
# interior of large ones.
# </details>

# %% [markdown]
# **(2)** A transposed convolution with kernel size 3 and stride 2, applied to a constant input, does not
# give a constant output but a checkerboard. Why? Which kernel size would avoid it for stride 2?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# Uneven overlap is the cause (Odena, Dumoulin and Olah, "Deconvolution and checkerboard artifacts",
# Distill 2016). Training can learn weights that compensate, but it rarely does so exactly, and the
# pattern reappears in the outputs (and in the gradients of the layer before). Common fixes: a kernel
# size divisible by the stride, or resizing (nearest or bilinear) followed by an ordinary convolution.
# </details>

# %% [markdown]
# **(3)** In the shapes images most pixels are background. Why can pixel accuracy be high for a useless
# segmentation network, and why do per-class IoU and Dice not have this problem?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The same imbalance affects the loss: per-pixel cross-entropy is also dominated by the background, which
# is why the chapter shows the soft Dice loss (or class weights) as an alternative. Even the mean IoU has
# a blind spot: it pools all pixels of a class, so one large object can hide many missed small ones;
# detection metrics count objects instead.
# </details>
