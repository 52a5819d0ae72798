# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 02 · Multilayer perceptrons
#
# Five functions from chapter 02, written by you. After each one, run its **check** cell: it compares
# your function with PyTorch (`torch.nn`, `torch.nn.functional` and autograd, in float64) on random
# inputs and tells you the first thing that differs (shape, dtype, which element, expected vs got) with a
# hint.
#
# Replace every `raise NotImplementedError` with your code. Use NumPy only.

# %%
import numpy as np

from dlcourse.checks import mlp as check
from dlcourse.numpy_nn import relu, sigmoid, tanh

# %% [markdown]
# ## Task 1 · Count the parameters
#
# A fully-connected network with widths `sizes = [n_0, n_1, ..., n_L]` has $L$ layers; layer $l$ has a
# weight matrix $W_l \in \mathbb{R}^{n_l \times n_{l-1}}$ and a bias $b_l \in \mathbb{R}^{n_l}$. Return the
# total number of parameters as an `int`. The lecture's network `[6, 4, 3, 1]` has 47.

# %%
def count_parameters(sizes):
    """sizes: list of L + 1 positive ints. Returns the number of weights and biases (int)."""
    ### BEGIN SOLUTION
    return sum(n_out * n_in + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    ### END SOLUTION


# %% tags=["check"]
check.count_parameters(count_parameters)

# %% [markdown]
# ## Task 2 · Forward propagation
#
# `params` is a list of pairs `(W, b)`, with `W` of shape $(n_l, n_{l-1})$ (one row per unit, like
# `nn.Linear.weight`) and `b` of shape $(n_l,)$. The inputs are the **rows** of `X`, shape $(N, n_0)$.
# Compute $z_0 = X$, $a_l = z_{l-1} W_l^\top + b_l$, $z_l = \sigma(a_l)$ for the hidden layers, and return
# the last pre-activation $a_L$, shape $(N, n_L)$: the output layer is linear.

# %%
def mlp_forward(X, params, activation):
    """X: (N, n_0); params: [(W_1, b_1), ..., (W_L, b_L)]; activation: elementwise function. Returns (N, n_L)."""
    ### BEGIN SOLUTION
    z = X
    for l, (W, b) in enumerate(params, start=1):
        a = z @ W.T + b
        z = activation(a) if l < len(params) else a
    return z
    ### END SOLUTION


# %% tags=["check"]
check.mlp_forward(mlp_forward)

# %% [markdown]
# ## Task 3 · The derivative of SiLU (swish)
#
# $\mathrm{SiLU}(x) = x\,\mathrm{sigmoid}(x)$. Return its derivative at every element of `x`, an array of
# the same shape. (`sigmoid` is imported from `dlcourse.numpy_nn` above: it is stable for any $x$.)

# %%
def silu_grad(x):
    """x: any array. Returns d SiLU / dx evaluated at x, same shape."""
    ### BEGIN SOLUTION
    s = sigmoid(x)
    return s * (1 + x * (1 - s))
    ### END SOLUTION


# %% tags=["check"]
check.silu_grad(silu_grad)

# %% [markdown]
# ## Task 4 · A stable log-softmax
#
# $\log\mathrm{softmax}(z)_k = z_k - \log\sum_j e^{z_j}$, along the **last** axis of `z` (logits of shape
# $(N, C)$, or $(B, N, C)$). It must work for logits of $\pm 10^4$, where `np.exp` overflows: use
# $\log\sum_j e^{z_j} = m + \log\sum_j e^{z_j - m}$ with $m = \max_j z_j$.

# %%
def log_softmax(z):
    """z: (..., C) logits. Returns log softmax(z) along the last axis, same shape."""
    ### BEGIN SOLUTION
    m = np.max(z, axis=-1, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))
    ### END SOLUTION


# %% tags=["check"]
check.log_softmax(log_softmax)

# %% [markdown]
# ## Task 5 · Softmax cross-entropy and its gradient
#
# For logits $z \in \mathbb{R}^{N\times C}$ and integer labels $y \in \{0..C-1\}^N$ return the pair
#
# $$ L = \frac1N \sum_i -\log\mathrm{softmax}(z_i)_{y_i}, \qquad
#    \frac{\partial L}{\partial z} = \frac1N\big(\mathrm{softmax}(z) - \mathrm{onehot}(y)\big), $$
#
# the loss as a float and the gradient as an $(N, C)$ array, exactly what `nn.CrossEntropyLoss` and
# autograd compute. It must be stable for huge logits too.

# %%
def softmax_cross_entropy(z, y):
    """z: (N, C) logits, y: (N,) ints. Returns (loss: float, grad: (N, C))."""
    ### BEGIN SOLUTION
    N = len(y)
    log_p = log_softmax(z)                                  # (N, C)
    loss = -np.mean(log_p[np.arange(N), y])
    grad = np.exp(log_p)                                    # softmax, (N, C)
    grad[np.arange(N), y] -= 1
    return float(loss), grad / N
    ### END SOLUTION


# %% tags=["check"]
check.softmax_cross_entropy(softmax_cross_entropy)

# %% [markdown]
# ## Use it
#
# With your functions: softmax regression on the digits (a one-layer "MLP"), trained by gradient descent
# with **your** gradient. For $z = XW^\top + b$ the chain rule gives $\partial L/\partial W =
# (\partial L/\partial z)^\top X$ and $\partial L/\partial b = \sum_i (\partial L/\partial z)_i$. Then a
# random two-hidden-layer MLP on the same data: its loss at initialisation should be close to
# $\ln 10 \approx 2.30$ (why?).

# %%
from dlcourse import data

digits = data.load_digits(seed=0)
X_train, X_test = digits.X_train.astype(float), digits.X_test.astype(float)    # (1347, 64), (450, 64)
rng = np.random.default_rng(0)
W, b = np.zeros((10, 64)), np.zeros(10)
for step in range(300):
    loss, dz = softmax_cross_entropy(mlp_forward(X_train, [(W, b)], relu), digits.y_train)
    W, b = W - 0.5 * dz.T @ X_train, b - 0.5 * dz.sum(axis=0)
test_acc = np.mean(mlp_forward(X_test, [(W, b)], relu).argmax(axis=1) == digits.y_test)
print(f"softmax regression: training loss {loss:.3f}, test accuracy {test_acc:.3f}")

sizes = [64, 32, 32, 10]
print("parameters of", sizes, ":", count_parameters(sizes))
params = [(rng.uniform(-1, 1, size=(n_out, n_in)) / np.sqrt(n_in), np.zeros(n_out))
          for n_in, n_out in zip(sizes[:-1], sizes[1:])]
init_loss, _ = softmax_cross_entropy(mlp_forward(X_train, params, tanh), digits.y_train)
print(f"random tanh MLP: loss at initialisation {init_loss:.3f} (ln 10 = {np.log(10):.3f})")

# %% [markdown]
# **Think.** (1) Why is the loss of a random network close to $\ln C$ for $C$ classes? (2) Your
# `silu_grad` uses `sigmoid` from `dlcourse.numpy_nn`; what would go wrong with `1 / (1 + np.exp(-x))`
# at $x = -1000$, and would the derivative still be right? (3) Count the parameters of a network with
# one hidden layer of 4096 units on $224\times224\times3$ images and 1000 classes: how much memory do the
# weights alone take in float32?
