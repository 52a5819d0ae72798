# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 13 · Saliency and adversarial examples
#
# Four tasks from chapter 13 and two questions. Task 1 writes the fast gradient sign method (FGSM), Task 2
# its iterated, projected version (PGD), Task 3 an occlusion-sensitivity map in NumPy for any classifier.
# Task 4 is an outcome task: train a digits CNN that keeps its accuracy under your PGD attack.
#
# Each **check** cell compares your function with a reference on random inputs (small PyTorch networks in
# float64 for the attacks, a fixed softmax classifier for the occlusion map) and names the first thing that
# is wrong. `check.hint("name")` gives a nudge (call it again for a stronger one), and
# `check.failing_case("name")` returns the inputs of the case that failed, to run your function on.
# Replace every `raise NotImplementedError` with your code.
#
# Shapes: a batch of $B$ images $x$ of shape $(B, 1, 8, 8)$ with pixels in $[0, 1]$, labels $y$ of shape
# $(B,)$; a model maps images to $(B, 10)$ class scores.

# %%
import numpy as np
import torch
from torch import nn

import dlcourse
from dlcourse.checks import adversarial as check

dlcourse.set_threads(1)      # small networks train faster on one thread than on several competing ones


# %% [markdown]
# ## Task 1 · The fast gradient sign method
#
# $$ x_\text{adv} = \operatorname{clip}_{[0, 1]}\!\left(x + \epsilon \, \operatorname{sign}\big(\nabla_x \, \mathcal{L}(f(x), y)\big)\right) $$
#
# One step that moves every pixel by $\pm\epsilon$ in the direction that increases the cross-entropy loss
# $\mathcal{L}$ (mean over the batch) of the **true** labels $y$, then clips back to valid images.
# `fgsm(model, x, y, epsilon)` returns $x_\text{adv}$ (a tensor of the shape of $x$, detached). The model
# may arrive in training mode: attack the network as it predicts, in `eval()` mode (dropout off).

# %%
def fgsm(model, x, y, epsilon):
    """x: (B, 1, 8, 8) in [0, 1], y: (B,) int64. Returns x_adv (B, 1, 8, 8) in [0, 1], at most epsilon from x."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.fgsm(fgsm)

# %% [markdown]
# ## Use it: a small step in many dimensions
#
# For a linear score $w^\top x$, the FGSM step changes the score by $\epsilon \, w^\top \operatorname{sign}(w)
# = \epsilon \lVert w \rVert_1$, which grows with the number of pixels $D$ although no pixel moves by more
# than $\epsilon$. Compare it with the typical size of the score itself, for random weights:

# %%
rng = np.random.default_rng(0)
for D in (64, 1024, 150_528):                              # 8x8 digits, 32x32 images, 224x224x3 photos
    w, x = rng.normal(size=D) / np.sqrt(D), rng.uniform(0, 1, size=D)
    print(f"D={D:7d}: score std {np.std(rng.uniform(0, 1, (200, D)) @ w):5.2f}, "
          f"FGSM change at epsilon 0.01: {0.01 * np.abs(w).sum():6.2f}")

# %% [markdown]
# ## Task 2 · Projected gradient descent (PGD)
#
# PGD repeats `steps` small FGSM steps of size $\alpha$, each computed at the **current** adversarial image,
# and after every step projects back onto the allowed set: the $L_\infty$ ball of radius $\epsilon$ around
# the **original** image $x$, intersected with $[0, 1]$:
#
# $$ x^{(0)} = x, \qquad x^{(t+1)} = \operatorname{clip}_{[\max(x - \epsilon, 0),\, \min(x + \epsilon, 1)]}
#    \left(x^{(t)} + \alpha \, \operatorname{sign}\big(\nabla_x \, \mathcal{L}(f(x^{(t)}), y)\big)\right). $$
#
# This version starts at $x$ itself (Madry et al. start at a random point of the ball; without it the
# attack is deterministic, which makes it checkable). `pgd(model, x, y, epsilon, alpha, steps)` returns
# $x^{(\text{steps})}$. You may use your `fgsm`.

# %%
def pgd(model, x, y, epsilon, alpha, steps):
    """x: (B, 1, 8, 8) in [0, 1], y: (B,). Returns x_adv, within epsilon of x (L-inf) and inside [0, 1]."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.pgd(pgd)

# %% [markdown]
# ## Task 3 · Occlusion sensitivity, in NumPy
#
# Occlusion asks the model directly which regions it needs: cover a square patch of `patch` x `patch` pixels
# with the value `baseline` and measure how much the probability of the true class **drops**. The patch
# slides over the image with step `stride` in both directions; when the steps do not reach the bottom or
# right border, one more patch position flush with that border is added, so every pixel is covered. Each
# pixel of the map is the **average** drop over all patch positions that cover it.
#
# `predict_fn(images)` takes a batch $(N, C, H, W)$ and returns the probability of the true class for
# each image, shape $(N,)$; `image` has shape $(C, H, W)$ (occlude all channels). `occlusion_map` returns
# the map $(H, W)$.

# %%
def occlusion_map(predict_fn, image, patch, stride, baseline):
    """image: (C, H, W). Returns (H, W): the average drop of predict_fn over the patches covering each pixel."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.occlusion_map(occlusion_map)

# %% [markdown]
# ## Task 4 · Outcome: a digits CNN that resists PGD
#
# A CNN trained normally on the 8x8 digits is right on about 99% of the validation digits, but PGD with
# $\epsilon = 0.1$ (a tenth of the pixel range) brings that far down. `train_robust(X, y, seed)` receives the
# training digits `X` $(N, 1, 8, 8)$ float32 in $[0, 1]$ and labels `y` $(N,)$, and returns a trained
# `torch.nn.Module` mapping $(B, 1, 8, 8)$ images to $(B, 10)$ scores. The check attacks the validation
# digits with its own PGD ($\epsilon = 0.1$, $\alpha = 0.025$, 20 steps) and measures the accuracy on the
# attacked images. **Target: 75%.** Keep the training under about 15 seconds. Use your `pgd`.

# %%
def train_robust(X, y, seed=0):
    """Adversarially train a CNN on X (N, 1, 8, 8) in [0, 1], y (N,); return it (maps images to (B, 10) scores)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.robust_outcome(train_robust)

# %% [markdown]
# ## Think
#
# Answer each question in two or three sentences in the cell below it, then open the discussion.
#
# **(1)** Your "Use it" cell printed how much an FGSM step of $\epsilon = 0.01$ moves a linear score. Why
# do adversarial examples exist at all, and why are they easier to find for large images?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# This is the linearity explanation of Goodfellow et al. (2015), which also motivated FGSM. Adversarial
# examples also transfer between models because different models learn similar, roughly linear features;
# Ilyas et al. (2019) argue that the perturbations exploit *non-robust features*, real but imperceptible
# statistical patterns of the data. Adversarial training buys robustness at a cost in clean accuracy and
# training time (each step runs the attack), and it protects only against the threat model it trained on
# (here $L_\infty$, $\epsilon = 0.1$).
# </details>

# %% [markdown]
# **(2)** A saliency map highlights some pixels of an image. Why can such a map mislead you about what the
# network uses for its decision?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# Adversarial examples show the other side: a perturbation invisible to us changes the decision, so the
# "evidence" a map highlights need not be the evidence we would use. Measure maps where the truth is known
# (synthetic objects with known masks, as the chapter does), compare several methods, and check that a map
# changes when the model does. SmoothGrad averages gradients over noisy copies to reduce noise; Grad-CAM is
# coarse but class-specific; integrated gradients satisfy completeness (the attributions sum to the score
# difference from a baseline).
# </details>
