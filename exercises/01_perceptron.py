# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 01 · The perceptron
#
# Three functions from chapter 01, written by you. After each one, run its **check** cell: it
# compares your function with the course's reference on random inputs and tells you the first thing
# that differs (shape, dtype, which element, expected vs got) with a hint.
#
# Replace every `raise NotImplementedError` with your code. Use NumPy only.

# %%
import numpy as np

from dlcourse.checks import perceptron as check

# %% [markdown]
# ## Task 1 · The update rule
#
# Labels are $y \in \{-1, +1\}$ and the bias is folded into $w$. Rosenblatt's rule: if the point is
# misclassified, $y\, w^\top x \le 0$ (on the boundary counts as a mistake), return $w + \eta\, y\, x$;
# otherwise return $w$ unchanged. Do not modify `w` in place.

# %%
def perceptron_update(w, x, y, lr=1.0):
    """w: (D,), x: (D,), y: +1 or -1, lr > 0. Returns the new weights (D,)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.perceptron_update(perceptron_update)

# %% [markdown]
# ## Task 2 · The geometric margin
#
# The margin of a separator $w$ on data $(X, y)$ is the smallest signed distance of a point to the
# hyperplane $w^\top x = 0$:
#
# $$ \gamma(w) = \min_i \frac{y_i\, w^\top x_i}{\lVert w\rVert}. $$
#
# It is positive exactly when $w$ separates the data, and it sets Novikoff's bound $(R/\gamma)^2$.

# %%
def geometric_margin(w, X, y):
    """w: (D,), X: (N, D), y: (N,) in {-1, +1}. Returns a float."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.geometric_margin(geometric_margin)

# %% [markdown]
# ## Task 3 · Ten perceptrons, one epoch
#
# $W \in \mathbb{R}^{C \times D}$ holds one perceptron per class. Visit the points **in the given
# order**; for point $x_i$ the target of row $c$ is $t_c = +1$ if $y_i = c$ and $-1$ otherwise; every row
# with $t_c\, W_c^\top x_i \le 0$ is updated, $W_c \leftarrow W_c + \eta\, t_c\, x_i$, before the next point.
# Return the new $W$ (do not modify the argument).

# %%
def one_vs_rest_epoch(W, X, y, lr=1.0):
    """W: (C, D), X: (N, D), y: (N,) ints in 0..C-1. Returns the new W (C, D)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.one_vs_rest_epoch(one_vs_rest_epoch)

# %% [markdown]
# ## Use it
#
# With your three functions: train ten perceptrons on the digits for 10 epochs and print the test
# accuracy (the chapter reached about 0.94).

# %%
from dlcourse import data
from dlcourse.perceptron import add_bias

digits = data.load_digits(seed=0)
X_train, X_test = add_bias(digits.X_train.astype(float)), add_bias(digits.X_test.astype(float))
W = np.zeros((10, X_train.shape[1]))
order = np.random.default_rng(0)
for epoch in range(10):
    perm = order.permutation(len(X_train))
    W = one_vs_rest_epoch(W, X_train[perm], digits.y_train[perm])
test_acc = np.mean(np.argmax(X_test @ W.T, axis=1) == digits.y_test)
print(f"test accuracy after 10 epochs: {test_acc:.3f}")

# %% [markdown]
# **Think.** (1) Why does the learning rate not matter when you start from $W = 0$? (2) Your margin
# function returns a negative number for some $w$: what does that tell you? (3) Would the accuracy keep
# improving with more epochs? Try 30 and compare with the chapter's validation curve.
