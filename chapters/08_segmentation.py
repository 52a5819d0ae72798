# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Segmentation and detection
#
# So far every network answered one question per image: *which class?* Many tasks need more: *which
# class is each pixel?* (a self-driving car must know where the road ends), *where are the objects, and
# how many?* This chapter turns a classifier into a network that predicts a whole image of labels, and
# then into a first object detector. All of it runs on small synthetic scenes, where every pixel's true
# label is known.
#
# ## Learning goals
#
# After this chapter you can
#
# - tell apart classification, semantic segmentation, detection, instance and panoptic segmentation by
#   what each one predicts, as arrays with shapes;
# - show that a $1\times 1$ convolution is a fully-connected layer applied at every pixel, and turn a
#   classifier into a *fully convolutional network* (FCN) that accepts any input size;
# - upsample feature maps with nearest-neighbour and bilinear interpolation and with the *transposed
#   convolution*, implemented in NumPy (forward and backward) and checked against PyTorch; explain the
#   transposed convolution as "stamping" the kernel and as the transpose of a convolution's matrix, and
#   where its checkerboard artefacts come from;
# - train an FCN without skips and a U-Net with skips at the same budget, and measure pixel accuracy,
#   per-class IoU and Dice, and how sharp the boundaries are;
# - write box IoU and non-maximum suppression in NumPy, equal to torchvision's, and build a grid
#   (YOLO-style) detector whose precision and recall you can move with two sliders.
#
# Lecture ideas covered: semantic segmentation labels every pixel; the convolutional part handles any
# input size, the fully-connected head fixes it; the field of view grows like $1 + L(k-1)$; pooling widens
# it but lowers the resolution, hence down- then up-sampling; nearest (blocky), bilinear (blurry) and
# transposed-convolution ("deconvolution", a misnomer) upsampling; an FC layer equals a $1\times1$
# convolution; the encoder-decoder bottleneck loses detail, long skips at equal resolution fix it
# (U-Net, Ronneberger, Fischer & Brox, MICCAI 2015); single-pass detection on a grid with post-processing
# of duplicates; instance segmentation = detection + a mask per object; panoptic = things + stuff
# (Kirillov et al., CVPR 2019); the R-CNN family.
#
# *Runs in ~90 s on a laptop CPU (one thread; training the segmentation networks and the detector takes most of it).*

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from scipy import ndimage
from torch import nn
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

import dlcourse
from dlcourse import data
from dlcourse.parity import twin_errors
from dlcourse.train import accuracy
from dlcourse.widgets.detection import DetectionExplorer, detection_figure

rng, device = dlcourse.setup(seed=0, threads=1)   # one thread: small convolutions, measured fastest on a busy CPU
print("PyTorch runs on:", device)

# %%
SCALE = 1     # 1: the CPU-sized experiments whose claims are asserted; 2+: larger images, more data, more seeds
SEEDS = dlcourse.seeds(3 if SCALE == 1 else 5)
shapes = data.shapes(n=3000 * SCALE, size=32 * SCALE, seed=0)      # training scenes
shapes_val = data.shapes(n=500, size=32 * SCALE, seed=1)           # settings are chosen on these
shapes_test = data.shapes(n=500, size=32 * SCALE, seed=2)          # results are reported on these
print(shapes)

# %% [markdown]
# ## Intuition
#
# **The data.** `data.shapes` draws scenes of one to three objects (circles, squares, triangles) of random
# sizes and colours on a textured, noisy background; objects may overlap, and the one drawn last hides
# part of the others. Because the course draws the scenes itself, it also knows the truth for every
# task: the class of every pixel (`semantic`, 0 = background), which object every pixel belongs to
# (`instances`), and each object's box (`boxes`, corners $x_1, y_1, x_2, y_2$ in pixels) and class
# (`labels`).
#
# **Four tasks, four kinds of output.** Take one scene of size $H \times W$ with $C = 4$ classes
# (background included) and $k$ objects:
#
# | task | the network predicts | shape |
# |---|---|---|
# | classification | one score per class for the whole image | $(C,)$ |
# | semantic segmentation | one class per pixel (scores per pixel, then argmax) | $(C, H, W) \to (H, W)$ |
# | detection | a *variable* number of boxes, each with a class and a score | $(k, 4)$, $(k,)$, $(k,)$ |
# | instance segmentation | one mask per object, with its class | $(k, H, W)$, $(k,)$ |
#
# Panoptic segmentation (Kirillov et al., 2019) combines the last two: every pixel gets a class, and pixels
# of countable *things* (our shapes) also get an instance id, while amorphous *stuff* (sky, road; our
# background) gets a class only. Here is one scene with all four answers.

# %%
# the first training scene with three objects, two of them of the same class
i = next(j for j, lab in enumerate(shapes.labels) if len(lab) == 3 and len(set(lab.tolist())) == 2)
image = shapes.images[i]                           # (3, H, W), floats in [0, 1]
semantic = shapes.semantic[i]                      # (H, W), class per pixel
boxes, labels = shapes.boxes[i], shapes.labels[i]  # (k, 4) and (k,)
masks = np.stack([shapes.instances[i] == j + 1 for j in range(len(labels))])  # (k, H, W) boolean
largest = labels[np.argmax(masks.sum(axis=(1, 2)))]                           # the class of the largest object
print(f"scene {i}: classification:", shapes.class_names[largest], "  semantic:", semantic.shape,
      "  detection:", boxes.shape, labels.shape, "  instances:", masks.shape)

# %% [markdown]
# `torchvision.utils` draws boxes and masks onto a `uint8` image; we only choose the colours.

# %% mystnb={"image": {"alt": "One shapes image four ways: classification gives one label, semantic segmentation colours pixels by class, detection draws a box per object, instance segmentation gives each object its own mask"}}
COLOURS = ["black", "red", "royalblue", "limegreen"]          # background, circle, square, triangle


def enlarge(t, f=4):
    """(..., H, W) -> (..., f*H, f*W) by repeating pixels, so that the drawn boxes are readable."""
    return t.repeat_interleave(f, -2).repeat_interleave(f, -1)


img8 = enlarge(torch.from_numpy((image * 255).astype(np.uint8)))             # (3, 4H, 4W) uint8
class_masks = torch.from_numpy(np.stack([semantic == c for c in range(1, 4)]))  # (3, H, W): one per class
panels = {
    f"classification: '{shapes.class_names[largest]}'": img8,
    "semantic segmentation": draw_segmentation_masks(img8, enlarge(class_masks), alpha=0.7, colors=COLOURS[1:]),
    "detection": draw_bounding_boxes(img8, torch.from_numpy(boxes) * 4, width=2, colors=[COLOURS[c] for c in labels]),
    "instance segmentation": draw_segmentation_masks(img8, enlarge(torch.from_numpy(masks)), alpha=0.7,
                                                     colors=["gold", "magenta", "cyan"][: len(labels)]),
}
fig, axes = plt.subplots(1, 4, figsize=(12, 3.3))
for ax, (title, panel) in zip(axes, panels.items()):
    ax.imshow(panel.permute(1, 2, 0)); ax.set_title(title, fontsize=10); ax.axis("off")
fig.suptitle("mask and box colours: red = circle, blue = square, green = triangle", y=0.02, fontsize=9)
plt.tight_layout(); plt.show()

# %% [markdown]
# Semantic segmentation colours both squares alike if there are two; instance segmentation gives each
# object its own mask. Detection only says *roughly where*, with a rectangle.
#
# **From a classifier to a segmenter.** A CNN's convolutional part maps an image of any size to a smaller
# grid of features; its fully-connected head then fixes the input size and throws the positions away.
# Drop the head, keep everything convolutional, and the output becomes an image of class scores: a
# *fully convolutional network*. Two things are then missing: a way to apply "a classifier" at every
# position (a $1\times1$ convolution), and a way back to the input resolution after pooling (upsampling).
# The NumPy reference builds both.

# %% [markdown]
# ## NumPy reference
#
# The pieces a dense-prediction network needs that a classifier does not have, each written in NumPy: the $1\times1$ convolution, upsampling, the transposed convolution; and, for detection, box overlap and non-maximum suppression.

# %% [markdown]
# ### A 1×1 convolution is a fully-connected layer at every pixel
#
# A $1\times 1$ convolution with $C$ input and $D$ output channels looks at one pixel at a time: output
# channel $d$ at pixel $(i, j)$ is $y_{d,i,j} = \sum_c W_{d,c}\, x_{c,i,j} + b_d$. That is a
# fully-connected layer $y = W x + b$ with a $D \times C$ weight, applied to the $C$-vector of every pixel
# with the *same* weights. PyTorch stores the convolution's weight as $(D, C, 1, 1)$ and the linear
# layer's as $(D, C)$: output channels first. (*A note on the slides:* the lecture writes the
# fully-connected weight as $C \times C'$; PyTorch's shapes say $D \times C$, output channels first, a
# common slip.) Copy one into the other and compare:

# %%
from dlcourse.numpy_nn import Conv2d

C_in, D_out = 3, 5
conv1x1 = nn.Conv2d(C_in, D_out, kernel_size=1).double()         # weight (D, C, 1, 1)
fc = nn.Linear(C_in, D_out).double()                              # weight (D, C)
with torch.no_grad():
    fc.weight.copy_(conv1x1.weight[:, :, 0, 0])
    fc.bias.copy_(conv1x1.bias)
x_img = torch.randn(2, C_in, 8, 6, dtype=torch.float64)           # (N, C, H, W)
y_conv = conv1x1(x_img)                                           # (N, D, H, W)
y_fc = fc(x_img.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)          # Linear on each pixel's C-vector
one_by_one_error = (y_conv - y_fc).abs().max().item()
print("weights:", tuple(conv1x1.weight.shape), "vs", tuple(fc.weight.shape))
print(f"max |conv1x1(x) - per-pixel Linear(x)| = {one_by_one_error:.1e}")

# %% [markdown]
# So the fully-connected head of a classifier can be rewritten as convolutions, and a network made only
# of convolutions (and pooling) is **fully convolutional** (an FCN): it accepts images of any size, and
# its output map grows with the input. A tiny FCN on two input sizes:

# %%
torch.manual_seed(0)
tiny_fcn = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 4, 1))                       # 4 class scores per (coarse) pixel
fcn_sizes = {}
for H, W in [(32, 32), (48, 40)]:
    fcn_sizes[(H, W)] = tuple(tiny_fcn(torch.zeros(1, 3, H, W)).shape)
    print(f"input (1, 3, {H}, {W}) -> scores {fcn_sizes[(H, W)]}")
fcn_sizes_ok = all(out == (1, 4, H // 2, W // 2) for (H, W), out in fcn_sizes.items())

# %% [markdown]
# **Field of view.** One output pixel of a $k\times k$ convolution (stride 1) sees $k$ input pixels per
# axis; a second layer sees $k$ pixels of the first, i.e. $k + (k-1)$ input pixels, and $L$ stacked layers
# see
#
# $$ \text{field of view} = 1 + L\,(k-1). $$
#
# We measure it with autograd: the gradient of one output pixel with respect to the input is non-zero
# exactly on the pixels it depends on (all-ones kernels, so nothing cancels).

# %%
def field_of_view(L, k):
    """Width of the input region that output pixel (0, 0) of L stacked k x k convolutions depends on."""
    n = 1 + L * (k - 1) + 5                                       # a little larger than needed
    layers = [nn.Conv2d(1, 1, k, bias=False) for _ in range(L)]
    for layer in layers:
        nn.init.ones_(layer.weight)
    x = torch.zeros(1, 1, n, n, dtype=torch.float32, requires_grad=True)
    nn.Sequential(*layers)(x)[0, 0, 0, 0].backward()              # d y[0, 0] / d x
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    return int(rows.max() - rows.min() + 1)


fov = {(L, k): field_of_view(L, k) for L in (1, 2, 4, 8) for k in (2, 3, 5)}
print(" L  k  measured  1+L(k-1)")
for (L, k), width in fov.items():
    print(f"{L:2d} {k:2d}  {width:8d}  {1 + L * (k - 1):8d}")
field_of_view_ok = all(width == 1 + L * (k - 1) for (L, k), width in fov.items())

# %% [markdown]
# The field of view grows only linearly with depth: to see a whole $32\times 32$ image with $3\times 3$
# convolutions takes 16 layers. Pooling (or strided convolutions) widens it much faster, but lowers the
# resolution: a segmentation network therefore goes *down* (pooling) and then back *up*, which needs
# upsampling layers.
#
# ### Upsampling
#
# The two parameter-free ways to enlarge a feature map: **nearest** copies each pixel into a block
# (blocky), **bilinear** interpolates between the four nearest pixels (smooth, a little blurry). Here a
# shapes image shrunk to $8\times 8$ by average pooling, and blown up $\times 4$ again:

# %% mystnb={"image": {"alt": "A shapes image average-pooled to 8x8 and enlarged x4 again: nearest upsampling gives blocky squares, bilinear gives smooth but blurred shapes; neither recovers the original detail"}}
image = torch.from_numpy(shapes.images[:1])                       # (1, 3, 32, 32)
small = F.avg_pool2d(image, 4)                                    # (1, 3, 8, 8)
panels = {"original 32x32": image, "pooled 8x8": small,
          "nearest x4": nn.Upsample(scale_factor=4, mode="nearest")(small),
          "bilinear x4": nn.Upsample(scale_factor=4, mode="bilinear")(small)}
fig, axes = plt.subplots(1, 4, figsize=(10, 2.8))
for ax, (title, im) in zip(axes, panels.items()):
    ax.imshow(im[0].permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
    ax.set(title=title, xticks=[], yticks=[])
plt.tight_layout()
plt.show()

# %% [markdown]
# **Where does output pixel $i$ sample the input?** Resizing a row of $n_\text{in}$ pixels to $n_\text{out}$
# pixels maps each output index $i$ to a source coordinate $x_\text{src}(i)$ on the input; bilinear
# interpolation then mixes the two input pixels around it, $y_i = (1-\lambda)\,x_{i_0} + \lambda\,x_{i_0+1}$
# with $i_0 = \lfloor x_\text{src} \rfloor$, $\lambda = x_\text{src} - i_0$. PyTorch's `align_corners`
# chooses the mapping:
#
# $$ \texttt{align\_corners=True}:\ x_\text{src} = i\,\frac{n_\text{in}-1}{n_\text{out}-1}, \qquad
#    \texttt{align\_corners=False}:\ x_\text{src} = \max\!\Big(0,\ \big(i+\tfrac12\big)\,s - \tfrac12\Big),
#    \quad s = \frac{n_\text{in}}{n_\text{out}} \ \text{or}\ \frac{1}{\texttt{scale\_factor}}. $$
#
# `True` treats pixels as *points* and pins the first and last ones of both rows together. `False` (the
# default) treats them as *squares* of width 1: the centre $i + \frac12$ of output pixel $i$ lies at
# $(i + \frac12)\,s$ on the input, whose pixel centres are at $j + \frac12$, hence the $-\frac12$; the
# outer *edges* of the two rows line up, and samples before the first centre are clamped to it. Nearest
# takes $x_\text{src} = \lfloor i\,s \rfloor$. Either way, a resize is a fixed matrix $A$ along each axis.

# %% mystnb={"image": {"alt": "Where 8 output pixels sample a 4-pixel input: with align_corners=True the first and last samples sit on the end pixel centres; with False they sit half a pixel apart, the first clamped to 0 and the last beyond the last centre"}}
n_in, n_out = 4, 8
i_out = np.arange(n_out)
src_true = i_out * (n_in - 1) / (n_out - 1)                       # align_corners=True
src_false = np.maximum((i_out + 0.5) * n_in / n_out - 0.5, 0)     # align_corners=False
fig, ax = plt.subplots(figsize=(8, 2.2))
ax.scatter(np.arange(n_in), np.full(n_in, 1.0), s=200, marker="s", label="input pixel centres")
ax.scatter(src_true, np.full(n_out, 0.5), label="output samples, align_corners=True")
ax.scatter(src_false, np.full(n_out, 0.0), label="output samples, align_corners=False")
ax.set(xlabel="position on the input axis (input pixel units)", yticks=[], ylim=(-0.4, 1.9))
ax.legend(fontsize=8, ncol=3, loc="upper center")
plt.tight_layout()
plt.show()

# %% [markdown]
# In code: one function builds the $(n_\text{out}, n_\text{in})$ matrix $A$ of a resize along one axis
# (PyTorch computes the nearest-neighbour index in single precision and keeps $A = I$ when the size does
# not change: we do the same, so that the twins agree exactly).

# %%
#| export numpy_nn.upsample
import math

import numpy as np

from dlcourse import add_to_class
from dlcourse.numpy_nn.conv import col2im, im2col
from dlcourse.numpy_nn.core import Module
from dlcourse.validate import check_arg, check_choice, check_float, check_image_input, check_int, int_pair


def interpolation_matrix(in_size, out_size, mode="bilinear", align_corners=False, scale_factor=None):
    """The (out_size, in_size) matrix A of a 1-D resize, y = A x, with PyTorch's sampling rules.

    mode: "nearest" (one 1 per row) or "bilinear" (two weights 1 - lam, lam per row). ``scale_factor`` (if
    the user gave one) sets the source coordinate's step instead of in_size / out_size, as in PyTorch.
    """
    if out_size == in_size:
        return np.eye(in_size)                                    # PyTorch copies when the size is unchanged
    i = np.arange(out_size)                                       # output indices
    A = np.zeros((out_size, in_size))
    if mode == "nearest":
        step = np.float32(1 / scale_factor) if scale_factor else np.float32(in_size) / np.float32(out_size)
        src = np.floor(i.astype(np.float32) * step).astype(int)   # single precision, as PyTorch
        src = i // 2 if out_size == 2 * in_size else src          # PyTorch's exact special case
        A[i, np.minimum(src, in_size - 1)] = 1.0
        return A
    if align_corners:
        src = i * ((in_size - 1) / (out_size - 1) if out_size > 1 else 0.0)
    else:
        step = 1 / scale_factor if scale_factor else in_size / out_size
        src = np.maximum((i + 0.5) * step - 0.5, 0.0)             # pixel centres at i + 1/2
    i0 = np.minimum(src.astype(int), in_size - 1)                 # left neighbour
    i1 = np.minimum(i0 + 1, in_size - 1)                          # right neighbour (itself at the border)
    lam = np.clip(src - i0, 0.0, 1.0)
    np.add.at(A, (i, i0), 1 - lam)
    np.add.at(A, (i, i1), lam)
    return A


# %% [markdown]
# The layer applies $A_h$ along the rows and $A_w$ along the columns, $Y = A_h X A_w^\top$ for every image
# and channel. It is linear, so its backward pass multiplies by the **transposed** matrices,
# $\partial\mathcal{L}/\partial X = A_h^\top G A_w$: for bilinear each output's gradient goes back to its two
# (four, in 2-D) source pixels with the same weights; for nearest the gradients of all copies of a pixel
# add up.

# %%
#| export numpy_nn.upsample
class Upsample(Module):
    """Resize (N, C, H, W) images as ``torch.nn.Upsample(size=None, scale_factor=None, mode='nearest',
    align_corners=None)``, modes 'nearest' and 'bilinear'. Give the output ``size`` (int or pair) or a
    ``scale_factor`` (number or pair; the output is floor(H * scale_factor)). No parameters.

    Forward Y = A_h X A_w^T per image and channel (``interpolation_matrix``); backward A_h^T G A_w.
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None):
        super().__init__()
        self.mode = check_choice("mode", mode, ["nearest", "bilinear"])
        check_arg("align_corners", align_corners, align_corners is None or mode == "bilinear",
                  "None for mode='nearest' (only interpolating modes use it)")
        check_arg("exactly one of size and scale_factor", (size, scale_factor),
                  (size is None) != (scale_factor is None), "given")
        self.size = None if size is None else int_pair(size, "size")
        check_arg("size", size, size is None or min(self.size) >= 1, "positive")
        self.scale_factor = scale_factor
        if scale_factor is not None:
            pair = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
            check_arg("scale_factor", scale_factor, len(pair) == 2, "a number or a pair of numbers")
            self.scale_factor = tuple(check_float("scale_factor", s, 0, low_open=True) for s in pair)
        self.align_corners = align_corners

    def extra_repr(self):
        how = f"size={self.size}" if self.size else f"scale_factor={self.scale_factor}"
        return f"{how}, mode={self.mode!r}, align_corners={self.align_corners}"

    def forward(self, x):
        x = check_image_input(self, x)                            # (N, C, H, W)
        self.in_size = x.shape[2:]
        if self.size is not None:
            out, scales = self.size, (None, None)
        else:
            out, scales = [math.floor(n * s) for n, s in zip(self.in_size, self.scale_factor)], self.scale_factor
        check_arg(f"{self!r}: the output size for input {x.shape}", tuple(out), min(out) >= 1, "positive")
        self.A_h, self.A_w = (interpolation_matrix(n, m, self.mode, bool(self.align_corners), s).astype(x.dtype)
                              for n, m, s in zip(self.in_size, out, scales))      # (H_out, H), (W_out, W)
        return np.einsum("ih,nchw,jw->ncij", self.A_h, x, self.A_w, optimize=True)  # (N, C, H_out, W_out)

    def backward(self, grad_out):
        return np.einsum("ih,ncij,jw->nchw", self.A_h, grad_out, self.A_w, optimize=True)  # (N, C, H, W)


# %% [markdown]
# ### The transposed convolution
#
# Nearest and bilinear upsampling have no parameters. A **transposed convolution** learns how to upsample.
# Its rule is simplest to state as *stamping*: every input pixel $x_{i,j}$ adds a copy of the kernel,
# scaled by its value, into the output at position $(s\,i, s\,j)$ for stride $s$, and overlapping stamps add
# up:
#
# $$ Y[s i + a,\; s j + b] \mathrel{+}= x_{i,j}\, K_{a,b}, \qquad 0 \le a < k_h,\ 0 \le b < k_w. $$
#
# (With several channels, $Y_d \mathrel{+}= x_{c,i,j} K_{c,d}$; then `padding` rows and columns are cut
# from each border, and `output_padding` adds some back at the bottom and right.) A $2\times 2$ input with a
# $3\times 3$ kernel and stride 2, as four loops:

# %% mystnb={"image": {"alt": "Transposed convolution as stamping: each of the four input pixels adds a scaled copy of the 3x3 kernel at stride 2, and the 5x5 output sums the overlapping stamps (10 at the centre)"}}
x_tiny = np.array([[1.0, 2.0], [3.0, 4.0]])                       # (H, W) = (2, 2)
k_tiny = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 1.0], [1.0, 1.0, 1.0]])   # (kh, kw) = (3, 3)
stride_tiny = 2
y_tiny = np.zeros(((2 - 1) * stride_tiny + 3, (2 - 1) * stride_tiny + 3))   # (H-1) s + k = 5
stamps_tiny = []
for i in range(2):
    for j in range(2):
        stamp = np.zeros_like(y_tiny)
        stamp[stride_tiny * i:stride_tiny * i + 3, stride_tiny * j:stride_tiny * j + 3] = x_tiny[i, j] * k_tiny
        stamps_tiny.append(((i, j), stamp))
        y_tiny += stamp
fig, axes = plt.subplots(1, 5, figsize=(11, 2.6))
for ax, ((i, j), stamp) in zip(axes, stamps_tiny):
    ax.imshow(stamp, cmap="Blues", vmin=0, vmax=y_tiny.max())
    ax.set(title=f"$x_{{{i}{j}}} = {x_tiny[i, j]:g}$ times $K$", xticks=[], yticks=[])
axes[4].imshow(y_tiny, cmap="Blues")
axes[4].set(title="sum: output (5, 5)", xticks=[], yticks=[])
for (r, c), v in np.ndenumerate(y_tiny):
    axes[4].text(c, r, f"{v:g}", ha="center", va="center", fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Vectorised: one matrix product computes every pixel's scaled kernel at once (a row of
# `stamps` per input pixel, $k_h k_w D$ numbers), and chapter 06's `col2im` adds each row into the output at
# its offset: `col2im` *is* stamping. The backward pass is the adjoint: the gradient of an input pixel
# collects the output gradient under its stamp, which is `im2col` followed by a product with the kernel,
# i.e. an ordinary convolution of the output gradient.

# %%
#| export numpy_nn.upsample
class ConvTranspose2d(Module):
    """Transposed convolution as ``torch.nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=1,
    padding=0, output_padding=0, bias=True)`` (dilation 1, groups 1): every input pixel stamps the kernel,
    scaled by its value, into the output at stride offsets; ``padding`` is then cut from each border and
    ``output_padding`` (< stride) adds rows/columns at the bottom/right.

    Parameters: ``weight`` (in_channels, out_channels, kh, kw), ``bias`` (out_channels,), initialised like
    PyTorch: uniform in +-1/sqrt(out_channels * kh * kw). Input (N, in_channels, H, W) -> output
    (N, out_channels, (H - 1) * stride - 2 * padding + kh + output_padding, ... the same for W).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 bias=True, dtype=np.float64, rng=None):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        self.kernel_size, self.stride = int_pair(kernel_size, "kernel_size"), int_pair(stride, "stride")
        self.padding, self.output_padding = int_pair(padding, "padding"), int_pair(output_padding, "output_padding")
        check_arg("kernel_size and stride", (kernel_size, stride), min(*self.kernel_size, *self.stride) >= 1, ">= 1")
        check_arg("padding", padding, min(self.padding) >= 0, ">= 0")
        check_arg("output_padding", output_padding, all(0 <= o < s for o, s in zip(self.output_padding, self.stride)),
                  f">= 0 and smaller than the stride {stride}")
        self.has_bias, self._pads = bool(bias), tuple((p, p) for p in self.padding)
        rng = np.random.default_rng(np.random.randint(2**31)) if rng is None else rng
        bound = 1 / np.sqrt(self.out_channels * self.kernel_size[0] * self.kernel_size[1])
        shape = (self.in_channels, self.out_channels, *self.kernel_size)
        self.params["weight"] = rng.uniform(-bound, bound, size=shape).astype(dtype)
        if self.has_bias:
            self.params["bias"] = rng.uniform(-bound, bound, size=self.out_channels).astype(dtype)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, output_padding={self.output_padding}, bias={self.has_bias}")

    def _kernel_rows(self):
        """(C, kh kw D): row c is the stamp of input channel c, in col2im's (a, b, d) order."""
        return self.params["weight"].transpose(0, 2, 3, 1).reshape(self.in_channels, -1)

    def forward(self, x):
        x = check_image_input(self, x, self.in_channels)          # (N, C, H, W)
        N, _, H, W = x.shape
        out = [(n - 1) * s - 2 * p + k + o for n, s, p, k, o in
               zip((H, W), self.stride, self.padding, self.kernel_size, self.output_padding)]
        check_arg(f"{self!r}: the output size for input {x.shape}", tuple(out), min(out) >= 1, "positive")
        self.x = x
        stamps = x.transpose(0, 2, 3, 1).reshape(-1, self.in_channels) @ self._kernel_rows()   # (N H W, kh kw D)
        y = col2im(stamps, (N, self.out_channels, *out), self.kernel_size, self.stride, self._pads)  # add up
        return y + self.params["bias"][:, None, None] if self.has_bias else y   # (N, D, H_out, W_out)


# %% [markdown]
# The backward pass, added to the class:

# %%
#| export numpy_nn.upsample
@add_to_class(ConvTranspose2d)
def backward(self, grad_out):
    """dL/dx is a convolution of grad_out with the kernel (im2col: the footprint of each stamp); the
    weight gradient pairs each input pixel with its footprint."""
    N, C, H, W = self.x.shape
    grad_out = np.asarray(grad_out)                                          # (N, D, H_out, W_out)
    footprints, _ = im2col(grad_out, self.kernel_size, self.stride, self._pads)   # (N H W, kh kw D)
    X = self.x.transpose(0, 2, 3, 1).reshape(-1, C)                          # (N H W, C)
    grad_w = (X.T @ footprints).reshape(C, *self.kernel_size, self.out_channels)  # (C, kh, kw, D)
    self.grads["weight"] = np.ascontiguousarray(grad_w.transpose(0, 3, 1, 2))     # (C, D, kh, kw)
    if self.has_bias:
        self.grads["bias"] = grad_out.sum(axis=(0, 2, 3))                    # (D,)
    grad_x = footprints @ self._kernel_rows().T                              # (N H W, C)
    return grad_x.reshape(N, H, W, C).transpose(0, 3, 1, 2)                  # (N, C, H, W)


# %% [markdown]
# The layer reproduces the loops on the tiny example:

# %%
tconv_tiny = ConvTranspose2d(1, 1, 3, stride=2, bias=False)
tconv_tiny.params["weight"] = k_tiny[None, None]                  # (in, out, kh, kw) = (1, 1, 3, 3)
stamping_error = np.abs(tconv_tiny(x_tiny[None, None])[0, 0] - y_tiny).max()
print(f"max |ConvTranspose2d - stamping loops| = {stamping_error:.1e}")

# %% [markdown]
# **Why "transposed".** A convolution is linear: for one fixed kernel, $\mathrm{vec}(Y) = C\,\mathrm{vec}(X)$
# with a (sparse) matrix $C$. The transposed convolution with the *same* weight array computes
# $\mathrm{vec}(X') = C^\top \mathrm{vec}(Y')$: it maps the convolution's output shape back to its input
# shape, and it is exactly the convolution's backward pass (chapter 06's `Conv2d.backward` used `col2im`
# for this). It does **not** invert the convolution ("deconvolution" is a misnomer): $C^\top C \ne I$.
# We build both matrices column by column, by feeding in the unit vectors:

# %%
def layer_matrix(layer, in_shape):
    """The matrix M with vec(layer(x)) = M vec(x), one column per unit input."""
    columns = [layer(e.reshape(1, *in_shape)).ravel() for e in np.eye(int(np.prod(in_shape)))]
    return np.stack(columns, axis=1)


conv_small = Conv2d(2, 3, 3, stride=2, padding=1, bias=False, rng=rng)    # (1, 2, 5, 5) -> (1, 3, 3, 3)
tconv_small = ConvTranspose2d(3, 2, 3, stride=2, padding=1, bias=False)  # (1, 3, 3, 3) -> (1, 2, 5, 5)
tconv_small.params["weight"] = conv_small.params["weight"]        # the same (3, 2, 3, 3) array
C_mat = layer_matrix(conv_small, (2, 5, 5))                       # (27, 50)
T_mat = layer_matrix(tconv_small, (3, 3, 3))                      # (50, 27)
transpose_is_adjoint_error = np.abs(T_mat - C_mat.T).max()
print("C:", C_mat.shape, " transposed conv:", T_mat.shape)
print(f"max |T - C^T| = {transpose_is_adjoint_error:.1e}")


# %% [markdown]
# The weight layouts make this automatic: `Conv2d(C, D)` stores $(D, C, k_h, k_w)$ and
# `ConvTranspose2d(D, C)` stores $(\text{in}=D, \text{out}=C, k_h, k_w)$, the same array.

# %% [markdown]
# **Checkerboard artefacts.** When the kernel size is not a multiple of the stride, stamps overlap
# unevenly: with $k = 3$, $s = 2$ some output pixels are covered by one stamp per axis, others by two. On
# a constant input with all-ones weights, a perfectly smooth upsampler would give a constant output;
# instead we get a checkerboard of 1, 2 and 4. With $k = 4$, $s = 2$ every pixel is covered twice per
# axis, and "upsample, then convolve" covers every pixel equally by construction. We measure the
# standard deviation of the output away from the border (where fewer stamps reach in every case):

# %% mystnb={"image": {"alt": "Upsampling a constant input with all-ones weights: transposed k=3, s=2 gives a checkerboard (std 1.09 inside), while transposed k=4, s=2 and nearest-then-conv give a flat interior (std 0)"}}
def ones_layer(layer):
    for p in layer.params.values():
        p[...] = 1.0
    return layer


flat = np.ones((1, 1, 8, 8))                                      # a constant input
upsamplers = {"transposed k=3, s=2": lambda x: ones_layer(ConvTranspose2d(1, 1, 3, 2, 1, 1, bias=False))(x),
              "transposed k=4, s=2": lambda x: ones_layer(ConvTranspose2d(1, 1, 4, 2, 1, bias=False))(x),
              "nearest x2, then 3x3 conv": lambda x: ones_layer(Conv2d(1, 1, 3, padding=1, bias=False))(
                  Upsample(scale_factor=2)(x))}
checkerboard_std = {}
fig, axes = plt.subplots(1, 3, figsize=(9, 3))
for ax, (name, up) in zip(axes, upsamplers.items()):
    out = up(flat)[0, 0]                                          # (16, 16)
    checkerboard_std[name] = float(out[3:-3, 3:-3].std())
    ax.imshow(out, cmap="viridis")
    ax.set(title=f"{name}\nstd inside = {checkerboard_std[name]:.2f}", xticks=[], yticks=[])
plt.tight_layout()
plt.show()

# %% [markdown]
# Trained kernels can learn to compensate, but the uneven overlap makes it easy for a checkerboard to
# appear in the outputs: kernel sizes divisible by the stride, or upsampling followed by a convolution,
# avoid it by construction.
#
# ### Boxes: IoU and non-maximum suppression
#
# A detector describes each object by a box $(x_1, y_1, x_2, y_2)$ (top-left and bottom-right corners). Two
# boxes are compared by their **intersection over union**,
#
# $$ \mathrm{IoU}(A, B) = \frac{|A \cap B|}{|A \cup B|} = \frac{|A \cap B|}{|A| + |B| - |A \cap B|} \in [0, 1], $$
#
# where the intersection is again a box: the larger of the two top-left corners and the smaller of the
# bottom-right ones (empty, area 0, when they do not overlap). `box_iou` computes it for every pair at once:

# %%
#| export boxes
import numpy as np

from dlcourse.validate import check_arg, check_array, check_float


def box_area(boxes):
    """Areas (N,) of boxes (N, 4) given as (x1, y1, x2, y2), as ``torchvision.ops.box_area``."""
    boxes = check_array("boxes", boxes, shape=(None, 4), dtype_kind="fiu")
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1, boxes2):
    """Intersection over union (N, M) of every pair of boxes1 (N, 4) and boxes2 (M, 4), as
    ``torchvision.ops.box_iou`` (0 / 0 = nan for two empty boxes, as there)."""
    boxes1 = check_array("boxes1", boxes1, shape=(None, 4), dtype_kind="fiu")
    boxes2 = check_array("boxes2", boxes2, shape=(None, 4), dtype_kind="fiu")
    top_left = np.maximum(boxes1[:, None, :2], boxes2[None, :, :2])       # (N, M, 2)
    bottom_right = np.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])   # (N, M, 2)
    wh = np.clip(bottom_right - top_left, 0, None)                        # (N, M, 2): 0 where disjoint
    inter = wh[..., 0] * wh[..., 1]                                       # (N, M)
    union = box_area(boxes1)[:, None] + box_area(boxes2)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / union


# %% [markdown]
# A detector usually fires several overlapping boxes on one object. **Non-maximum suppression** keeps the
# best: sort the boxes by score; keep the best one and delete every remaining box whose IoU with it
# exceeds `iou_threshold`; repeat with the best of what is left. (Boxes of equal score are taken in their
# original order, as torchvision does.)

# %%
#| export boxes
def nms(boxes, scores, iou_threshold):
    """Greedy non-maximum suppression, as ``torchvision.ops.nms``: boxes (N, 4) as (x1, y1, x2, y2), scores
    (N,). A box is dropped when its IoU with a kept, higher-scoring box is > iou_threshold. Returns the
    indices (int64) of the kept boxes in decreasing order of score (ties: lower index first)."""
    boxes = check_array("boxes", boxes, shape=(None, 4), dtype_kind="fiu")
    scores = check_array("scores", scores, ndim=1, dtype_kind="fiu").astype(np.float64)
    check_arg("scores", scores.shape, scores.shape == (len(boxes),), f"one per box, shape ({len(boxes)},)")
    iou_threshold = check_float("iou_threshold", iou_threshold)
    order = np.argsort(-scores, kind="stable")                    # best first; ties keep index order
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        overlap = box_iou(boxes[best][None], boxes[rest])[0]      # (len(rest),)
        order = rest[~(overlap > iou_threshold)]                  # drop the boxes it suppresses
    return np.array(keep, dtype=np.int64)


# %% [markdown]
# On one shapes image: around each true box we scatter eight noisy guesses (corners moved by about 8% of
# the box size) with random scores, as a detector might, and let NMS clean them up.

# %% mystnb={"image": {"alt": "Non-maximum suppression on one shapes image: many noisy overlapping guesses around each object on the left, one box per object kept on the right, each close to the dashed true box"}}
def draw_boxes(ax, boxes, color, **kwargs):
    for x1, y1, x2, y2 in boxes:                                  # x2, y2: the last column and row
        ax.add_patch(plt.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1 + 1, y2 - y1 + 1, fill=False, ec=color, **kwargs))


true_boxes = shapes.boxes[0].astype(np.float64)                   # (k, 4)
sizes = np.tile(true_boxes[:, 2:] - true_boxes[:, :2], 2)         # (k, 4): w, h, w, h
guesses = np.repeat(true_boxes, 8, axis=0) + np.repeat(sizes, 8, axis=0) * rng.normal(0, 0.08, size=(8 * len(sizes), 4))
guess_scores = rng.random(len(guesses))                           # (8 k,)
kept = nms(guesses, guess_scores, iou_threshold=0.4)
fig, axes = plt.subplots(1, 2, figsize=(7, 3.5))
for ax, title, show in [(axes[0], f"{len(guesses)} raw boxes", guesses),
                        (axes[1], f"after NMS: {len(kept)} kept", guesses[kept])]:
    ax.imshow(shapes.images[0].transpose(1, 2, 0))
    draw_boxes(ax, show, "yellow", lw=1)
    ax.set(title=title, xticks=[], yticks=[])
draw_boxes(axes[1], true_boxes, "white", lw=1, ls="--")            # the true boxes, dashed
plt.tight_layout()
plt.show()
true_iou = box_iou(true_boxes, true_boxes) - np.eye(len(true_boxes))
print(f"largest IoU between two true boxes of this image: {true_iou.max():.2f}")

# %% [markdown]
# The threshold trades duplicates against neighbours: two real objects whose boxes overlap with an IoU
# above it cannot both survive. In this image two true boxes overlap with the IoU printed above; a
# threshold below it would delete one of the two objects.

# %% [markdown]
# ## Check against PyTorch
#
# The NumPy layers against their PyTorch twins in float64 (`twin_errors` copies the weights with `load_state_dict`, runs both forward and backward, and returns the largest differences), and the box functions against `torchvision.ops`.

# %% [markdown]
# ### Upsampling
#
# `twin_errors` runs our layer and `torch.nn.Upsample` on the same input, in float64, and compares the
# output and the input gradient (there are no parameters): both modes, `align_corners` both ways, integer
# and fractional scale factors, explicit sizes, non-square images.

# %%
upsample_configs = [dict(scale_factor=2, mode="nearest"), dict(scale_factor=(1.5, 2.7), mode="nearest"),
                    dict(size=(7, 12), mode="nearest"), dict(scale_factor=2, mode="bilinear"),
                    dict(scale_factor=1.7, mode="bilinear", align_corners=True),
                    dict(size=(9, 4), mode="bilinear", align_corners=False),
                    dict(size=(13, 6), mode="bilinear", align_corners=True)]
upsample_twin_error = 0.0
for kwargs in upsample_configs:
    x_up = rng.normal(size=(2, 3, 5, 4))                          # (N, C, H, W), non-square
    errors = twin_errors(Upsample(**kwargs), nn.Upsample(**kwargs), x_up, rng=rng)
    upsample_twin_error = max(upsample_twin_error, *errors.values())
    print(f"{str(kwargs):62s} max error {max(errors.values()):.1e}")

# %% [markdown]
# ### The transposed convolution
# Random configurations (batch size 1 included, non-square kernels, strides, padding and output padding),
# weights copied from `torch.nn.ConvTranspose2d` by `load_state_dict`; output, input gradient and both
# parameter gradients compared in float64:

# %%
conv_transpose_twin_error = 0.0
for trial in range(8):
    kh, kw, sh, sw = (int(v) for v in rng.integers(1, 5, size=4))
    padding = (int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1)))     # output >= 1 pixel
    kwargs = dict(in_channels=int(rng.integers(1, 4)), out_channels=int(rng.integers(1, 4)),
                  kernel_size=(kh, kw), stride=(sh, sw), padding=padding,
                  output_padding=(int(rng.integers(0, sh)), int(rng.integers(0, sw))), bias=bool(trial % 2))
    x_t = rng.normal(size=(1 + trial % 3, kwargs["in_channels"], int(rng.integers(2, 7)), int(rng.integers(2, 7))))
    errors = twin_errors(ConvTranspose2d(**kwargs), nn.ConvTranspose2d(**kwargs), x_t, rng=rng)
    conv_transpose_twin_error = max(conv_transpose_twin_error, *errors.values())
print(f"8 random configurations: max error {conv_transpose_twin_error:.1e} "
      f"(output, grad_input, grad_weight, grad_bias)")

# %% [markdown]
# ### Box IoU and non-maximum suppression, against torchvision
# `torchvision.ops.box_iou` and `torchvision.ops.nms` on random sets of boxes (from empty to 60 boxes,
# with duplicated boxes and tied scores mixed in) and random thresholds:

# %%
nms_results = []
box_iou_error = 0.0
for trial in range(50):
    n = int(rng.integers(0, 60))
    corners = rng.uniform(0, 30, size=(n, 2))
    b = np.hstack([corners, corners + rng.uniform(1, 15, size=(n, 2))])          # (n, 4) x1, y1, x2, y2
    s = np.round(rng.random(n), 1)                                               # rounded: many ties
    if n > 2:
        b[-2:] = b[:2]                                                           # two duplicated boxes
    threshold = float(rng.choice([0.0, 1.0, rng.random()]))
    b2 = rng.uniform(0, 30, size=(7, 2))
    b2 = np.hstack([b2, b2 + rng.uniform(1, 15, size=(7, 2))])
    box_iou_error = max(box_iou_error, np.abs(box_iou(b, b2) - torchvision.ops.box_iou(
        torch.from_numpy(b), torch.from_numpy(b2)).numpy()).max(initial=0.0))
    ours = nms(b, s, threshold)
    theirs = torchvision.ops.nms(torch.from_numpy(b), torch.from_numpy(s), threshold).numpy()
    nms_results.append(np.array_equal(ours, theirs) and ours.dtype == theirs.dtype)
nms_matches = all(nms_results)
print(f"box_iou: max error {box_iou_error:.1e}; nms: {sum(nms_results)}/{len(nms_results)} identical")

# %% [markdown]
# ## PyTorch version
#
# With the pieces understood, the networks are written in PyTorch: two segmentation networks that differ only in their skips, their losses, and a grid detector.

# %% [markdown]
# ### Fully convolutional networks
#
# A segmentation network outputs a score for every class **at every pixel**: images $(N, 3, H, W)$ in,
# scores $(N, C, H, W)$ out, here $C = 4$ (background, circle, square, triangle). Both networks below are
# built from the same pieces: a `block` (3x3 convolution, batch norm, ReLU) keeps the resolution, two
# max-pools halve it twice ($32 \to 16 \to 8$) so that each unit of the deepest block sees an
# $18 \times 18$ window of the image, as large as the largest objects, two
# transposed convolutions with stride 2 double it back ($8 \to 16 \to 32$), and a 1x1 convolution turns the
# 16 features of each pixel into 4 class scores.
#
# * The **FCN** has no skips: everything the decoder knows about *where* an edge lies must squeeze through
#   the $8 \times 8$ bottleneck.
# * The **U-Net** concatenates the encoder's features to the decoder's at equal resolution (16 x 16 and
#   32 x 32), so the fine detail of the first layers reaches the output directly.
#
# The decoders have the same blocks and widths; the only difference is the concatenation (which doubles
# the input channels of the two decoder blocks, hence the U-Net's extra parameters).

# %%
from dlcourse.segmentation import (boundary_band, boundary_iou, dice_per_class, iou_per_class,
                                   pixel_accuracy, predict)

seg_start = time.perf_counter()                          # this part's run time is printed at its end


def block(c_in, c_out):                       # (N, c_in, H, W) -> (N, c_out, H, W)
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class FCN(nn.Module):
    def __init__(self, widths=(16, 32, 64), n_classes=4):
        super().__init__()
        a, b, c = widths
        self.enc1, self.enc2, self.mid = block(3, a), block(a, b), block(b, c)
        self.up2, self.dec2 = nn.ConvTranspose2d(c, b, 2, stride=2), block(b, b)
        self.up1, self.dec1 = nn.ConvTranspose2d(b, a, 2, stride=2), block(a, a)
        self.head = nn.Conv2d(a, n_classes, 1)

    def forward(self, x):                     # x: (N, 3, 32, 32)
        e1 = self.enc1(x)                     # (N, 16, 32, 32)
        e2 = self.enc2(F.max_pool2d(e1, 2))   # (N, 32, 16, 16)
        m = self.mid(F.max_pool2d(e2, 2))     # (N, 64, 8, 8)  the bottleneck
        d2 = self.dec2(self.up2(m))           # (N, 32, 16, 16)
        d1 = self.dec1(self.up1(d2))          # (N, 16, 32, 32)
        return self.head(d1)                  # (N, 4, 32, 32) class scores per pixel

# %% [markdown]
# The U-Net is the same network with two changes: its decoder blocks read twice as many channels, and
# `forward` concatenates (`torch.cat` along the channel axis) the encoder's output of the same resolution to
# each upsampled map before the block. Both networks map any input size divisible by 4 to scores of the
# same size.

# %%
class UNet(FCN):
    def __init__(self, widths=(16, 32, 64), n_classes=4):
        super().__init__(widths, n_classes)
        a, b, c = widths
        self.dec2, self.dec1 = block(2 * b, b), block(2 * a, a)    # they now read [upsampled, skip]

    def forward(self, x):                     # x: (N, 3, 32, 32)
        e1 = self.enc1(x)                     # (N, 16, 32, 32)
        e2 = self.enc2(F.max_pool2d(e1, 2))   # (N, 32, 16, 16)
        m = self.mid(F.max_pool2d(e2, 2))     # (N, 64, 8, 8)
        d2 = self.dec2(torch.cat([self.up2(m), e2], dim=1))    # cat -> (N, 64, 16, 16) -> (N, 32, 16, 16)
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))   # cat -> (N, 32, 32, 32) -> (N, 16, 32, 32)
        return self.head(d1)                  # (N, 4, 32, 32)


n_params = {name: sum(p.numel() for p in Net().parameters()) for name, Net in [("FCN", FCN), ("U-Net", UNet)]}
x = torch.from_numpy(shapes.images[:2])
print("parameters:", n_params)
print("scores:", tuple(FCN()(x).shape), tuple(UNet()(x).shape),
      "| a 48x48 input gives", tuple(UNet()(torch.zeros(1, 3, 48, 48)).shape))

# %% [markdown]
# ### Losses for segmentation
#
# Segmentation is classification at every pixel, so the first loss is the **per-pixel cross-entropy**,
# averaged over all $N H W$ pixels. `F.cross_entropy` accepts scores $(N, C, H, W)$ with targets
# $(N, H, W)$ directly; it equals flattening the pixels into a batch of $N H W$ ordinary classifications.

# %%
scores = torch.randn(2, 4, 32, 32)                       # (N, C, H, W)
target = torch.from_numpy(shapes.semantic[:2])           # (N, H, W) int64
flat = F.cross_entropy(scores.permute(0, 2, 3, 1).reshape(-1, 4), target.reshape(-1))  # (N*H*W, C) rows
print(f"per-pixel CE {F.cross_entropy(scores, target).item():.6f} = flattened CE {flat.item():.6f}")

# %% [markdown]
# Most pixels are background, and that makes the usual scores misleading. Take the "network" that answers
# *background* everywhere: it has learned nothing, yet its **pixel accuracy** is the background fraction.
# The **intersection over union** of class $c$ counts only where $c$ is predicted or true,
# $\mathrm{IoU}_c = TP_c / (TP_c + FP_c + FN_c)$, and the **Dice** score $2\,TP_c / (2\,TP_c + FP_c + FN_c)$
# ($= 2\,\mathrm{IoU}_c / (1 + \mathrm{IoU}_c)$); averaged over the three object classes
# ("mean foreground IoU") they expose the fraud. (`dlcourse.segmentation` pools the pixels of all images
# before dividing, and gives NaN to a class absent from both prediction and truth.)

# %%
background_fraction = float(np.mean(shapes.semantic == 0))
all_background = np.zeros_like(shapes_val.semantic)                 # (500, 32, 32): the lazy predictor
lazy_accuracy = pixel_accuracy(all_background, shapes_val.semantic, 4)
lazy_fg_iou = float(np.nanmean(iou_per_class(all_background, shapes_val.semantic, 4)[1:]))
print(f"background pixels in the training set: {background_fraction:.1%}")
print(f"all-background predictor on shapes_val: pixel accuracy {lazy_accuracy:.3f}, "
      f"mean foreground IoU {lazy_fg_iou:.3f}")

# %% [markdown]
# The cross-entropy has the same bias: 87% of its terms reward predicting background. The **soft Dice
# loss** scores the overlap of each class instead, with the softmax probabilities $p$ in place of hard
# labels and the one-hot target $y$, summed over the pixels of the batch:
#
# $$\mathcal{L}_\text{Dice} = 1 - \frac{1}{C-1}\sum_{c=1}^{C-1}
#   \frac{2\sum_i p_{ic}\, y_{ic} + \epsilon}{\sum_i p_{ic} + \sum_i y_{ic} + \epsilon},$$
#
# so a small class weighs as much as a large one. We average it over the object classes only and add it to
# the cross-entropy (`ce_dice`), a common recipe.

# %%
def soft_dice_loss(scores, target, eps=1.0):            # scores (N, C, H, W), target (N, H, W)
    p = scores.softmax(dim=1)                            # (N, C, H, W) probabilities
    y = F.one_hot(target, p.shape[1]).permute(0, 3, 1, 2).to(p.dtype)   # (N, C, H, W) one-hot
    overlap = (p * y).sum(dim=(0, 2, 3))                 # (C,) soft TP per class
    total = p.sum(dim=(0, 2, 3)) + y.sum(dim=(0, 2, 3))  # (C,) soft 2TP + FP + FN
    return 1 - ((2 * overlap + eps) / (total + eps))[1:].mean()


def ce_dice(scores, target):
    return F.cross_entropy(scores, target) + soft_dice_loss(scores, target)


perfect = 50.0 * F.one_hot(target, 4).permute(0, 3, 1, 2).float()    # confident and right
print(f"soft Dice loss: random scores {soft_dice_loss(scores, target).item():.3f}, "
      f"perfect scores {soft_dice_loss(perfect, target).item():.3f}")

# %% [markdown]
# ## Experiments

# %% [markdown]
# ### FCN vs U-Net at the same budget
#
# Both networks get the same training: the loss `ce_dice`, Adam, mini-batches of `BATCH = 8` images,
# `STEPS` steps (one pass over 2000 of the training images at `SCALE = 1`), batches in an order drawn from
# the seed. The loop is the one of every earlier chapter, with a per-pixel loss and two changes that matter
# on so short a budget:
#
# * the learning rate follows the **one-cycle** schedule of the detector below: it rises from `lr / 25` to
#   `lr` in the first 30% of the steps, then falls to almost 0, so a high `lr` can be used without
#   diverging early and the last steps settle;
# * the head's bias starts at the **log class frequencies**, $b_c = \log \pi_c$ (`prior`), so that the
#   untrained network already predicts 87% background and 4% of each shape (softmax of $\log \pi$ is
#   $\pi$). With a bias of 0 it starts at 25% per class, and its first steps only learn that most pixels
#   are background; in our runs with a bias of 0 the U-Net still mixed up circles and squares at the end
#   (circle IoU 0.1 on the validation images instead of 0.5).
#
# (`dlcourse.segmentation.fit_segmenter` packs this loop for re-use.) `run` memoises the trained models,
# so that a configuration already trained while choosing the learning rate is not trained twice.

# %%
BATCH, STEPS = 8, 250 * SCALE
prior = np.bincount(shapes.semantic.ravel(), minlength=4) / shapes.semantic.size   # (4,) class frequencies
runs = {}                                                # (net, lr, loss, seed) -> (model, seconds)


def train(Net, lr, loss_fn, seed):
    torch.manual_seed(seed)
    model = Net().to(device)
    with torch.no_grad():
        model.head.bias.copy_(torch.from_numpy(np.log(prior)))      # start at the class frequencies
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=STEPS)
    x, y = torch.from_numpy(shapes.images), torch.from_numpy(shapes.semantic)
    g = torch.Generator().manual_seed(seed)
    order = torch.cat([torch.randperm(len(x), generator=g) for _ in range(BATCH * STEPS // len(x) + 1)])
    start = time.perf_counter()
    for idx in order[:BATCH * STEPS].view(STEPS, BATCH):            # (STEPS, BATCH) image indices
        loss = loss_fn(model(x[idx].to(device)), y[idx].to(device))  # scores (8, 4, 32, 32) vs (8, 32, 32)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()                                                 # one-cycle: lr changes every step
    return model, time.perf_counter() - start


def run(Net, lr, loss_fn=ce_dice, seed=SEEDS[0]):
    key = (Net.__name__, lr, loss_fn.__name__, seed)
    if key not in runs:
        runs[key] = train(Net, lr, loss_fn, seed)
    return runs[key]

# %% [markdown]
# The scores we report: pixel accuracy, IoU and Dice per class, the mean foreground IoU, and two scores
# that ignore *which* shape an object is and only ask *where* objects are: the **object IoU**, the IoU of
# "any object" vs background over all pixels, and the **boundary IoU**, the same IoU counted only in a band
# of `width=1` pixel on each side of the true object outlines (`boundary_band`, about 12% of the pixels),
# where the large interiors no longer dilute it. The peak learning rate of the one-cycle schedule is chosen
# for each network from `LRS` on `shapes_val` (mean foreground IoU, seed `SEEDS[0]`); the step budget is
# fixed by the time we can spend.

# %%
def scores_of(model, d):
    pred = predict(model, d.images)                      # (N, 32, 32) argmax labels
    iou = iou_per_class(pred, d.semantic, 4)             # (4,)
    return dict(pixel_acc=pixel_accuracy(pred, d.semantic, 4), iou=iou,
                dice=dice_per_class(pred, d.semantic, 4), fg_iou=float(np.nanmean(iou[1:])),
                object_iou=float(iou_per_class(pred > 0, d.semantic > 0, 2)[1]),   # any object vs background
                boundary_iou=float(boundary_iou(pred > 0, d.semantic > 0, 2, width=1)[1]))  # near edges


LRS = [3e-3, 1e-2]
nets = {"FCN": FCN, "U-Net": UNet}
val_fg_iou = {name: {lr: scores_of(run(Net, lr)[0], shapes_val)["fg_iou"] for lr in LRS}
              for name, Net in nets.items()}
best_lr = {name: max(LRS, key=val_fg_iou[name].get) for name in nets}
for name in nets:
    print(f"{name:6s} val mean fg IoU by lr:", {lr: round(v, 3) for lr, v in val_fg_iou[name].items()},
          "-> lr", best_lr[name])

# %% [markdown]
# Now every seed, on the test images, which played no part in any choice.

# %%
seg_table = {name: {} for name in nets}                  # name -> seed -> scores on shapes_test
seg_models = {name: {} for name in nets}
for seed in SEEDS:
    for name, Net in nets.items():
        model, seconds = run(Net, best_lr[name], seed=seed)
        seg_models[name][seed] = model
        seg_table[name][seed] = dict(scores_of(model, shapes_test), seconds=seconds)
unet = seg_models["U-Net"][SEEDS[0]]

print(f"{'':6s} {'train s':>7s} {'pix acc':>7s}  {'IoU bg/circle/square/triangle':>29s}  "
      f"{'Dice bg/circle/square/triangle':>30s}  {'fg IoU':>6s} {'obj IoU':>7s} {'bnd IoU':>7s}")
for name in nets:
    for seed, r in seg_table[name].items():
        print(f"{name:6s} {r['seconds']:7.1f} {r['pixel_acc']:7.3f}  {np.array2string(r['iou'], precision=2):>29s}  "
              f"{np.array2string(r['dice'], precision=2):>30s}  {r['fg_iou']:6.3f} {r['object_iou']:7.3f}"
              f" {r['boundary_iou']:7.3f}"
              f"   seed {seed}")

# %% [markdown]
# Read the table column by column. The pixel accuracies are all within a few points of the 87% of the lazy
# predictor and say little. Both networks have learned to tell the shapes apart in 250 steps: every
# per-class IoU is about 0.5 or more, the triangles (the most distinctive outline) scoring highest. The
# object IoU and the boundary IoU (*where* the objects are) favour the U-Net on every seed. The mean
# foreground IoU (*which* shape each pixel belongs to) favours it on average, by less and not
# necessarily on every seed: naming a shape needs the context gathered in the $8 \times 8$ bottleneck,
# which both networks share; the skips add detail, not context.
#
# Predicted masks of both networks (seed `SEEDS[0]`) next to the truth, for a few test images; the last
# row shows the band in which the boundary IoU is counted.

# %% mystnb={"image": {"alt": "Six test images with true masks and FCN and U-Net predictions, plus the boundary band: both name most shapes, U-Net outlines follow the true edges more closely while FCN masks are blobbier"}}
show = [0, 1, 2, 3, 4, 5]
preds = {name: predict(seg_models[name][SEEDS[0]], shapes_test.images[show]) for name in nets}
cmap = plt.get_cmap("viridis", 4)
fig, axes = plt.subplots(5, len(show), figsize=(1.6 * len(show), 8.2))
for j, i in enumerate(show):
    band = boundary_band(shapes_test.semantic[i] > 0, width=1)             # (32, 32) bool
    rows = [("image", shapes_test.images[i].transpose(1, 2, 0)), ("truth", shapes_test.semantic[i]),
            ("FCN", preds["FCN"][j]), ("U-Net", preds["U-Net"][j]), ("boundary band", 3 * band)]
    for ax, (title, im) in zip(axes[:, j], rows):
        ax.imshow(im, cmap=None if im.ndim == 3 else cmap, vmin=0, vmax=3, interpolation="nearest")
        ax.set_xticks([]), ax.set_yticks([])
        if j == 0:
            ax.set_ylabel(title)
fig.suptitle("0 background, 1 circle, 2 square, 3 triangle (dark to light)", fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# Do the skips sharpen the boundaries? Compare, seed by seed, the object IoU over all pixels with the
# boundary IoU in the band around the true outlines. If skips matter most at the edges, the U-Net's lead
# should be larger in the band.

# %%
def mean_over_seeds(name, key):
    return float(np.mean([seg_table[name][s][key] for s in SEEDS]))


def gaps(key):                                           # U-Net minus FCN, one entry per seed
    return [seg_table["U-Net"][s][key] - seg_table["FCN"][s][key] for s in SEEDS]


fg_gap, object_gap, boundary_gap = gaps("fg_iou"), gaps("object_iou"), gaps("boundary_iou")
for s, a, b, c in zip(SEEDS, fg_gap, object_gap, boundary_gap):
    print(f"seed {s}: U-Net - FCN  mean fg IoU {a:+.3f}   object IoU {b:+.3f}   boundary IoU {c:+.3f}")
for key in ["fg_iou", "object_iou", "boundary_iou"]:
    print(f"mean over seeds, {key:12s}: U-Net {mean_over_seeds('U-Net', key):.3f} vs FCN {mean_over_seeds('FCN', key):.3f}")

# %% [markdown]
# On average over the seeds, the U-Net's lead is larger in the band than over all pixels: the skips help most exactly where the
# FCN has to guess an edge from the $8 \times 8$ bottleneck.
#
# ### Does the Dice loss help?
#
# The same U-Net, the same budget and learning rate, trained on the cross-entropy alone instead of `ce_dice`.
# We look at the mean foreground IoU and at the IoU of each shape.

# %%
ce_table = {}                                            # seed -> scores of the U-Net trained on CE alone
for seed in SEEDS:
    model, seconds = run(UNet, best_lr["U-Net"], F.cross_entropy, seed)
    ce_table[seed] = dict(scores_of(model, shapes_test), seconds=seconds)
dice_gain = [seg_table["U-Net"][s]["fg_iou"] - ce_table[s]["fg_iou"] for s in SEEDS]    # one per seed
for seed in SEEDS:
    ce, cd = ce_table[seed], seg_table["U-Net"][seed]
    print(f"seed {seed}: mean fg IoU CE {ce['fg_iou']:.3f} -> CE+Dice {cd['fg_iou']:.3f}; IoU circle/square/"
          f"triangle {np.array2string(ce['iou'][1:], precision=2)} -> {np.array2string(cd['iou'][1:], precision=2)}")
print(f"segmentation part: {time.perf_counter() - seg_start:.0f} s in all")

# %% [markdown]
# On every seed the U-Net trained with the Dice term scores a clearly higher mean foreground IoU. Trained on
# the cross-entropy alone, it still mixes up circles and squares after 250 steps, and the circles gain
# most from the Dice term: with 87% background pixels, the cross-entropy's gradient is spent mostly on
# pixels that are already right, and the few pixels that tell a circle from a square weigh little; the
# Dice term weighs each object class equally, however few pixels it has. This is why the comparison above
# trains both networks on `ce_dice`.

# %% [markdown]
# ### Detection as a grid
#
# A detector answers "which objects, and where": a list of boxes with a class each, and a different
# number of them in every image. A network has a fixed number of outputs, so the single-pass detectors
# (YOLO, SSD) fix the number of *slots* instead: the image is cut into $S \times S$ cells, and every cell
# predicts, for the object whose **centre** lies in it,
#
# - an objectness $o \in [0, 1]$: is there an object centred here?
# - a box $(c_x, c_y, w, h)$: the centre as a fraction of the cell (measured from the cell's top-left
#   corner, so in $[0, 1)$), the width and height as fractions of the image;
# - class scores (here 3: circle, square, triangle).
#
# On $32 \times 32$ images with $S = 8$ each cell is $4 \times 4$ pixels and the head outputs
# $5 + 3 = 8$ numbers per cell: a tensor $(N, 8, 8, 8)$. `encode_grid` builds the targets in the same
# layout. One cell holds one box: when two centres fall into the same cell the larger box is kept and the
# other is **dropped** (counted: the detector can never find it).

# %%
#| export detection
import torch
from torchvision.ops import batched_nms, box_iou
from dlcourse.validate import check_arg, check_array, check_float, check_int


def encode_grid(boxes_list, labels_list, grid=8, image_size=32, n_classes=3):
    """The targets of a grid detector: each box belongs to the cell that holds its centre.

    Args:
        boxes_list: per image an array (k, 4) of boxes x1, y1, x2, y2 in pixels.
        labels_list: per image an array (k,) of class ids 1..n_classes.
        grid: cells per side (S); image_size: the image side in pixels.

    Returns:
        (targets, n_dropped): targets (N, 5 + n_classes, S, S) float32 tensor holding, per cell,
        objectness (1 or 0), the box centre (cx, cy) as a fraction of the cell from its top-left corner,
        the size (w, h) as a fraction of the image, and the class one-hot. When two boxes have their
        centres in one cell the larger one is kept; n_dropped counts the others (they cannot be learned).
    """
    grid, n_classes = check_int("grid", grid, 1), check_int("n_classes", n_classes, 1)
    image_size = check_float("image_size", image_size, 0.0, low_open=True)
    check_arg("labels_list", labels_list, len(labels_list) == len(boxes_list),
              f"one array per image, like boxes_list ({len(boxes_list)} images)")
    cell = image_size / grid
    targets = np.zeros((len(boxes_list), 5 + n_classes, grid, grid), np.float32)
    n_dropped = 0
    for i, (boxes, labels) in enumerate(zip(boxes_list, labels_list)):
        boxes = check_array(f"boxes_list[{i}]", boxes, shape=(None, 4), dtype_kind="fiu").astype(np.float64)
        labels = check_array(f"labels_list[{i}]", labels, shape=(len(boxes),), dtype_kind="iu")
        check_arg(f"labels_list[{i}]", labels, bool(np.all((labels >= 1) & (labels <= n_classes))),
                  f"class ids in 1..{n_classes}")
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        for j in np.argsort(-area, kind="stable"):          # larger boxes first: they keep the cell
            x1, y1, x2, y2 = boxes[j]
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            col, row = min(int(cx // cell), grid - 1), min(int(cy // cell), grid - 1)
            if targets[i, 0, row, col] == 1:
                n_dropped += 1
                continue
            targets[i, :5, row, col] = (1, cx / cell - col, cy / cell - row,
                                        (x2 - x1) / image_size, (y2 - y1) / image_size)
            targets[i, 4 + labels[j], row, col] = 1
    return torch.from_numpy(targets), n_dropped

# %% [markdown]
# The targets of the training images, and how many boxes share a cell with another box:

# %%
IMG, GRID = shapes.images.shape[-1], 8 * SCALE         # image side (pixels), cells per side: 4 x 4 pixels each
det_targets, n_dropped = encode_grid(shapes.boxes, shapes.labels, grid=GRID, image_size=IMG)
n_train_boxes = sum(len(b) for b in shapes.boxes)
n_shared = 0
for boxes in shapes.boxes:
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2                          # (k, 2): cx, cy in pixels
    cells = (centres // (IMG / GRID)).astype(int) @ [1, GRID]     # (k,): col + GRID * row
    _, counts = np.unique(cells, return_counts=True)
    n_shared += counts[counts > 1].sum()
shared_cell_fraction, dropped_fraction = n_shared / n_train_boxes, n_dropped / n_train_boxes
print(f"targets {tuple(det_targets.shape)}; {n_train_boxes} boxes, {n_shared} share a cell "
      f"({shared_cell_fraction:.1%}), {n_dropped} dropped ({dropped_fraction:.1%}: never predictable)")

# %% [markdown]
# One training image with its grid: the cells that hold an object centre are shaded, the dot is the
# centre, and the box is decoded back from the target (`decode_grid` below turns targets or network
# outputs into boxes).

# %% mystnb={"image": {"alt": "Three training images with the 8x8 detection grid: the cell holding each object centre is shaded, the centre is a dot and the box decoded from the target encloses the object"}}
def draw_grid_targets(ax, i):
    img, t = shapes.images[i].transpose(1, 2, 0), det_targets[i]          # (32, 32, 3), (8, 8, 8)
    cell = img.shape[0] / GRID
    ax.imshow(img)
    for k in range(1, GRID):
        ax.axhline(k * cell - 0.5, color="white", lw=0.5), ax.axvline(k * cell - 0.5, color="white", lw=0.5)
    for row, col in zip(*np.nonzero(t[0].numpy())):
        ax.add_patch(plt.Rectangle((col * cell - 0.5, row * cell - 0.5), cell, cell, color="yellow", alpha=0.4))
        cx, cy = (col + t[1, row, col]) * cell, (row + t[2, row, col]) * cell
        w, h = t[3, row, col] * img.shape[0], t[4, row, col] * img.shape[0]
        ax.plot(cx, cy, "r.")
        ax.add_patch(plt.Rectangle((cx - w / 2 - 0.5, cy - h / 2 - 0.5), w + 1, h + 1, fill=False, ec="red"))
    ax.set(xticks=[], yticks=[], title=f"image {i}: " + ", ".join(shapes.class_names[c] for c in shapes.labels[i]))
    ax.title.set_fontsize(9)


fig, axes = plt.subplots(1, 3, figsize=(9, 3))
for ax, i in zip(axes, range(3)):
    draw_grid_targets(ax, i)
plt.show()

# %% [markdown]
# ### A grid detector
#
# The network is a small CNN whose output grid *is* the cell grid: four conv-BN-ReLU blocks and two
# $2 \times 2$ max-pools take a $32 \times 32$ image to $8 \times 8$ positions, and a $1 \times 1$
# convolution (a linear layer applied at every cell) turns the 64 channels of each position into the
# $1 + 4 + 3$ numbers of that cell. Its receptive field (26 pixels) covers the largest shapes.

# %%
#| export detection
from torch import nn


class GridDetector(nn.Module):
    """Four conv-BN-ReLU blocks and two 2x2 max-pools, then a 1x1 head:
    (N, 3, H, W) -> (N, 5 + n_classes, H/4, W/4): per cell objectness, cx, cy, w, h, class scores."""

    def __init__(self, n_classes=3, widths=(16, 32, 64)):
        super().__init__()
        c1, c2, c3 = widths

        def block(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.body = nn.Sequential(*block(3, c1), nn.MaxPool2d(2), *block(c1, c2), nn.MaxPool2d(2),
                                  *block(c2, c3), *block(c3, c3))
        self.head = nn.Conv2d(c3, 5 + n_classes, 1)

    def forward(self, x):
        return self.head(self.body(x))

# %% [markdown]
# The export cells of this section are copied into `dlcourse.detection`; the widget below builds on that
# copy. The model, layer by layer:

# %%
from dlcourse.detection import GridDetector
print(GridDetector())

# %% [markdown]
# The loss has three parts. Every cell learns its objectness with binary cross-entropy (most cells are
# empty: this term also teaches the network to stay silent). Only the cells that hold an object learn a
# box and a class: the squared error of $(c_x, c_y, w, h)$ (after a sigmoid, so each lies in $(0, 1)$),
# weighted by 5 as in YOLO, plus the cross-entropy of the class:
#
# $$L = \mathrm{BCE}(o, \hat o) + 5\,\frac{1}{4M}\sum_{\text{object cells}} \lVert \sigma(t_{box}) - b \rVert^2
# + \frac{1}{M}\sum_{\text{object cells}} \mathrm{CE}(t_{cls}, c),$$
#
# with $M$ the number of cells that hold an object in the batch.

# %%
#| export detection
import torch.nn.functional as F


def detector_loss(outputs, targets, box_weight=5.0):
    """BCE on the objectness of every cell + box_weight * squared error of (cx, cy, w, h) + class
    cross-entropy, the last two on the cells that hold an object. outputs, targets: (N, 5 + K, S, S)."""
    has_object = targets[:, 0] == 1                                          # (N, S, S)
    loss_obj = F.binary_cross_entropy_with_logits(outputs[:, 0], targets[:, 0])
    out = outputs.permute(0, 2, 3, 1)[has_object]                             # (M, 5 + K): M objects
    tgt = targets.permute(0, 2, 3, 1)[has_object]
    loss_box = F.mse_loss(out[:, 1:5].sigmoid(), tgt[:, 1:5])
    loss_cls = F.cross_entropy(out[:, 5:], tgt[:, 5:].argmax(1))
    return loss_obj + box_weight * loss_box + loss_cls


def grid_outputs(model, images, batch_size=500):
    """The model's outputs (N, 5 + K, S, S) on images (N, 3, H, W), in eval mode, without gradients."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x) for x in torch.as_tensor(images).split(batch_size)])

# %% [markdown]
# Training: Adam with a one-cycle schedule, batches of 32, one seed. The learning rate and the number of
# epochs were chosen by the mAP on `shapes_val` (learning rates $3\cdot 10^{-3}$, $10^{-2}$, $2\cdot 10^{-2}$
# and 5 or 6 epochs; $10^{-2}$ and $2\cdot 10^{-2}$ were within 0.01 of each other, a sixth epoch added
# nothing); the validation mAP of the chosen setting is printed in the next section.

# %%
DET_LR, DET_EPOCHS = 1e-2, 5 * SCALE
torch.manual_seed(SEEDS[0])
det_model = GridDetector()
X_det = torch.from_numpy(shapes.images)                                  # (3000, 3, 32, 32)
opt = torch.optim.Adam(det_model.parameters(), lr=DET_LR)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=DET_LR, total_steps=DET_EPOCHS * -(-len(X_det) // 32))
order = torch.Generator().manual_seed(SEEDS[0])
t0 = time.perf_counter()
for epoch in range(DET_EPOCHS):
    det_model.train()
    losses = []
    for idx in torch.randperm(len(X_det), generator=order).split(32):
        loss = detector_loss(det_model(X_det[idx]), det_targets[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    print(f"epoch {epoch + 1}: mean training loss {np.mean(losses):.3f}")
det_train_seconds = time.perf_counter() - t0
print(f"{sum(p.numel() for p in det_model.parameters())} parameters, trained in {det_train_seconds:.1f} s")

# %% [markdown]
# ### From scores to detections
#
# Decoding inverts the targets: a cell at column `col`, row `row` with outputs $(t_x, t_y, t_w, t_h)$
# predicts the centre $((\mathrm{col} + \sigma(t_x))\,c,\ (\mathrm{row} + \sigma(t_y))\,c)$ for a cell of
# $c$ pixels and the size $(\sigma(t_w), \sigma(t_h))$ times the image side. Every cell with objectness
# $\ge$ a **confidence threshold** becomes a detection. A large object often lights up two neighbouring
# cells: **non-maximum suppression** (NMS) keeps the highest-scoring box and removes every box of the same
# class that overlaps it with IoU above a threshold (`torchvision.ops.batched_nms`: the `nms` of this
# chapter, run separately for each class).

# %%
#| export detection
def decode_grid(outputs, conf_threshold=0.5, image_size=32, from_logits=True):
    """The boxes a grid detector predicts: every cell whose objectness is >= conf_threshold.

    Args:
        outputs: (N, 5 + K, S, S): per cell the objectness, cx, cy, w, h and K class scores; raw head
            outputs (``from_logits=True``: sigmoid for objectness and box, softmax for the classes) or
            already in the layout of :func:`encode_grid`'s targets (``from_logits=False``).
        conf_threshold: keep cells with objectness >= this, in [0, 1].

    Returns:
        per image a tuple (boxes (k, 4) x1, y1, x2, y2 in pixels, scores (k,), labels (k,) in 1..K), in
        decreasing score order.
    """
    outputs = torch.as_tensor(outputs).detach().float()
    check_arg("outputs", tuple(outputs.shape), outputs.ndim == 4 and outputs.shape[1] > 5
              and outputs.shape[2] == outputs.shape[3], "of shape (N, 5 + K, S, S)")
    conf_threshold = check_float("conf_threshold", conf_threshold, 0.0, 1.0)
    image_size = check_float("image_size", image_size, 0.0, low_open=True)
    n, _, s, _ = outputs.shape
    if from_logits:
        obj, geo, cls = outputs[:, 0].sigmoid(), outputs[:, 1:5].sigmoid(), outputs[:, 5:].softmax(1)
    else:
        obj, geo, cls = outputs[:, 0], outputs[:, 1:5], outputs[:, 5:]
    cell = image_size / s
    rows, cols = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")     # (S, S) each
    cx, cy = (cols + geo[:, 0]) * cell, (rows + geo[:, 1]) * cell                  # (N, S, S) pixels
    w, h = geo[:, 2] * image_size, geo[:, 3] * image_size
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)  # (N, S, S, 4)
    labels = cls.argmax(1) + 1                                                     # (N, S, S)
    detections = []
    for i in range(n):
        keep = obj[i] >= conf_threshold
        scores, order = obj[i][keep].sort(descending=True, stable=True)
        detections.append((boxes[i][keep][order], scores, labels[i][keep][order]))
    return detections


def detect(outputs, conf_threshold=0.5, iou_threshold=0.5, image_size=32):
    """decode_grid, then non-maximum suppression per class (torchvision's batched_nms): per image
    (boxes (k, 4), scores (k,), labels (k,)) in decreasing score order."""
    iou_threshold = check_float("iou_threshold", iou_threshold, 0.0, 1.0)
    kept = []
    for boxes, scores, labels in decode_grid(outputs, conf_threshold, image_size):
        keep = batched_nms(boxes, scores, labels, iou_threshold)
        kept.append((boxes[keep], scores[keep], labels[keep]))
    return kept

# %% [markdown]
# The round trip must be exact: decoding the targets (they are already probabilities, `from_logits=False`)
# gives back every box that was not dropped.

# %%
decoded = decode_grid(det_targets, 0.5, IMG, from_logits=False)
roundtrip_error, roundtrip_boxes = 0.0, 0
for (boxes, _, labels), true, true_labels in zip(decoded, shapes.boxes, shapes.labels):
    err = np.abs(boxes.numpy()[:, None] - true[None]).max(2)             # (kept, k): largest coordinate error
    nearest = err.argmin(1)                                             # the true box each decoded box is
    roundtrip_error = max(roundtrip_error, float(err.min(1).max()))
    assert np.array_equal(labels.numpy(), true_labels[nearest])
    roundtrip_boxes += len(boxes)
print(f"round trip: {roundtrip_boxes} of {n_train_boxes} boxes back ({n_train_boxes - roundtrip_boxes} dropped), "
      f"largest coordinate error {roundtrip_error:.1e} pixels")

# %% [markdown]
# How good is a detection? A predicted box is a **true positive** when it overlaps a true box of its class
# with IoU $\ge 0.5$ that no higher-scoring prediction took already (greedy matching by score, one to one:
# a duplicate of a found object is a false positive). Then
#
# $$\text{precision} = \frac{TP}{\#\text{predicted}}, \qquad \text{recall} = \frac{TP}{\#\text{true boxes}}.$$
#
# Lowering the confidence threshold trades precision for recall; the **average precision** (AP) is the
# area under that precision-recall curve (with precision made non-increasing), and mAP@0.5 its mean over
# the classes: the standard single number of detection benchmarks (PASCAL VOC).

# %%
#| export detection
def match_detections(pred_boxes, pred_scores, true_boxes, iou_threshold=0.5, pred_labels=None, true_labels=None):
    """Greedy one-to-one matching: predictions in decreasing score order each take the free true box of
    highest IoU, if that IoU is >= iou_threshold (and, when labels are given, the classes agree).

    Returns:
        (k,) int64: for each prediction (in the given order) the index of its true box, or -1 (a false
        positive). True boxes that no prediction took are the misses.
    """
    pred = torch.as_tensor(check_array("pred_boxes", pred_boxes, shape=(None, 4), dtype_kind="fiu")).float()
    true = torch.as_tensor(check_array("true_boxes", true_boxes, shape=(None, 4), dtype_kind="fiu")).float()
    scores = check_array("pred_scores", pred_scores, shape=(len(pred),), dtype_kind="fiu")
    iou_threshold = check_float("iou_threshold", iou_threshold, 0.0, 1.0)
    matches = np.full(len(pred), -1, np.int64)
    if len(pred) == 0 or len(true) == 0:
        return matches
    iou = box_iou(pred, true).numpy()                                       # (k, m)
    if pred_labels is not None and true_labels is not None:
        same = np.asarray(pred_labels).reshape(-1, 1) == np.asarray(true_labels).reshape(1, -1)
        iou = np.where(same, iou, -1.0)
    free = np.ones(len(true), bool)
    for p in np.argsort(-scores, kind="stable"):
        candidates = np.where(free, iou[p], -1.0)
        j = int(candidates.argmax())
        if candidates[j] >= iou_threshold:
            matches[p], free[j] = j, False
    return matches


def _matched(detections, true_boxes_list, true_labels_list, iou_threshold):
    """All detections pooled: (scores, is_true_positive, labels) sorted by decreasing score, and the
    number of true boxes (per class, a dict, when labels are given; else under key None)."""
    check_arg("detections", len(detections), len(detections) == len(true_boxes_list),
              f"one (boxes, scores, labels) per image ({len(true_boxes_list)} images)")
    scores, hits, labels, n_true = [], [], [], {}
    for i, (boxes, s, lab) in enumerate(detections):
        true_labels = None if true_labels_list is None else np.asarray(true_labels_list[i])
        m = match_detections(boxes, s, true_boxes_list[i], iou_threshold, lab, true_labels)
        scores.append(np.asarray(s, np.float64)), hits.append(m >= 0), labels.append(np.asarray(lab))
        for c in (np.unique(true_labels) if true_labels is not None else [None]):
            n_true[c] = n_true.get(c, 0) + int(len(true_boxes_list[i]) if c is None else np.sum(true_labels == c))
    scores, hits, labels = np.concatenate(scores), np.concatenate(hits), np.concatenate(labels)
    order = np.argsort(-scores, kind="stable")
    return scores[order], hits[order], labels[order], n_true

# %%
#| export detection
def precision_recall(detections, true_boxes_list, conf_threshold=0.5, iou_threshold=0.5, true_labels_list=None):
    """Precision and recall of the detections with score >= conf_threshold (per image (boxes, scores,
    labels), e.g. from :func:`detect`) against the true boxes, matched at iou_threshold (and by class
    when true_labels_list is given). Precision is 1.0 when nothing is detected (no false positive)."""
    conf_threshold = check_float("conf_threshold", conf_threshold, 0.0, 1.0)
    scores, hits, _, n_true = _matched(detections, true_boxes_list, true_labels_list, iou_threshold)
    kept = scores >= conf_threshold
    tp, n_pred = int(hits[kept].sum()), int(kept.sum())
    return (tp / n_pred if n_pred else 1.0), tp / max(sum(n_true.values()), 1)


def pr_curve(detections, true_boxes_list, iou_threshold=0.5, true_labels_list=None):
    """(scores, precision, recall): the precision and recall when the confidence threshold is set to each
    detection's score in turn (all images pooled, decreasing score)."""
    scores, hits, _, n_true = _matched(detections, true_boxes_list, true_labels_list, iou_threshold)
    tp = np.cumsum(hits)
    return scores, tp / np.arange(1, len(hits) + 1), tp / max(sum(n_true.values()), 1)


def _ap(hits, n_true):
    """Area under the precision-recall curve with precision made non-increasing (all-point interpolation)."""
    tp = np.cumsum(hits)
    precision = np.concatenate([[1.0], tp / np.arange(1, len(hits) + 1)])
    recall = np.concatenate([[0.0], tp / max(n_true, 1)])
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum(np.diff(recall) * envelope[1:]))


def average_precision(detections, true_boxes_list, iou_threshold=0.5, true_labels_list=None):
    """AP at iou_threshold; with true_labels_list, mAP: the mean over the classes present of each
    class's AP (detections matched only to true boxes of their class)."""
    _, hits, labels, n_true = _matched(detections, true_boxes_list, true_labels_list, iou_threshold)
    if true_labels_list is None:
        return _ap(hits, n_true[None])
    return float(np.mean([_ap(hits[labels == c], n) for c, n in n_true.items()]))

# %% [markdown]
# The detector on the held-out images, at confidence 0.5, with and without NMS:

# %%
CONF, NMS_IOU = 0.5, 0.5
det_test_out = grid_outputs(det_model, shapes_test.images)                 # (500, 8, 8, 8)
test_truth = dict(true_boxes_list=shapes_test.boxes, true_labels_list=shapes_test.labels)
raw_precision, raw_recall = precision_recall(decode_grid(det_test_out, CONF, IMG), conf_threshold=CONF,
                                             **test_truth)
det_precision, det_recall = precision_recall(detect(det_test_out, CONF, NMS_IOU, IMG), conf_threshold=CONF,
                                             **test_truth)
det_ap = average_precision(detect(det_test_out, 0.05, NMS_IOU, IMG), **test_truth)
det_val_ap = average_precision(detect(grid_outputs(det_model, shapes_val.images), 0.05, NMS_IOU, IMG),
                               shapes_val.boxes, true_labels_list=shapes_val.labels)
print(f"without NMS: precision {raw_precision:.3f}, recall {raw_recall:.3f}")
print(f"with NMS:    precision {det_precision:.3f}, recall {det_recall:.3f}")
print(f"mAP@0.5: {det_ap:.3f} on shapes_test ({det_val_ap:.3f} on shapes_val)")

# %% [markdown]
# Below, the first test images with their kept boxes (true boxes dashed white) and the precision-recall
# curve with the point of the current thresholds. The widget after it has two sliders, the confidence
# threshold and the NMS IoU threshold; it only re-thresholds the stored outputs, nothing is retrained.
# Try a confidence of 0.1 (more boxes, recall up, precision down) and an NMS IoU of 1.0 (no suppression:
# duplicates come back as false positives).

# %% mystnb={"image": {"alt": "Grid detector on four test images: kept boxes with class and score sit on the dashed true boxes; beside them the precision-recall curve stays high over most of the recall range and drops at its end; the current thresholds are marked"}}
fig = detection_figure(det_test_out, shapes_test, conf_threshold=CONF, iou_threshold=NMS_IOU)
plt.show()

# %% tags=["nbval-ignore-output", "remove-output"]
det_explorer = DetectionExplorer(det_model, shapes_test)
det_explorer

# %% [markdown]
# Without a running kernel, e.g. in the web version, the slider below swaps precomputed figures: eight
# confidence thresholds for three NMS IoU thresholds (1.0: no suppression).

# %%
dlcourse.widgets.precomputed(det_explorer, {"conf_threshold": [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9],
                                            "iou_threshold": [0.3, 0.5, 1.0]})

# %% tags=["nbval-ignore-output"]
det_explorer.controls["iou_threshold"].value = 0.3           # a new NMS threshold: the slowest update
widget_seconds = det_explorer.last_update_cpu_seconds
det_explorer.controls["iou_threshold"].value = NMS_IOU
print(f"one widget update: {widget_seconds:.2f} s of CPU")

# %% [markdown]
# ### Instance masks
#
# A semantic mask says "these pixels are circle" but not *which* circle. The simplest way from classes to
# objects: the **connected components** of each class, pixels of one class that touch (left, right, up or
# down) belong to one object (`scipy.ndimage.label`). On the true semantic masks of the test images, how
# many objects does this recover exactly?

# %%
def instances_from_semantic(semantic):
    """(H, W) class map -> (H, W) instance ids 1, 2, ...: the connected components of each class."""
    instances = np.zeros_like(semantic)
    for c in np.unique(semantic[semantic > 0]):
        components, n = ndimage.label(semantic == c)                   # 4-neighbour components
        instances[components > 0] = components[components > 0] + instances.max()
    return instances


n_objects = n_exact = n_merged = n_split = 0
for sem, true_inst in zip(shapes_test.semantic, shapes_test.instances):
    found = instances_from_semantic(sem)
    overlap = np.zeros((true_inst.max() + 1, found.max() + 1), int)    # pixels of true id i in component j
    np.add.at(overlap, (true_inst.ravel(), found.ravel()), 1)
    overlap = overlap[1:, 1:]                                           # drop the background
    for i in range(len(overlap)):
        parts = np.nonzero(overlap[i])[0]                               # components that cover object i
        n_objects += 1
        n_split += len(parts) > 1
        n_merged += any(np.count_nonzero(overlap[:, j]) > 1 for j in parts)
        n_exact += len(parts) == 1 and np.count_nonzero(overlap[:, parts[0]]) == 1
cc_exact_fraction, cc_merged_fraction = n_exact / n_objects, n_merged / n_objects
cc_split_fraction = n_split / n_objects
print(f"{n_objects} objects: {n_exact} recovered exactly ({cc_exact_fraction:.1%}), {n_merged} merged with "
      f"another of their class ({cc_merged_fraction:.1%}), {n_split} split in pieces ({cc_split_fraction:.1%})")

# %% [markdown]
# Where it fails: two objects of one class that touch or overlap become one component (and an object cut
# in two by an occluder becomes two). Left to right: the image, the semantic mask, its components, the
# true instances.

# %% mystnb={"image": {"alt": "Two failure cases of connected components: touching objects of one class merge into one component, so the count of components is lower than the number of true instances"}}
merged_at = [i for i, (s, t) in enumerate(zip(shapes_test.semantic, shapes_test.instances))
             if instances_from_semantic(s).max() < t.max()][:2]
fig, axes = plt.subplots(len(merged_at), 4, figsize=(8, 2.1 * len(merged_at)), squeeze=False)
for row, i in zip(axes, merged_at):
    panels = [shapes_test.images[i].transpose(1, 2, 0), shapes_test.semantic[i],
              instances_from_semantic(shapes_test.semantic[i]), shapes_test.instances[i]]
    for ax, img, title in zip(row, panels, ["image", "semantic", "components", "true instances"]):
        ax.imshow(img, cmap="tab10", vmin=0, vmax=9, interpolation="nearest")
        ax.set(xticks=[], yticks=[], title=f"{title} ({img.max()})" if img.ndim == 2 and title != "semantic" else title)
plt.tight_layout()
plt.show()

# %% [markdown]
# Separating touching objects of one class needs more than the class map: **instance segmentation**
# predicts one mask per detected object. Mask R-CNN (He et al., 2017) does exactly that: a detector of
# the R-CNN family proposes boxes, and a small fully-convolutional head predicts a binary mask inside each
# box, so two touching circles get two boxes and two masks. **Panoptic segmentation** (Kirillov et al.,
# CVPR 2019) unifies both views: every pixel gets a class, and pixels of countable *things* (cars,
# people, our shapes) also get an instance id, while amorphous *stuff* (sky, road, our background) gets
# only its class.

# %% [markdown]
# ## Claims checked
#
# Twin checks are asserted to float64 precision. The measured claims (U-Net vs FCN, the detector) hold on
# every seed of `SEEDS` with the margins below, which are smaller than the smallest differences observed
# over several seeds; settings were chosen on `shapes_val`, results come from `shapes_test`.

# %%
# NBVAL_CHECK_OUTPUT
assert one_by_one_error < 1e-12
print("1x1 convolution == the same Linear layer applied at every pixel")
assert field_of_view_ok and fcn_sizes_ok
print("field of view of L stacked k x k convolutions == 1 + L(k-1); the FCN accepts any input size")
assert upsample_twin_error < 1e-10
print("NumPy Upsample (nearest, bilinear, align_corners both ways) == torch.nn.Upsample, forward and backward")
assert stamping_error < 1e-12 and transpose_is_adjoint_error < 1e-12 and conv_transpose_twin_error < 1e-10
print("NumPy ConvTranspose2d == stamping loops == C^T of the convolution == torch.nn.ConvTranspose2d")
assert checkerboard_std["transposed k=3, s=2"] > 0.5
assert checkerboard_std["transposed k=4, s=2"] < 1e-12 and checkerboard_std["nearest x2, then 3x3 conv"] < 1e-12
print("kernel 3, stride 2 stamps unevenly (a checkerboard); kernel 4 or upsample-then-convolve do not")
assert box_iou_error < 1e-12 and nms_matches
print("NumPy box_iou and nms == torchvision.ops.box_iou and nms (50 random sets, ties and duplicates)")
assert lazy_accuracy > 0.85 and lazy_fg_iou == 0
print("predicting background everywhere: pixel accuracy > 0.85 and foreground IoU 0 (pixel accuracy misleads)")
assert min(seg_table[name][s]["iou"][1:].min() for name in nets for s in SEEDS) > 0.4
print("FCN and U-Net both learn the shapes: IoU > 0.4 for circles, squares and triangles on every seed")
assert all(g > 0.02 for g in object_gap) and all(g > 0.05 for g in boundary_gap)
print(f"U-Net > FCN at the same budget on every one of {len(SEEDS)} seeds: object IoU by > 0.02, "
      "boundary IoU by > 0.05")
assert mean_over_seeds("U-Net", "boundary_iou") > mean_over_seeds("FCN", "boundary_iou") + 0.08
assert np.mean(boundary_gap) > np.mean(object_gap) + 0.03
print("skips sharpen boundaries: on average the U-Net's lead is > 0.08 in boundary IoU, larger than its lead "
      "over all pixels")
assert np.mean(fg_gap) > 0.02
print("the U-Net's mean foreground IoU is higher than the FCN's on average over the seeds (by > 0.02)")
assert all(g > 0.08 for g in dice_gain) and np.mean(dice_gain) > 0.1
assert np.mean([seg_table["U-Net"][s]["iou"][1] - ce_table[s]["iou"][1] for s in SEEDS]) > 0.15
print("adding the soft Dice loss to the cross-entropy raises the U-Net's mean foreground IoU on every seed "
      "(by > 0.08), the circles' IoU by > 0.15 on average")
assert 0.003 < dropped_fraction < 0.03 and shared_cell_fraction < 0.05
assert roundtrip_error < 1e-4 and roundtrip_boxes == n_train_boxes - n_dropped
print("between 0.3% and 3% of the boxes share a grid cell and cannot be predicted; every other box survives "
      "encoding and decoding")
assert det_ap > 0.75 and det_val_ap > 0.75 and det_precision > 0.85 and det_recall > 0.6
print("grid detector: mAP@0.5 > 0.75; precision > 0.85 and recall > 0.6 at confidence 0.5")
assert det_precision > raw_precision + 0.03
print("NMS raises the precision by more than 0.03 (it removes duplicates)")
assert cc_exact_fraction > 0.7 and cc_merged_fraction > 0.1
print("connected components recover > 70% of the objects exactly, and merge > 10% with a touching neighbour")

# %% [markdown]
# ## Summary
#
# - **Four tasks, four outputs:** a class per image $(C,)$; a class per pixel $(H, W)$; a variable-length
#   list of boxes, classes and scores; a mask per object $(k, H, W)$. Panoptic segmentation = instance
#   masks for *things* + classes for *stuff*.
# - A $1\times1$ convolution is a fully-connected layer applied at every pixel (weight $D \times C$, output
#   channels first). Without a fully-connected head a CNN is *fully convolutional* and accepts any input
#   size. $L$ stacked $k\times k$ convolutions see $1 + L(k-1)$ pixels per axis: pooling widens the view
#   fast but costs resolution, so segmentation networks go down and back up.
# - **Upsampling:** nearest (blocky) and bilinear (smooth; `align_corners` decides where the samples lie),
#   both a fixed matrix per axis; the **transposed convolution** learns to upsample by stamping the kernel,
#   its matrix is $C^\top$ of a convolution, it is the convolution's backward pass, not its inverse, and
#   a kernel size not divisible by the stride stamps unevenly (checkerboards).
# - **Metrics and losses:** with most pixels background, pixel accuracy misleads (doing nothing scores
#   87%); report IoU and Dice per class. Adding a soft Dice loss to the per-pixel cross-entropy raised the
#   mean foreground IoU on every seed in our runs; alone, the cross-entropy left circles and squares mixed up.
#   On a short budget, start the head's bias at the log class frequencies and use a one-cycle schedule.
# - **Skips:** at the same budget the U-Net found the objects and especially their outlines better than
#   the same network without skips (object and boundary IoU, every seed); *which* shape an object is,
#   decided by the shared bottleneck, it named better only on average.
# - **Detection:** a grid detector predicts objectness, a box and a class per cell; a box whose centre
#   shares a cell with another cannot be predicted; decoding, a confidence threshold and non-maximum
#   suppression turn the grid into detections; precision, recall and mAP@0.5 measure them. Connected
#   components turn a semantic mask into instances, and merge touching objects of one class: the reason
#   instance segmentation (Mask R-CNN: a detector plus a mask per box) exists. The two-stage R-CNN family
#   (R-CNN, Fast and Faster R-CNN) proposes regions first, then classifies them.
#
# **Further reading.** Long, Shelhamer & Darrell (2015), *Fully convolutional networks for semantic
# segmentation* (CVPR); Ronneberger, Fischer & Brox (2015), *U-Net* (MICCAI); Odena, Dumoulin & Olah (2016),
# *Deconvolution and checkerboard artifacts* (Distill); Redmon et al. (2016), *You only look once* (CVPR);
# Ren et al. (2015), *Faster R-CNN* (NeurIPS); He et al. (2017), *Mask R-CNN* (ICCV); Kirillov et al.
# (2019), *Panoptic segmentation* (CVPR); Milletari, Navab & Ahmadi (2016), *V-Net* (the soft Dice loss).
#
# **Exercises:** [exercises/08_segmentation](../exercises/08_segmentation.ipynb): bilinear upsampling with
# both `align_corners` conventions, per-class IoU and Dice from masks, non-maximum suppression per class,
# the `output_padding` that restores an encoder's size (each checked against PyTorch or torchvision), a
# small segmentation network trained to a stated IoU, and three questions to answer in words.
