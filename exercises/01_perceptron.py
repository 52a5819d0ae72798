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
# Three variations of the perceptron that chapter 01 does not show, an outcome to reach on the digits
# with your own code, and three questions to answer in words. After each function, run its **check**
# cell: it compares your function with a reference on random inputs (single points, zero weights and
# points exactly on the boundary included) and names the first thing that differs. When a check fails,
# `check.hint("name")` gives a nudge (call it again for a stronger one) and
# `check.failing_case("name")` returns the inputs of the failing case, to run your function on.
#
# Replace every `raise NotImplementedError` with your code. Use NumPy only. The chapter's functions
# (`perceptron_update`, `add_bias`, ...) are imported below: use them where they help.

# %%
import numpy as np

from dlcourse import data
from dlcourse.checks import perceptron as check
from dlcourse.perceptron import add_bias, perceptron_update
from dlcourse.train import accuracy

# %% [markdown]
# ## Task 1 · The dual form
#
# Started from $w = 0$, the perceptron only ever adds $\pm x_i$ to $w$, so at any time
#
# $$ w = \sum_j \alpha_j\, y_j\, x_j, $$
#
# where $\alpha_j \ge 0$ counts the mistakes made on point $j$ so far. The algorithm can therefore keep
# the counts $\alpha$ instead of $w$, and it then needs the inputs only through their dot products, the
# **Gram matrix** $K_{ij} = x_i^\top x_j$. (Replace $K$ by any *kernel* $k(x_i, x_j)$ and you get the
# kernel perceptron, which the check also tries.)
#
# Write one epoch of the dual perceptron: visit $i = 0, 1, \dots, N-1$ **in order**; point $i$ is a
# mistake when $y_i\, w^\top x_i \le 0$, written with $\alpha$ and $K$ only; on a mistake,
# $\alpha_i \leftarrow \alpha_i + 1$. Return the new counts (do not modify the argument).

# %%
def dual_perceptron_epoch(alpha, K, y):
    """alpha: (N,) int mistake counts, K: (N, N) Gram matrix, y: (N,) in {-1, +1}. Returns new alpha (N,)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.dual_perceptron_epoch(dual_perceptron_epoch)

# %% [markdown]
# ## Task 2 · The averaged perceptron
#
# On data that no hyperplane separates, the perceptron's $w$ keeps jumping, and the final $w$ is whatever
# the last few mistakes made it. The **averaged perceptron** predicts with the average of all the weight
# vectors the algorithm held: a vector that survived many visits without a mistake counts many times.
#
# Start from $w = 0$ and run `epochs` epochs of Rosenblatt's rule (learning rate 1) over the points **in
# the given order** (no shuffling). After every visit of a point (whether it caused an update or not)
# add the current $w$ to a running sum; $w_{\text{avg}}$ is that sum divided by the number of visits,
# $N \cdot \text{epochs}$. Return the pair `(w, w_avg)`: the final and the averaged weights.

# %%
def averaged_perceptron(X, y, epochs):
    """X: (N, D) with the bias column, y: (N,) in {-1, +1}, epochs >= 1. Returns (w (D,), w_avg (D,))."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.averaged_perceptron(averaged_perceptron)

# %% [markdown]
# ## Task 3 · A multiclass perceptron with one weight matrix
#
# The chapter trains ten *independent* one-vs-rest perceptrons. The multiclass perceptron (Kesler's
# construction, used by Collins 2002) couples them: it predicts $\arg\max_c W_c^\top x$ and only cares
# whether the true class wins. For point $x_i$ with label $y_i$, let the **rival** $r$ be the class
# $c \ne y_i$ with the highest score $W_c^\top x_i$ (the first one on ties). The point is a mistake when
# $W_r^\top x_i \ge W_{y_i}^\top x_i$ (a tie counts as a mistake); then
#
# $$ W_{y_i} \leftarrow W_{y_i} + x_i, \qquad W_r \leftarrow W_r - x_i . $$
#
# Write one epoch over the points **in order**, and return the new $W$ (do not modify the argument).

# %%
def multiclass_perceptron_epoch(W, X, y):
    """W: (C, D), X: (N, D), y: (N,) ints in 0..C-1. Returns the new W (C, D)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.multiclass_perceptron_epoch(multiclass_perceptron_epoch)

# %% [markdown]
# ## Task 4 · Outcome: your own perceptron on the digits
#
# The chapter's one-vs-rest perceptrons reached about 0.94 test accuracy with the epoch chosen on
# validation data. With **your** functions, train a perceptron on the digits: `train_digits_perceptron`
# receives the 1 077 training images (with the bias column, shape (1077, 65)) and their labels, and
# returns $W$ of shape (10, 65); the check predicts $\arg\max_c (XW^\top)_c$ on the 270 validation images,
# which your code never sees. Use at most 30 epochs. **Target: 0.93 validation accuracy.**

# %%
def train_digits_perceptron(X, y, seed=0):
    """X: (N, 65) training images with the bias column, y: (N,) labels. Returns W (10, 65)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.digits_outcome(train_digits_perceptron)

# %% [markdown]
# ## Use it
#
# The averaged weights against the final ones, on the chapter's test split (used once, here), and the
# dual form against the chapter's primal perceptron: the same mistakes, the same hyperplane.

# %%
digits = data.load_digits(val_size=0.2, seed=0)
X_train, X_test = add_bias(digits.X_train.astype(float)), add_bias(digits.X_test.astype(float))
W_avg = train_digits_perceptron(X_train, digits.y_train)
W_last = np.zeros((10, 65))
for epoch in range(10):
    W_last = multiclass_perceptron_epoch(W_last, X_train, digits.y_train)
print(f"test accuracy: averaged {accuracy(X_test @ W_avg.T, digits.y_test):.3f}, "
      f"final W after 10 epochs in a fixed order {accuracy(X_test @ W_last.T, digits.y_test):.3f}")

toy = data.make_toy("linear", n=60, seed=0)
X_toy, y_toy = add_bias(toy.X_train.astype(float)), 2 * toy.y_train - 1
alpha, w = np.zeros(len(X_toy), np.int64), np.zeros(3)
for epoch in range(20):
    alpha = dual_perceptron_epoch(alpha, X_toy @ X_toy.T, y_toy)
    for x_i, y_i in zip(X_toy, y_toy):
        w = perceptron_update(w, x_i, y_i)
print("dual weights sum_j alpha_j y_j x_j:", (alpha * y_toy) @ X_toy, "  primal w:", w)

# %% [markdown]
# ## Think
#
# Answer each question in two or three sentences in the cell below it, then open the discussion.
#
# **(1)** The chapter measured that, from $w = 0$, the learning rate does not change the number of
# updates. Explain why, using the dual form of Task 1.

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The argument needs $w_0 = 0$: from another start, $w = w_0 + \eta\sum_j \alpha_j y_j x_j$ and $\eta$
# sets the balance between $w_0$ and the updates, so it changes the run. It also explains why Novikoff's
# bound $(R/\gamma)^2$ has no $\eta$ in it. For gradient descent on a smooth loss (logistic regression)
# the step size matters, because the update is no longer a count of mistakes.
# </details>

# %% [markdown]
# **(2)** On the digits, why does the averaged perceptron predict better than its own final weights?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# Freund and Schapire (1999) proposed the *voted* perceptron, which lets every weight vector vote with its
# survival time, and proved generalization bounds for it; the averaged perceptron is its cheap
# approximation (one weight vector instead of thousands). Choosing the epoch on validation data, as the
# chapter did, is another fix for the same noise; both can be combined.
# </details>

# %% [markdown]
# **(3)** The dual form needs the inputs only through $K$. What does that make possible, and what does
# it cost when $N$ grows?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# This is the same trade-off as for support vector machines, which keep only the points with
# $\alpha_j > 0$ (the support vectors). Neural networks take the other road: they learn the feature map
# $\varphi$ itself, with a cost that grows with the number of parameters, not with $N$. Chapter 02's
# hidden layers are such a learned $\varphi$.
# </details>
