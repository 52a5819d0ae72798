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
# The chapter printed the backward pass of a linear layer, of each activation and of each loss, and a
# gradient checker that perturbs one entry at a time. Here you derive what it did not print: the
# backward pass of a block the chapter never wrote as one piece, a cheaper gradient check along random
# directions with a verdict, and a two-layer network whose loss includes L2 weight decay. Then an
# outcome task: train that network with your own gradients to a stated validation accuracy; and three
# questions to answer in words.
#
# Each **check** cell compares your function with PyTorch's autograd (float64) or with a reference on
# random inputs and names the first thing that is wrong. `check.hint("name")` gives a nudge (call it again
# for a stronger one), and `check.failing_case("name")` returns the inputs of the case that failed, to run
# your function on. Replace every `raise NotImplementedError` with NumPy code (no PyTorch).

# %%
import numpy as np

from dlcourse import data
from dlcourse.checks import backprop as check
from dlcourse.train import accuracy

# %% [markdown]
# ## Task 1 · The backward pass of a bias-free linear + tanh block
#
# The block computes $Y = \tanh(XW^\top)$ with $X$ of shape $(N, D_\text{in})$ and $W$ of shape
# $(D_\text{out}, D_\text{in})$, no bias. Given $G = \partial\mathcal{L}/\partial Y$ of shape
# $(N, D_\text{out})$, return $\partial\mathcal{L}/\partial X$ and $\partial\mathcal{L}/\partial W$.
# Derive it as one node: first the gradient with respect to the pre-activation $A = XW^\top$, then the
# two products. Every gradient has the shape of its variable.

# %%
def linear_tanh_backward(x, W, grad_out):
    """x: (N, D_in), W: (D_out, D_in), grad_out: (N, D_out) for Y = tanh(x W^T). Returns (grad_x, grad_W)."""
    ### BEGIN SOLUTION
    Y = np.tanh(x @ W.T)                    # (N, D_out), recomputed: the block keeps no cache here
    grad_A = grad_out * (1 - Y ** 2)        # tanh'(A) = 1 - tanh(A)^2, elementwise
    return grad_A @ W, grad_A.T @ x         # (N, D_in), (D_out, D_in)
    ### END SOLUTION


# %% tags=["check"]
check.linear_tanh_backward(linear_tanh_backward)

# %% [markdown]
# ## Task 2 · A gradient check along a random direction, with a verdict
#
# The chapter's checker perturbs every entry of a parameter, two evaluations of $f$ per entry: fine for
# a small net, far too slow for a large one. A cheaper check uses a random direction $V$ of the same
# shape as $X$. The directional derivative is both
#
# $$ \frac{f(X + hV) - f(X - hV)}{2h} \quad\text{(numerical)} \qquad\text{and}\qquad
#    \sum_{ij} G_{ij} V_{ij} \quad\text{(from the gradient } G \text{ you want to check)}. $$
#
# Return their **relative error** $\frac{|n - a|}{|n| + |a|}$ (0 when both are 0) and the verdict
# `passed = relative error < tol`. `f` takes the matrix as its argument and returns a float. Do not
# change `X` (the check verifies it).

# %%
def gradient_check(f, grad, X, V, h=1e-6, tol=1e-6):
    """f: matrix -> float; grad: the claimed gradient of f at X (X's shape); V: a direction (X's shape).
    Returns (relative_error: float, passed: bool)."""
    ### BEGIN SOLUTION
    numeric = (f(X + h * V) - f(X - h * V)) / (2 * h)
    analytic = float(np.sum(grad * V))
    denom = abs(numeric) + abs(analytic)
    error = abs(numeric - analytic) / denom if denom > 0 else 0.0
    return float(error), bool(error < tol)
    ### END SOLUTION


# %% tags=["check"]
check.gradient_check(gradient_check)

# %% [markdown]
# ## Task 3 · A two-layer network with L2 weight decay, by hand
#
# The network: $A = XW_1^\top + b_1$, $H = \operatorname{relu}(A)$, $Z = HW_2^\top + b_2$. Its loss is the
# mean softmax cross-entropy of the logits $Z$ $(N, C)$ with the integer labels $y$, **plus** the L2 penalty
# on the weights (not the biases):
#
# $$ \mathcal{L} = \frac1N\sum_n -\log \operatorname{softmax}(Z_n)_{y_n}
#    \;+\; \frac{\lambda}{2}\left(\lVert W_1\rVert^2 + \lVert W_2\rVert^2\right). $$
#
# Return the loss (a float) and its gradients with respect to $W_1, b_1, W_2, b_2$, in that order. The
# check includes logits in the thousands: compute the softmax and the log-probabilities stably.

# %%
def two_layer_l2(X, y, W1, b1, W2, b2, lam):
    """X: (N, D), y: (N,) ints, W1: (H, D), b1: (H,), W2: (C, H), b2: (C,), lam >= 0.
    Returns (loss, dW1, db1, dW2, db2)."""
    ### BEGIN SOLUTION
    N = len(X)
    A = X @ W1.T + b1                                   # (N, H)
    H = np.maximum(A, 0)                                # (N, H)
    Z = H @ W2.T + b2                                   # (N, C)
    shifted = Z - Z.max(axis=1, keepdims=True)
    log_P = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))   # (N, C), stable
    loss = -log_P[np.arange(N), y].mean() + lam / 2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    dZ = np.exp(log_P)
    dZ[np.arange(N), y] -= 1
    dZ /= N                                             # (N, C)
    dW2, db2 = dZ.T @ H + lam * W2, dZ.sum(axis=0)
    dA = (dZ @ W2) * (A > 0)                            # (N, H)
    dW1, db1 = dA.T @ X + lam * W1, dA.sum(axis=0)
    return float(loss), dW1, db1, dW2, db2
    ### END SOLUTION


# %% tags=["check"]
check.two_layer_l2(two_layer_l2)

# %% [markdown]
# ## Use it
#
# Check your `two_layer_l2` with your own `gradient_check`, as a function of the matrix $W_1$, along five
# random directions. Then plant a bug (the gradient without its weight-decay term) and watch the
# verdict change.

# %%
rng = np.random.default_rng(0)
X, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
W1, b1, W2, b2 = rng.normal(size=(6, 5)), rng.normal(size=6), rng.normal(size=(3, 6)), rng.normal(size=3)
lam = 0.1


def loss_of(W1_):
    return two_layer_l2(X, y, W1_, b1, W2, b2, lam)[0]


dW1 = two_layer_l2(X, y, W1, b1, W2, b2, lam)[1]
for name, g in [("your dW1", dW1), ("dW1 without lam * W1", dW1 - lam * W1)]:
    verdicts = [gradient_check(loss_of, g, W1, rng.normal(size=W1.shape)) for _ in range(5)]
    print(f"{name:<21}: largest relative error {max(e for e, _ in verdicts):.1e}, "
          f"passed {sum(p for _, p in verdicts)} of 5")

# %% [markdown]
# ## Task 4 · Outcome: train it on the digits
#
# Train the network of Task 3 on the digits (64 pixels in [0, 1], 10 classes) with minibatch SGD and
# **your own** `two_layer_l2` for the gradients: no autograd. `train_two_layer(X, y, seed)` receives the
# 1 077 training images `X` (1077, 64) and their labels, and returns the trained `(W1, b1, W2, b2)`; the
# check evaluates the network on the 270 validation images, which your code never sees. Choose the
# width, initialization, learning rate, $\lambda$, batch size and number of epochs yourself, within
# **at most 50 epochs**. **Target: 95% validation accuracy.**

# %%
def train_two_layer(X, y, seed=0):
    """Minibatch SGD with your two_layer_l2 on X (N, 64), y (N,). Returns (W1, b1, W2, b2)."""
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    hidden, lr, lam, batch, epochs = 128, 0.2, 1e-4, 32, 30
    W1 = rng.normal(0, np.sqrt(2 / X.shape[1]), size=(hidden, X.shape[1]))      # He initialization
    W2 = rng.normal(0, np.sqrt(2 / hidden), size=(10, hidden))
    b1, b2 = np.zeros(hidden), np.zeros(10)
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch):
            idx = order[start:start + batch]
            _, dW1, db1, dW2, db2 = two_layer_l2(X[idx], y[idx], W1, b1, W2, b2, lam)
            W1, b1, W2, b2 = W1 - lr * dW1, b1 - lr * db1, W2 - lr * dW2, b2 - lr * db2
    return W1, b1, W2, b2
    ### END SOLUTION


# %% tags=["check"]
check.two_layer_outcome(train_two_layer)

# %% [markdown]
# ## Think
#
# Answer each question in two or three sentences in the cell below it, then open the discussion.
#
# **(1)** Why is the gradient with respect to a bias a *sum* over the batch, and where does the
# $\frac1N$ of the mean come in?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# The bias is used once per example: every row of $Z = HW_2^\top + b_2$ adds the same $b_2$. A variable
# used several times receives the sum of the gradients of its uses, so $\partial\mathcal{L}/\partial b_2 =
# \sum_n \partial\mathcal{L}/\partial Z_n$. The $\frac1N$ is already inside $\partial\mathcal{L}/\partial
# Z = (P - \operatorname{onehot}(y))/N$, because the loss is the mean: the sum of these rows is the mean gradient per example.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The same rule gives $\partial\mathcal{L}/\partial W = G^\top X$: a sum over the batch of one outer product
# per example. Dividing by $N$ a second time (once in $\partial\mathcal{L}/\partial Z$ and once in the
# sum) is a common bug: the gradient is then $N$ times too small and training looks like a tiny
# learning rate. The checks include batches of size 1, where both forget-the-mean and twice-the-mean
# bugs hide, next to larger ones, where they do not.
# </details>

# %% [markdown]
# **(2)** Why central differences rather than forward differences $\frac{f(x+h) - f(x)}{h}$? Try both
# with $h = 10^{-5}$ on your `loss_of` and compare. Why not make $h$ as small as possible?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# By Taylor's formula the forward difference is off by $\frac h2 f''$, an error of order $h$, while in the
# central difference the $f''$ terms cancel and the error is of order $h^2$: with $h = 10^{-5}$ about
# $10^{-5}$ against $10^{-10}$ relative to the derivative. A smaller $h$ does not help past a point: $f$ is
# computed with rounding errors of about $10^{-16}|f|$, which the division by $h$ magnifies to
# $10^{-16}|f|/h$; $h \approx 10^{-5}$ to $10^{-6}$ balances the two in float64.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The same balance in float32 (rounding about $10^{-7}$) puts the best $h$ near $10^{-2}$ to $10^{-3}$ and
# the best relative error near $10^{-5}$: gradient checks are done in float64. A relative error around
# $10^{-9}$ means the gradient is right; $10^{-4}$ or more means a bug, or a kink (next question).
# </details>

# %% [markdown]
# **(3)** Your check compares one number, the derivative along $V$. Can a wrong gradient pass it? And
# what happens to any numerical check of this network when a pre-activation $A_{nj}$ lies within $h$
# of 0?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# Yes: the check only sees the component of the error along $V$. An error orthogonal to $V$ passes, and a
# wrong entry among thousands of right ones changes $\sum G_{ij}V_{ij}$ only a little, so its relative
# error may stay small. With random Gaussian directions an exactly orthogonal error has probability 0,
# and a few directions catch most bugs, but the entrywise check is the thorough one. Near a ReLU kink
# $f$ is not differentiable: $f(X + hV)$ and $f(X - hV)$ fall on different linear pieces, so the central
# difference averages two slopes and disagrees with the backprop gradient, which uses one of them.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# A practical recipe: check small networks entry by entry, large ones along a handful of random
# directions, and when a check fails, look at whether any pre-activation is within $h$ of a kink before
# looking for a bug (or use smooth activations, such as tanh or softplus, while checking).
# </details>
