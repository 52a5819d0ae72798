# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 03 · Backpropagation
#
# Three tasks from chapter 03. Each **check** cell compares your function with PyTorch's autograd on
# random inputs (float64) and tells you the first entry that is wrong, with a hint. Replace every
# `raise NotImplementedError` with NumPy code.

# %%
import numpy as np

from dlcourse.checks import backprop as check

# %% [markdown]
# ## Task 1 · The backward pass of a linear layer
#
# Forward: $Y = XW^\top + b$ with $X$ of shape $(N, D_\text{in})$, $W$ of shape $(D_\text{out}, D_\text{in})$.
# Given $G = \partial\mathcal{L}/\partial Y$ of shape $(N, D_\text{out})$, return
# $\partial\mathcal{L}/\partial X$, $\partial\mathcal{L}/\partial W$ and $\partial\mathcal{L}/\partial b$.
# Tip: every gradient has the shape of its variable.

# %%
def linear_backward(x, W, grad_out):
    """x: (N, D_in), W: (D_out, D_in), grad_out: (N, D_out). Returns (grad_x, grad_W, grad_b)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.linear_backward(linear_backward)

# %% [markdown]
# ## Task 2 · A gradient checker
#
# Central differences: for every entry $x_i$,
# $\frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h}$. Here `f` takes the array
# as its argument and returns a float. Perturb one entry at a time, **in place**, and restore it
# afterwards (the check verifies that `x` is unchanged when you return).

# %%
def numerical_gradient(f, x, h=1e-5):
    """f: array -> float; x: float array of any shape. Returns an array of x's shape."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.numerical_gradient(numerical_gradient)

# %% [markdown]
# ## Task 3 · Backprop through a two-layer network, by hand
#
# The network: $A = XW_1^\top + b_1$, $H = \operatorname{relu}(A)$, $Z = HW_2^\top + b_2$, and the loss is
# the mean softmax cross-entropy of the logits $Z$ $(N, C)$ with integer labels $y$. Return the gradients of
# the loss with respect to $W_1, b_1, W_2, b_2$, in that order. Recall from the chapter:
# $\partial\mathcal{L}/\partial Z = (P - \operatorname{onehot}(y))/N$ with $P = \operatorname{softmax}(Z)$.
# Compute the softmax stably (subtract the row maximum).

# %%
def two_layer_backward(X, y, W1, b1, W2, b2):
    """X: (N, D), y: (N,) ints, W1: (H, D), b1: (H,), W2: (C, H), b2: (C,). Returns (dW1, db1, dW2, db2)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.two_layer_backward(two_layer_backward)

# %% [markdown]
# ## Use it
#
# Check your `two_layer_backward` with your own gradient checker, on a tiny random network. The relative
# error should be around $10^{-9}$ or smaller.

# %%
rng = np.random.default_rng(0)
X, y = rng.normal(size=(5, 4)), rng.integers(0, 3, size=5)
W1, b1, W2, b2 = rng.normal(size=(6, 4)), rng.normal(size=6), rng.normal(size=(3, 6)), rng.normal(size=3)


def loss_of(W1_):
    Z = np.maximum(X @ W1_.T + b1, 0) @ W2.T + b2
    Z = Z - Z.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(len(y)), y]))


dW1 = two_layer_backward(X, y, W1, b1, W2, b2)[0]
numeric = numerical_gradient(loss_of, W1.copy())
print(f"relative error of dW1: {np.linalg.norm(dW1 - numeric) / (np.linalg.norm(dW1) + np.linalg.norm(numeric)):.1e}")

# %% [markdown]
# **Think.** (1) Why is the gradient with respect to $b$ a *sum* over the batch? (2) Why central and not
# forward differences ($\frac{f(x+h)-f(x)}{h}$)? Try both with $h = 10^{-5}$ and compare the errors.
# (3) What happens to your check when an entry of $A$ is within $h$ of 0?
