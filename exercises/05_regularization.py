# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 05 · Regularization
#
# Four tasks from chapter 05: inverted dropout, and batch normalization's forward pass, backward pass and
# running statistics. Each **check** cell compares your function with PyTorch on random inputs (float64)
# and tells you the first entry that is wrong, with a hint. Replace every `raise NotImplementedError` with
# NumPy code.

# %%
import numpy as np

from dlcourse.checks import regularization as check

# %% [markdown]
# ## Task 1 · Inverted dropout, forward and backward
#
# In training mode every entry of $x$ is kept with probability $1-p$ and the survivors are scaled by
# $\frac{1}{1-p}$, so that $\mathbb{E}[y] = x$. To make the result checkable, the random numbers are given:
# `u` holds one uniform number in $[0, 1)$ per entry, and an entry is **kept where `u >= p`**. Return the
# output $y$ and the gradient $\partial\mathcal{L}/\partial x$ for the upstream gradient `grad_out`.

# %%
def dropout_forward_backward(x, grad_out, p, u):
    """x, grad_out, u: arrays of one shape; p in [0, 1). Returns (y, grad_x), both of x's shape."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.dropout_forward_backward(dropout_forward_backward)

# %% [markdown]
# ## Task 2 · Batch normalization, forward (training mode)
#
# For a batch $x$ of shape $(N, C)$, normalise every channel (column) with the batch mean $\mu$ and the
# **biased** batch variance $\sigma^2$ (divide by $N$), then scale and shift:
# $y = \gamma\,\frac{x-\mu}{\sqrt{\sigma^2+\epsilon}} + \beta$, with $\gamma, \beta$ of shape $(C,)$.

# %%
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """x: (N, C); gamma, beta: (C,). Returns y: (N, C)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.batchnorm_forward(batchnorm_forward)

# %% [markdown]
# ## Task 3 · Batch normalization, backward
#
# Given $G = \partial\mathcal{L}/\partial y$ of shape $(N, C)$, return $\partial\mathcal{L}/\partial x$,
# $\partial\mathcal{L}/\partial\gamma$ and $\partial\mathcal{L}/\partial\beta$. Careful: $\mu$ and $\sigma^2$
# depend on every example of the batch, so each $x_n$ influences every output of its channel. The
# chapter derives the compact result; you may also chain the rule step by step through $\hat x$,
# $\sigma^2$ and $\mu$.

# %%
def batchnorm_backward(x, gamma, grad_out, eps=1e-5):
    """x, grad_out: (N, C); gamma: (C,). Returns (grad_x (N, C), grad_gamma (C,), grad_beta (C,))."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.batchnorm_backward(batchnorm_backward)

# %% [markdown]
# ## Task 4 · Running statistics
#
# At test time batch norm uses running averages collected during training. Implement one training step's
# update with **PyTorch's convention** (`momentum` weights the *new* batch statistic) and the **unbiased**
# batch variance (divide by $N-1$) for the running variance. Return new arrays.

# %%
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    """running_mean, running_var: (C,); x: (N, C) with N >= 2. Returns (new_mean, new_var)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.update_running_stats(update_running_stats)

# %% [markdown]
# ## Use it
#
# Check your batch-norm backward pass with central differences (chapter 03's `numerical_gradient`), and
# watch the running mean converge to the data's mean over 100 batches. Expected: a relative error
# around $10^{-9}$, and a running mean close to $(5, -2)$.

# %%
from dlcourse.gradcheck import numerical_gradient, relative_error  # noqa: E402

rng = np.random.default_rng(0)
x = rng.normal(loc=3.0, scale=2.0, size=(6, 3))
gamma, beta, G = rng.normal(size=3), rng.normal(size=3), rng.normal(size=(6, 3))
grad_x = batchnorm_backward(x, gamma, G)[0]
numeric = numerical_gradient(lambda: float(np.sum(batchnorm_forward(x, gamma, beta) * G)), x)
print(f"relative error of grad_x: {relative_error(grad_x, numeric):.1e}")

running_mean, running_var = np.zeros(2), np.ones(2)
for _ in range(100):
    batch = rng.normal(loc=[5.0, -2.0], scale=[1.0, 3.0], size=(32, 2))
    running_mean, running_var = update_running_stats(running_mean, running_var, batch)
print("running mean after 100 batches:", running_mean.round(2), " running variance:", running_var.round(2))

# %% [markdown]
# **Think.** (1) Why must dropout's backward pass use the *same* mask as its forward pass? (2) With
# `momentum=0.1`, roughly how many batches does the running mean need to forget its initial value of 0?
# (3) Why does batch norm refuse to train on a batch with a single value per channel? (4) A network with
# batch norm predicts differently for the same image depending on the rest of its batch, in training mode
# but not in eval mode. Why, and which mode must you use for testing?
