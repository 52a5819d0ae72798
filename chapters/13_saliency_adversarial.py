# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 13 · Looking inside a network, and fooling it
#
# A network that scores 98% on the test set may still be right for the wrong reasons: the "Clever Hans"
# effect, named after a horse that seemed to count but read its trainer's face. A classifier can rely on
# a watermark, a background or a texture that happens to go with the label. *Heat maps* show which
# pixels a decision depends on, so we can check. And the same gradient that draws a heat map can be
# turned around: a small, deliberately chosen change of the input, invisible or nearly so, changes the
# label. These *adversarial examples* are the other half of this chapter.
#
# ## Learning goals
#
# After this chapter you can
#
# - look at a CNN's first-layer filters and activation maps;
# - compute heat maps four ways: gradient saliency, SmoothGrad, occlusion sensitivity (in NumPy) and
#   Grad-CAM (with PyTorch hooks), and measure their quality where the true object is known;
# - show that the saliency of a linear model is its weight vector;
# - attack a CNN with FGSM and PGD, draw the accuracy-vs-epsilon curve and the perturbation, and measure
#   how well an attack transfers to another network;
# - train a network adversarially and measure what robustness costs in clean accuracy.
#
# Lecture ideas covered: Clever Hans; heat maps for debugging with relevance $\partial \hat y_i/\partial
# x_{j}$ (or its square), equal to $w_j$ for a linear model; Grad-CAM (LRP and Deep Taylor decomposition are
# named in the Summary); adversarial examples as an optimisation for a nearby input with another label,
# lying off the data manifold; the panda that becomes a gibbon with $0.007\cdot\mathrm{sign}(\nabla_x J)$
# (FGSM); adversarial training.
#
# *Runs in ~60 s on a laptop CPU (one thread; training the CNNs takes most of it).*

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import dlcourse
from dlcourse import data
from dlcourse.train import accuracy

rng, device = dlcourse.setup(seed=0, threads=1)   # one thread: these small models run fastest on one core
print("PyTorch runs on:", device)

# %%
SCALE = 1                          # 1: the CPU-sized experiments whose claims are asserted; 2+: more epochs, more seeds
SEEDS = dlcourse.seeds(3 * SCALE)  # every network is trained once per seed
SHAPE_SEEDS = SEEDS[:2]            # the shapes CNN (the most expensive model) is trained on the first two
EPOCHS = 20 * SCALE                # epochs of the digits CNN (Adam, minibatches of 64)
SHAPE_EPOCHS = 15 * SCALE          # epochs of the shapes CNN

# %% [markdown]
# ## Intuition
#
# ### A heat map is a derivative
#
# Which pixels matter for the score $\hat y_c$ of class $c$? The simplest answer is how fast the score
# changes when a pixel changes: the *saliency* $\partial \hat y_c / \partial x_j$, one number per pixel
# (often shown as its absolute value or its square). For a linear model $\hat y_c = w_c^\top x + b_c$ the
# derivative is the weight itself, $\partial \hat y_c/\partial x_j = w_{c,j}$: the heat map of a linear
# model *is* its weight vector, the same for every input. For a deep network the derivative depends on
# the input, and it is one backward pass away.
#
# ### An adversarial example is an optimisation
#
# Training moves the weights to lower the loss $J(\theta, x, y)$. An attacker keeps the weights fixed
# and moves the *input* to raise the loss, within a budget: $\|x' - x\|_\infty \le \epsilon$ (no pixel
# changes by more than $\epsilon$). The *fast gradient sign method* (FGSM; Goodfellow, Shlens and
# Szegedy, *Explaining and harnessing adversarial examples*, ICLR 2015) takes one step to the corner of
# that box that a linear approximation of the loss says is worst:
#
# $$ x' = \mathrm{clip}_{[0,1]}\big(x + \epsilon\,\mathrm{sign}(\nabla_x J(\theta, x, y))\big). $$
#
# Why is a small $\epsilon$ enough? For a linear score $w^\top x$ the step changes the score by
# $\epsilon\,\mathrm{sign}(w)^\top w = \epsilon\,\|w\|_1$, which grows with the number of pixels: each
# pixel moves a little, but all of them push the same way. *Projected gradient descent* (PGD; Madry et
# al., ICLR 2018) takes several smaller such steps and projects back into the box after each: a
# stronger attack at the same $\epsilon$. The resulting images look like the originals to us but lie off
# the manifold of natural images, where the network was never trained.
#
# *A note on the slides:* the panda picture (57.7% "panda"; plus $0.007\cdot\mathrm{sign}(\nabla_x J)$;
# 99.3% "gibbon") is Figure 1 of Goodfellow et al. (2015), an FGSM attack on GoogLeNet. The middle
# image, labelled "nematode 8.2%", is the sign of the gradient itself, magnified for display (the
# network's label for that noise image), not an image the attack produces. Below, at the same
# $\epsilon = 0.007$ our 8x8 digits barely move: the $\epsilon\|w\|_1$ argument says why (64 pixels
# instead of 150,528), and a digit needs an $\epsilon$ about twenty times larger.
#
# ## NumPy reference
#
# ### Saliency and FGSM of a linear model, by hand
#
# Softmax regression on the digits: scores $z = Wx + b$ ($W$ is $10\times64$), probabilities
# $p = \mathrm{softmax}(z)$, loss $J = -\log p_y$. The saliency of class $c$ is $W_c$ (row $c$), and the
# gradient of the loss with respect to the input is $\nabla_x J = W^\top(p - e_y)$ (chapter 03's
# softmax-cross-entropy gradient, carried one layer further back). We train it with PyTorch (a few
# hundred full-batch steps) and then work with its weights in NumPy.

# %%
digits = data.load_digits(flatten=False, val_size=0.2, seed=0)     # (N, 1, 8, 8) images in [0, 1]
X_train, y_train = torch.from_numpy(digits.X_train), torch.from_numpy(digits.y_train)
X_val, y_val = torch.from_numpy(digits.X_val), torch.from_numpy(digits.y_val)
X_test, y_test = torch.from_numpy(digits.X_test), torch.from_numpy(digits.y_test)
print("train", tuple(X_train.shape), "validation", tuple(X_val.shape), "test", tuple(X_test.shape))

torch.manual_seed(0)
linear = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
opt = torch.optim.Adam(linear.parameters(), lr=0.05)
for step in range(300):
    loss = F.cross_entropy(linear(X_train), y_train)
    opt.zero_grad()
    loss.backward()
    opt.step()
W, b = linear[1].weight.detach().double().numpy(), linear[1].bias.detach().double().numpy()   # (10, 64), (10,)
print(f"softmax regression: test accuracy {accuracy(linear(X_test), y_test):.1%}")

# %%
def linear_input_gradient(W, b, x, y):
    """Gradient of the cross-entropy of softmax(W x + b) with respect to x: W^T (p - e_y).

    W (C, D), b (C,), x (N, D), y (N,) -> (N, D)."""
    z = x @ W.T + b                                           # (N, C)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1                              # p - e_y
    return p @ W                                              # (N, D)


def linear_fgsm(W, b, x, y, epsilon):
    """One FGSM step on softmax regression, clipped to the valid pixel range [0, 1]."""
    return np.clip(x + epsilon * np.sign(linear_input_gradient(W, b, x, y)), 0, 1)


x_np, y_np = digits.X_test.reshape(-1, 64).astype(np.float64), digits.y_test
for eps in (0.007, 0.05, 0.1):
    x_adv = linear_fgsm(W, b, x_np, y_np, eps)
    print(f"epsilon {eps:5.3f}: softmax regression accuracy {accuracy(x_adv @ W.T + b, y_np):.1%}")

# %% [markdown]
# ### Occlusion sensitivity
#
# A second, model-agnostic way to find the pixels that matter: hide a patch (set it to a baseline
# value, here 0, the background of the digits) and see how much the score of the class drops. Slide the
# patch over the image; each pixel gets the average drop of the patches that covered it. It needs only
# the model's predictions, no gradient, so it works on any model: the function below takes a `predict`
# function from NumPy images to NumPy scores and loops over patch positions.

# %%
#| export saliency
def occlusion(predict, x, target, patch=4, stride=2, baseline=0.0):
    """Occlusion sensitivity: the drop of the target score when a square patch is set to ``baseline``.

    Args:
        predict: function from images ``(N, C, H, W)`` (NumPy) to scores ``(N, K)`` (NumPy).
        x: ``(N, C, H, W)`` images; target: ``(N,)`` class whose score is watched.
        patch, stride: side and step of the sliding patch, in pixels.
    Returns:
        ``(N, H, W)``: each pixel's mean score drop over the patches that covered it (0 if none did).
    """
    x = np.asarray(x, dtype=np.float64)
    check_arg("x", x.shape, x.ndim == 4, "(N, C, H, W) images")
    N, C, H, W = x.shape
    check_int("patch", patch, 1)
    check_arg("patch", patch, patch <= min(H, W), f"at most the image side {min(H, W)}")
    check_int("stride", stride, 1)
    target = np.asarray(target)
    check_arg("target", target.shape, target.shape == (N,), f"({N},): one class per image")
    rows = np.arange(N)
    base = np.asarray(predict(x))[rows, target]                       # (N,) unoccluded scores
    heat, count = np.zeros((N, H, W)), np.zeros((H, W))
    for i in range(0, H - patch + 1, stride):
        for j in range(0, W - patch + 1, stride):
            hidden = x.copy()
            hidden[:, :, i:i + patch, j:j + patch] = baseline
            drop = base - np.asarray(predict(hidden))[rows, target]   # (N,)
            heat[:, i:i + patch, j:j + patch] += drop[:, None, None]
            count[i:i + patch, j:j + patch] += 1
    return heat / np.maximum(count, 1)


# %% [markdown]
# For a linear score and $1\times1$ patches the drop at pixel $j$ is exactly $w_{c,j}(x_j - 0)$: the
# weight times the pixel, "gradient times input". Occlusion and saliency agree on a linear model (we
# check it below); on a network they differ, because hiding a whole patch is a large change, not an
# infinitesimal one.
#
# ## Check against PyTorch
#
# PyTorch computes the same input gradients by autograd. The functions below are the PyTorch versions
# used in the rest of the chapter; here we check them against the NumPy formulas on the linear model
# (float64; the differences should be at rounding level, about $10^{-15}$).

# %%
#| export saliency
import copy

import torch
import torch.nn.functional as F
from torch import nn

from dlcourse.validate import check_arg, check_float, check_int


def input_gradient(model, x, target):
    """d score[target] / d x for every image: x (N, C, H, W), target (N,) -> (N, C, H, W)."""
    x = x.detach().clone().requires_grad_(True)
    scores = model(x)                                                  # (N, K)
    check_arg("target", tuple(target.shape), tuple(target.shape) == (len(x),), f"({len(x)},): one class per image")
    (grad,) = torch.autograd.grad(scores.gather(1, target[:, None]).sum(), x)
    return grad


def gradient_saliency(model, x, target):
    """Gradient saliency (Simonyan et al. 2014): |d score / d x|, maximum over channels -> (N, H, W)."""
    return input_gradient(model, x, target).abs().amax(1)


def fgsm(model, x, y, epsilon):
    """Fast gradient sign method: x + epsilon * sign(d loss / d x), clipped to [0, 1] -> same shape as x."""
    epsilon = check_float("epsilon", epsilon, 0.0)
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return (x + epsilon * grad.sign()).clamp(0, 1).detach()


# %%
linear64 = linear.double()
x_t = torch.from_numpy(x_np).reshape(-1, 1, 8, 8)
c_t = torch.from_numpy(y_np)
saliency_error = np.abs(input_gradient(linear64, x_t, c_t).reshape(-1, 64).numpy() - W[y_np]).max()
x_adv_torch = fgsm(linear64, x_t, c_t, 0.1).reshape(-1, 64).numpy()
fgsm_error = np.abs(x_adv_torch - linear_fgsm(W, b, x_np, y_np, 0.1)).max()
grad_error = np.abs(torch.autograd.functional.jacobian(
    lambda v: F.cross_entropy(linear64(v), c_t[:5], reduction="sum"), x_t[:5]).reshape(5, 64).numpy()
    - linear_input_gradient(W, b, x_np[:5], y_np[:5])).max()
scores_of = lambda images: images.reshape(len(images), -1) @ W.T + b              # NumPy linear scores
occ = occlusion(scores_of, x_np[:20].reshape(-1, 1, 8, 8), y_np[:20], patch=1, stride=1)
occlusion_error = np.abs(occ.reshape(20, 64) - W[y_np[:20]] * x_np[:20]).max()
print(f"saliency of the linear model vs its weight rows W[y]:    max |difference| = {saliency_error:.1e}")
print(f"input gradient of the loss, autograd vs W^T (p - e_y):  max |difference| = {grad_error:.1e}")
print(f"FGSM image, PyTorch vs NumPy (epsilon 0.1):              max |difference| = {fgsm_error:.1e}")
print(f"1x1 occlusion vs weight x pixel:                          max |difference| = {occlusion_error:.1e}")
linear.float()

# %% [markdown]
# The saliency of the linear model is its weight row, whatever the input: below, the ten rows drawn as
# images. They look like blurred templates of the digits, with negative weight where other digits put
# ink. A deep network's saliency is different for every image.

# %% mystnb={"image": {"alt": "The ten weight rows of the linear digit classifier drawn as 8x8 images in red and blue: blurred templates of each digit, with negative weight where other digits put ink"}}
fig, axes = plt.subplots(1, 10, figsize=(10, 1.3))
for c, ax in enumerate(axes):
    ax.imshow(W[c].reshape(8, 8), cmap="bwr", vmin=-np.abs(W).max(), vmax=np.abs(W).max())
    ax.set_title(f"w for {c}", fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## PyTorch version
#
# ### SmoothGrad, Grad-CAM and PGD
#
# Gradient saliency is noisy: the gradient of a ReLU network jumps from pixel to pixel. *SmoothGrad*
# (Smilkov et al. 2017) averages the saliency over copies of the image with Gaussian noise added.
# *Grad-CAM* (Selvaraju et al., ICCV 2017) looks at a late convolutional layer instead of the pixels: it
# weights each feature map $A_k$ by the mean gradient of the class score over that map,
# $\alpha_k = \frac{1}{hw}\sum_{i,j}\partial \hat y_c/\partial A_{k,ij}$, sums, keeps the positive part,
# $\mathrm{ReLU}(\sum_k \alpha_k A_k)$, and upsamples the small map to the image. A *forward hook*
# (`layer.register_forward_hook`) catches $A$ as the model runs, without changing the model's code.

# %%
#| export saliency
def smoothgrad(model, x, target, n=16, sigma=0.1, generator=None):
    """SmoothGrad: the mean gradient saliency over ``n`` noisy copies (noise std ``sigma``) -> (N, H, W)."""
    check_int("n", n, 1)
    sigma = check_float("sigma", sigma, 0.0)
    total = 0
    for _ in range(n):
        noisy = x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        total = total + gradient_saliency(model, noisy, target)
    return total / n


def grad_cam(model, layer, x, target, upsample=True):
    """Grad-CAM: ReLU(sum_k alpha_k A_k) with A the output of ``layer`` (a module inside ``model``) and
    alpha_k the mean of d score[target] / d A_k. x (N, C, H, W) -> (N, H, W) (``upsample=True``, bilinear)
    or (N, h, w), the layer's own resolution."""
    check_arg("layer", type(layer).__name__, any(m is layer for m in model.modules()), "a module of the model")
    store = {}
    hook = layer.register_forward_hook(lambda module, inputs, output: store.update(A=output))
    try:
        scores = model(x.detach())                                    # (N, K); the hook fills store["A"]
    finally:
        hook.remove()
    A = store["A"]                                                     # (N, K', h, w)
    (grad,) = torch.autograd.grad(scores.gather(1, target[:, None]).sum(), A)
    alpha = grad.mean((2, 3), keepdim=True)                            # (N, K', 1, 1)
    cam = torch.relu((alpha * A).sum(1, keepdim=True)).detach()        # (N, 1, h, w)
    if upsample:
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return cam[:, 0]


def pgd(model, x, y, epsilon, steps=10, step_size=None, random_start=False, generator=None):
    """Projected gradient descent (Madry et al. 2018): ``steps`` signed-gradient steps of ``step_size``
    (default 2.5 epsilon / steps), each followed by projection onto the epsilon box around x and [0, 1]."""
    epsilon = check_float("epsilon", epsilon, 0.0)
    check_int("steps", steps, 1)
    step_size = 2.5 * epsilon / steps if step_size is None else check_float("step_size", step_size, 0.0)
    x0 = x.detach()
    x_adv = x0.clone()
    if random_start:
        x_adv = (x_adv + epsilon * (2 * torch.rand(x0.shape, generator=generator, dtype=x0.dtype) - 1)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        x_adv = x_adv.detach() + step_size * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x0 - epsilon), x0 + epsilon).clamp(0, 1)   # project
    return x_adv.detach()


def inside_fraction(heat, mask):
    """Fraction of a heat map's mass (absolute values) that lies inside a mask: (N, H, W) x2 -> (N,)."""
    heat, mask = np.abs(np.asarray(heat, dtype=np.float64)), np.asarray(mask, dtype=bool)
    check_arg("mask", mask.shape, mask.shape == heat.shape, f"{heat.shape} like the heat map")
    return (heat * mask).sum((1, 2)) / np.maximum(heat.sum((1, 2)), 1e-300)


# %% [markdown]
# ### The two CNNs and their training loop
#
# A small CNN for the $8\times8$ digits (two $3\times3$ convolutions, max pooling, a linear layer) and one
# for $32\times32$ RGB shapes (three convolutions with batch normalization, global average pooling, a
# linear layer: Grad-CAM looks at its last convolution, an $8\times8$ map). One training loop serves
# both, with an optional `attack`: adversarial training replaces nothing, it adds the attacked copy of
# every minibatch to it.

# %%
#| export saliency
def digits_cnn(channels=16):
    """CNN for (N, 1, 8, 8) digits -> (N, 10) scores."""
    return nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(),            # (N, c, 8, 8)
                         nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(),  # (N, 2c, 8, 8)
                         nn.MaxPool2d(2), nn.Flatten(),                               # (N, 2c * 16)
                         nn.Linear(2 * channels * 16, 10))


def shapes_cnn(channels=16, classes=3):
    """CNN for (N, 3, 32, 32) images -> (N, classes); ``model[8]`` is the last convolution (8x8 maps)."""
    c = channels
    return nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),  # 16x16
                         nn.Conv2d(c, 2 * c, 3, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU(), nn.MaxPool2d(2),  # 8x8
                         nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU(),  # 8x8
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * c, classes))


def train_classifier(model, X, y, epochs=20, lr=3e-3, batch_size=64, seed=0, attack=None, epsilon=0.0, val=None):
    """Adam on the cross-entropy; with ``attack(model, x, y, epsilon)`` every minibatch is doubled by its
    attacked copy (adversarial training); with ``val=(X_val, y_val)`` the weights of the epoch with the best
    validation accuracy are kept (early stopping). Returns the model in eval mode."""
    check_int("epochs", epochs, 1)
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    best_acc, best_state = -1.0, None
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), batch_size):
            xb, yb = X[order[start:start + batch_size]], y[order[start:start + batch_size]]
            if attack is not None:
                model.eval()                                     # attack the current model as it predicts
                xb, yb = torch.cat([xb, attack(model, xb, yb, epsilon)]), torch.cat([yb, yb])
                model.train()
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if val is not None:
            with torch.no_grad():
                acc = (model.eval()(val[0]).argmax(1) == val[1]).float().mean().item()
            if acc > best_acc:
                best_acc, best_state = acc, copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval()


# %% [markdown]
# ## Experiments
#
# ### What the digits CNN learned: filters and activation maps
#
# One digits CNN per seed, 20 epochs of Adam (learning rate 0.003, minibatches of 64).

# %%
models = {}
for seed in SEEDS:
    torch.manual_seed(seed)
    models[seed] = train_classifier(digits_cnn(), X_train, y_train, epochs=EPOCHS, seed=seed)
clean = {seed: accuracy(m(X_test), y_test) for seed, m in models.items()}
print("test accuracy:", {seed: f"{a:.1%}" for seed, a in clean.items()})
cnn = models[SEEDS[0]]

# %% mystnb={"image": {"alt": "A test digit with the 16 first-layer 3x3 filters of the CNN (red positive, blue negative) and their ReLU activation maps on it: each map lights up the strokes or edges matching its filter"}}
filters = cnn[0].weight.detach()[:, 0]                         # (16, 3, 3) first-layer filters
with torch.no_grad():
    maps = torch.relu(cnn[0](X_test[:1]))[0]                   # (16, 8, 8) their ReLU activations on one digit
fig, axes = plt.subplots(2, 17, figsize=(13, 1.8))
axes[0, 0].imshow(X_test[0, 0], cmap="gray_r"); axes[0, 0].set_title(f"digit {int(y_test[0])}", fontsize=8)
axes[1, 0].axis("off")
for k in range(16):
    axes[0, k + 1].imshow(filters[k], cmap="bwr", vmin=-filters.abs().max(), vmax=filters.abs().max())
    axes[1, k + 1].imshow(maps[k], cmap="viridis")
for ax in axes.flat:
    ax.set_xticks([]); ax.set_yticks([])
axes[0, 1].set_ylabel("filter", fontsize=8); axes[1, 1].set_ylabel("map", fontsize=8)
plt.show()

# %% [markdown]
# The $3\times3$ filters are small edge and stroke detectors (red positive, blue negative weights); each
# activation map lights up where its filter's pattern occurs in the digit: horizontal strokes in one,
# left edges in another. Deeper layers combine them and are harder to draw, which is why heat maps
# ask a different question: which *input* pixels matter for the final score.
#
# ### Heat maps on the digits

# %% mystnb={"image": {"alt": "Six test digits with four heat maps each: gradient and SmoothGrad maps are speckled pixel by pixel, occlusion and Grad-CAM highlight coarser regions around the strokes"}}
idx = torch.arange(6)
x6, y6 = X_test[idx], y_test[idx]
heat = {"gradient": gradient_saliency(cnn, x6, y6),
        "SmoothGrad": smoothgrad(cnn, x6, y6, generator=torch.Generator().manual_seed(0)),
        "occlusion (2x2)": occlusion(lambda a: cnn(torch.from_numpy(a).float()).detach().numpy(),
                                     x6.numpy(), y6.numpy(), patch=2, stride=1),
        "Grad-CAM": grad_cam(cnn, cnn[2], x6, y6)}
fig, axes = plt.subplots(5, 6, figsize=(7, 6))
for i in range(6):
    axes[0, i].imshow(x6[i, 0], cmap="gray_r"); axes[0, i].set_title(f"label {int(y6[i])}", fontsize=8)
    for r, (name, h) in enumerate(heat.items(), start=1):
        axes[r, i].imshow(np.asarray(h[i]), cmap="hot")
        axes[r, 0].set_ylabel(name, fontsize=8)
for ax in axes.flat:
    ax.set_xticks([]); ax.set_yticks([])
plt.tight_layout(); plt.show()

# %% [markdown]
# On $8\times8$ digits the maps are coarse but agree on the strokes that tell a digit from its
# neighbours. To *measure* a heat map we need to know where the evidence really is: synthetic shapes.
#
# ### Measuring heat maps where the object is known
#
# One circle, square or triangle per $32\times32$ image, on a textured background; the class is the
# shape. The generator also returns the object's mask, so a heat map's quality is a number: the fraction
# of its mass inside the object. A random map puts the object's area fraction inside; a good map more.
# 1600 images train, 400 validate (the learning rate was chosen on them, and training keeps the weights of
# the epoch with the best validation accuracy: this network's accuracy jumps around between epochs), 400 test.

# %%
shp = data.shapes(n=2400, size=32, max_objects=1, radius=(0.15, 0.3), seed=0)
shape_y = torch.tensor([labels[0] - 1 for labels in shp.labels])     # 0 circle, 1 square, 2 triangle
shape_x, object_mask = torch.from_numpy(shp.images), shp.semantic > 0  # (2400, 3, 32, 32), (2400, 32, 32)
tr, va, te = slice(0, 1600), slice(1600, 2000), slice(2000, 2400)
shape_models, shape_acc = {}, {}
for seed in SHAPE_SEEDS:
    torch.manual_seed(seed)
    shape_models[seed] = train_classifier(shapes_cnn(), shape_x[tr], shape_y[tr], epochs=SHAPE_EPOCHS, seed=seed,
                                          val=(shape_x[va], shape_y[va]))
    shape_acc[seed] = (accuracy(shape_models[seed](shape_x[va]), shape_y[va]),
                       accuracy(shape_models[seed](shape_x[te]), shape_y[te]))
print("shapes CNN (validation, test) accuracy:", {s: tuple(round(a, 3) for a in v) for s, v in shape_acc.items()})
print(f"object area: {object_mask[te].mean():.1%} of the pixels")

# %%
def heat_maps(model, x, y, seed):
    """The four heat maps and a random one for images x (N, 3, 32, 32) -> dict of (N, 32, 32) arrays."""
    predict = lambda a: torch.softmax(model(torch.from_numpy(a).float()), 1).detach().numpy()
    return {"gradient": gradient_saliency(model, x, y).numpy(),
            "SmoothGrad": smoothgrad(model, x, y, generator=torch.Generator().manual_seed(seed)).numpy(),
            "occlusion": np.clip(occlusion(predict, x.numpy(), y.numpy(), patch=6, stride=3), 0, None),
            "Grad-CAM": grad_cam(model, model[8], x, y).numpy(),
            "random": np.random.default_rng(seed).random(tuple(x[:, 0].shape))}


N_HEAT = 200                                                         # test images whose maps are scored
inside = {}
for seed, model in shape_models.items():
    maps_ = heat_maps(model, shape_x[te][:N_HEAT], shape_y[te][:N_HEAT], seed)
    for name, h in maps_.items():
        inside[name, seed] = inside_fraction(h, object_mask[te][:N_HEAT]).mean()
METHODS = ["gradient", "SmoothGrad", "occlusion", "Grad-CAM", "random"]
print("fraction of heat-map mass inside the object (mean over", N_HEAT, "test images)")
for name in METHODS:
    print(f"  {name:11s}", "  ".join(f"seed {s}: {inside[name, s]:.2f}" for s in SHAPE_SEEDS))

# %% mystnb={"image": {"alt": "Five shapes images with the object outlined, and their gradient, SmoothGrad, occlusion and Grad-CAM heat maps: SmoothGrad spreads over the textured background, Grad-CAM and occlusion concentrate nearer the object"}}
show = slice(0, 5)
fig, axes = plt.subplots(5, 5, figsize=(7, 7))
for i in range(5):
    axes[0, i].imshow(shp.images[te][i].transpose(1, 2, 0))
    axes[0, i].contour(object_mask[te][i], levels=[0.5], colors="w", linewidths=0.8)
    for r, name in enumerate(METHODS[:4], start=1):
        axes[r, i].imshow(maps_[name][i], cmap="hot")
        axes[r, i].contour(object_mask[te][i], levels=[0.5], colors="c", linewidths=0.6)
        axes[r, 0].set_ylabel(name, fontsize=8)
for ax in axes.flat:
    ax.set_xticks([]); ax.set_yticks([])
plt.tight_layout(); plt.show()

# %% [markdown]
# Every method puts more of its mass inside the object than the random map, which puts the object's
# area fraction (15%) there. Grad-CAM and occlusion, which look at regions rather than single pixels,
# score best; SmoothGrad scores lowest here, because the added noise spreads its maps over the textured
# background. None puts even half its mass inside: what tells a triangle from a square is the outline,
# and half of the outline's neighbourhood lies outside the mask; Grad-CAM's $8\times8$ map is also
# coarse. A number like this one is how heat-map methods can be compared at all; by eye, each looks
# convincing.
#
# ### Adversarial examples: accuracy against epsilon
#
# FGSM and PGD (10 steps) on every digits CNN, for a grid of budgets $\epsilon$. The epsilon used for the
# claims, `EPS`, is chosen on the validation split: the smallest grid value at which FGSM brings the
# first model's validation accuracy below one half. PGD's step size is chosen on validation too.

# %% mystnb={"image": {"alt": "Test accuracy of three digit CNNs against the attack budget epsilon: near-clean accuracy at tiny budgets, then a steep fall; at the chosen budget PGD (dashed) is below FGSM on every model, and both near 0 at 0.3"}}
EPS_GRID = [0.0, 0.007, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3]
val_fgsm = [accuracy(cnn(fgsm(cnn, X_val, y_val, e)), y_val) for e in EPS_GRID]
EPS = min(e for e, a in zip(EPS_GRID, val_fgsm) if a < 0.5)
val_pgd = {f: accuracy(cnn(pgd(cnn, X_val, y_val, EPS, step_size=f * EPS / 10)), y_val) for f in (1.0, 2.5, 5.0)}
STEP = min(val_pgd, key=val_pgd.get) * EPS / 10
print(f"EPS = {EPS} (validation accuracy under FGSM {val_fgsm[EPS_GRID.index(EPS)]:.1%}); "
      f"PGD step size {STEP:.4f} (validation accuracy by step size: "
      + ", ".join(f"{f * EPS / 10:.4f}: {a:.1%}" for f, a in val_pgd.items()) + ")")

curves = {}
for seed, m in models.items():
    curves["FGSM", seed] = [accuracy(m(fgsm(m, X_test, y_test, e)), y_test) for e in EPS_GRID]
    curves["PGD", seed] = [accuracy(m(pgd(m, X_test, y_test, e, step_size=STEP * e / EPS)), y_test) for e in EPS_GRID]
fig, ax = plt.subplots(figsize=(5, 3))
for (attack, seed), acc in curves.items():
    ax.plot(EPS_GRID, acc, "o-" if attack == "FGSM" else "s--", color="C0" if attack == "FGSM" else "C3",
            alpha=0.7, label=attack if seed == SEEDS[0] else None)
ax.axvline(EPS, color="gray", ls=":")
ax.set(xlabel=r"budget $\epsilon$ (max change per pixel)", ylabel="test accuracy")
ax.legend(); plt.show()
e_at = EPS_GRID.index(EPS)
for seed in SEEDS:
    print(f"seed {seed}: clean {clean[seed]:.1%}; at epsilon 0.007 FGSM {curves['FGSM', seed][1]:.1%}; "
          f"at EPS={EPS} FGSM {curves['FGSM', seed][e_at]:.1%}, PGD {curves['PGD', seed][e_at]:.1%}")

# %% [markdown]
# At $\epsilon = 0.007$, the panda's budget, almost nothing happens to the digits; at `EPS` most digits
# are misclassified, and PGD, with ten smaller steps, always does at least as much damage as FGSM's one.
# Here is what the attack adds: each pixel moved by $\pm\epsilon$ (clipped at 0 and 1).

# %% mystnb={"image": {"alt": "Four test digits, the PGD perturbation of plus or minus epsilon per pixel, and the attacked images: the digits still look the same to the eye, but most are now read as a different digit with high confidence"}}
x4, y4 = X_test[:4], y_test[:4]
adv4 = pgd(cnn, x4, y4, EPS, step_size=STEP)
prob_clean, prob_adv = torch.softmax(cnn(x4), 1).detach(), torch.softmax(cnn(adv4), 1).detach()
fig, axes = plt.subplots(3, 4, figsize=(6, 4.6))
for i in range(4):
    axes[0, i].imshow(x4[i, 0], cmap="gray_r", vmin=0, vmax=1)
    axes[0, i].set_title(f"{int(prob_clean[i].argmax())} ({prob_clean[i].max():.0%})", fontsize=8)
    axes[1, i].imshow(adv4[i, 0] - x4[i, 0], cmap="bwr", vmin=-EPS, vmax=EPS)
    axes[2, i].imshow(adv4[i, 0], cmap="gray_r", vmin=0, vmax=1)
    axes[2, i].set_title(f"{int(prob_adv[i].argmax())} ({prob_adv[i].max():.0%})", fontsize=8)
for ax, name in zip(axes[:, 0], ["clean", "perturbation", "attacked"]):
    ax.set_ylabel(name, fontsize=8)
for ax in axes.flat:
    ax.set_xticks([]); ax.set_yticks([])
plt.tight_layout(); plt.show()

# %% [markdown]
# ### Do attacks transfer?
#
# Adversarial images made against one network (white box: the attacker has its gradients) are shown
# to another network trained on the same data from a different seed (black box: the attacker never saw
# it).

# %%
transfer = {}
for a, b in zip(SEEDS, SEEDS[1:] + SEEDS[:1]):
    x_adv = pgd(models[a], X_test, y_test, EPS, step_size=STEP)
    transfer[a, b] = (accuracy(models[a](x_adv), y_test), accuracy(models[b](x_adv), y_test))
    print(f"PGD images made on seed {a}: accuracy of seed {a} (white box) {transfer[a, b][0]:.1%}, "
          f"of seed {b} (transfer) {transfer[a, b][1]:.1%}; clean {clean[b]:.1%}")

# %% [markdown]
# The attack transfers: the other network loses most of its accuracy on images it never saw attacked,
# usually a little less than the network they were made for. Networks trained on the same data
# learn similar directions of sensitivity, which is what makes black-box attacks on deployed models
# possible.
#
# ### Adversarial training
#
# The lectures' defence: train on attacked images. Each minibatch is doubled by its FGSM copy at `EPS`,
# made against the current weights; the same 20 epochs. The robust accuracy (under PGD at `EPS`) and the
# clean accuracy are compared with the normally trained networks.

# %%
robust_models, robust = {}, {}
for seed in SEEDS:
    torch.manual_seed(seed)
    robust_models[seed] = train_classifier(digits_cnn(), X_train, y_train, epochs=EPOCHS, seed=seed,
                                           attack=fgsm, epsilon=EPS)
    for name, m in (("standard", models[seed]), ("adversarial", robust_models[seed])):
        robust[name, seed] = (accuracy(m(X_test), y_test),
                              accuracy(m(pgd(m, X_test, y_test, EPS, step_size=STEP)), y_test))
print(f"{'training':12s} {'seed':>4s} {'clean':>7s} {'PGD at EPS':>11s}")
for (name, seed), (c, r) in sorted(robust.items()):
    print(f"{name:12s} {seed:4d} {c:7.1%} {r:11.1%}")
cost = [robust["standard", s][0] - robust["adversarial", s][0] for s in SEEDS]
print(f"cost in clean accuracy, averaged over the seeds: {np.mean(cost):+.1%}")

# %% [markdown]
# Training on FGSM copies lifts the accuracy under the (stronger) PGD attack from 12-20% to about 60%,
# and on these digits the clean accuracy does not measurably drop (the cost printed above, averaged
# over seeds, is within a point of zero): the attacked copies also act as data augmentation. That the
# cost is small is a property of this easy data: on CIFAR-10, Madry et al. report 87% clean accuracy
# for their robust network against 95% for a standard one. Robustness is also bounded by the attack
# trained against: a larger epsilon, or an attack the training never saw, breaks it again.
#
# ### Explore: the epsilon slider
#
# The explorer below attacks one test digit with FGSM or PGD at the epsilon you pick and shows the
# clean image, the perturbation, the attacked image and the network's probabilities (the figure above is
# its static counterpart). It uses our first digits CNN.

# %% tags=["nbval-ignore-output", "remove-output"]
from dlcourse.widgets.adversarial import EpsilonExplorer

explorer = EpsilonExplorer(model=cnn, images=X_test, labels=y_test, epsilon=EPS)
explorer

# %% [markdown]
# Without a running kernel, e.g. in the web version, the slider below swaps precomputed figures: ten
# budgets for each attack, on the same test digit.

# %%
dlcourse.widgets.precomputed(explorer, {"epsilon": [0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5],
                                        "method": ["fgsm", "pgd"]})

# %% [markdown]
# ## Claims checked
#
# Every claim holds on every seed of `SEEDS` (`SHAPE_SEEDS` for the shapes); thresholds sit below the
# smallest margin measured above.

# %%
# NBVAL_CHECK_OUTPUT
assert max(saliency_error, grad_error, fgsm_error, occlusion_error) < 1e-12
print("linear model: saliency = weight row; autograd, FGSM and 1x1 occlusion equal the NumPy formulas (< 1e-12)")
assert all(inside[n, s] > 1.1 * inside["random", s] for n in METHODS[:4] for s in SHAPE_SEEDS)
assert all(max(inside[n, s] for n in METHODS[:4]) > 2 * inside["random", s] for s in SHAPE_SEEDS)
print("shapes: every heat map puts more of its mass inside the object than a random map; the best one > 2x")
assert all(min(a) > 0.75 for a in shape_acc.values()) and all(a > 0.95 for a in clean.values())
print("the shapes CNN exceeds 75% (validation and test), the digits CNN 95% (test) on every seed")
assert all(curves["FGSM", s][1] > clean[s] - 0.05 for s in SEEDS)
print("epsilon = 0.007 (the panda's) costs the 8x8 digits CNN less than 5 points of accuracy")
assert all(curves["FGSM", s][e_at] < 0.45 for s in SEEDS)
print(f"FGSM at epsilon {EPS} drops test accuracy below 45% on every seed (clean > 95%)")
assert all(curves["PGD", s][e_at] < curves["FGSM", s][e_at] - 0.02 for s in SEEDS)
print(f"PGD is stronger than FGSM at epsilon {EPS}: lower accuracy by more than 2 points on every seed")
assert all(t < clean[b] - 0.3 for (a, b), (w, t) in transfer.items())
assert np.mean([w for w, t in transfer.values()]) < np.mean([t for w, t in transfer.values()])
print("attacks transfer: the other network loses > 30 points; on average less than the attacked one")
assert all(robust["adversarial", s][1] > robust["standard", s][1] + 0.3 for s in SEEDS)
print(f"adversarial training raises PGD accuracy at epsilon {EPS} by more than 30 points on every seed")
assert abs(np.mean(cost)) < 0.05
print("its cost in clean accuracy is below 5 points on average over the seeds (measured above)")

# %% [markdown]
# ## Summary
#
# - A heat map asks which input pixels a decision depends on. Gradient saliency is one backward pass
#   ($\partial \hat y_c/\partial x$; for a linear model, the weight row); SmoothGrad averages it over
#   noisy copies; occlusion hides patches and needs no gradient; Grad-CAM weights a late layer's
#   feature maps by their mean gradient, caught with a forward hook. Other methods spread the score
#   back layer by layer (layer-wise relevance propagation, Deep Taylor decomposition).
# - Where the object is known, heat maps can be scored: on our shapes every method puts more mass inside
#   the object than a random map does, by a different margin.
# - An adversarial example is an optimisation over the input: FGSM takes one signed-gradient step, PGD
#   several projected ones and is stronger. A budget of 0.007 fools an ImageNet network but not our
#   64-pixel digits: the effect of the sign step grows with the number of pixels.
# - Attacks transfer in part between networks trained on the same data; adversarial training buys
#   robustness against the attack it trains with; its cost in clean accuracy, measured above, is
#   negligible on the digits and larger on harder data.
#
# **Exercises:** [exercises/13_saliency_adversarial](../exercises/13_saliency_adversarial.ipynb): FGSM and
# PGD steps, an occlusion map, and an outcome task.
