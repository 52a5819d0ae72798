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
# Five functions that chapter 02 does not show, an outcome to reach on the digits with your own gradient,
# and three questions to answer in words. After each function, run its **check** cell: it compares your
# function with PyTorch (`torch.nn`, `torch.nn.functional` and autograd, in float64) on random inputs
# (batches of one and logits up to $10^4$ included) and names the first thing that differs. When a check
# fails, `check.hint("name")` gives a nudge (call it again for a stronger one) and
# `check.failing_case("name")` returns the inputs of the failing case, to run your function on.
#
# Replace every `raise NotImplementedError` with your code. Use NumPy only; the chapter's functions
# imported below may be used.

# %%
import numpy as np

from dlcourse import data
from dlcourse.checks import mlp as check
from dlcourse.numpy_nn import log_softmax, relu, sigmoid, softmax, tanh
from dlcourse.train import accuracy

# %% [markdown]
# ## Task 1 · Count the parameters of a densely connected MLP
#
# In a **densely connected** MLP every layer sees the input *and all earlier hidden layers*: with widths
# `sizes = [n_0, n_1, ..., n_L]`, layer $l$ receives the concatenation $[z_0, z_1, \dots, z_{l-1}]$ (where
# $z_0 = x$), so its weight matrix has $n_l$ rows and $n_0 + n_1 + \dots + n_{l-1}$ columns, plus $n_l$
# biases. (DenseNet, 2017, connects convolutional layers this way.) Return the total number of
# parameters as an `int`.

# %%
def count_dense_parameters(sizes):
    """sizes: list of L + 1 positive ints. Returns the number of weights and biases (int)."""
    ### BEGIN SOLUTION
    total, seen = 0, sizes[0]
    for n_out in sizes[1:]:
        total += n_out * seen + n_out
        seen += n_out
    return int(total)
    ### END SOLUTION


# %% tags=["check"]
check.count_dense_parameters(count_dense_parameters)

# %% [markdown]
# ## Task 2 · Its forward pass
#
# `params` is a list of pairs `(W_l, b_l)` with `W_l` of shape $(n_l, n_0 + \dots + n_{l-1})$ and `b_l` of
# shape $(n_l,)$; the inputs are the rows of `X`, shape $(N, n_0)$. Layer $l$ computes
# $a_l = [z_0, \dots, z_{l-1}]\, W_l^\top + b_l$, the features concatenated along the feature axis **in
# that order**, and $z_l = \sigma(a_l)$ for the hidden layers. Return the last pre-activation $a_L$,
# shape $(N, n_L)$: the output layer is linear.

# %%
def dense_mlp_forward(X, params, activation):
    """X: (N, n_0); params: [(W_1, b_1), ..., (W_L, b_L)]; activation: elementwise. Returns (N, n_L)."""
    ### BEGIN SOLUTION
    features = [X]
    for l, (W, b) in enumerate(params, start=1):
        a = np.concatenate(features, axis=1) @ W.T + b
        features.append(activation(a) if l < len(params) else a)
    return features[-1]
    ### END SOLUTION


# %% tags=["check"]
check.dense_mlp_forward(dense_mlp_forward)

# %% [markdown]
# ## Task 3 · The derivative of the tanh approximation of GELU
#
# The chapter uses the exact GELU, $x\,\Phi(x)$, and shows its tanh approximation (PyTorch's
# `F.gelu(x, approximate="tanh")`),
#
# $$ \mathrm{GELU}_{\tanh}(x) = \tfrac12\, x\,\big(1 + \tanh u(x)\big), \qquad
#    u(x) = \sqrt{2/\pi}\,\big(x + 0.044715\, x^3\big). $$
#
# Derive its derivative and return it at every element of `x` (any shape). It must be finite for
# $|x|$ up to 1000.

# %%
def gelu_tanh_grad(x):
    """x: any array. Returns d GELU_tanh / dx at x, same shape."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    c = np.sqrt(2 / np.pi)
    t = np.tanh(c * (x + 0.044715 * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x**2)
    ### END SOLUTION


# %% tags=["check"]
check.gelu_tanh_grad(gelu_tanh_grad)

# %% [markdown]
# ## Task 4 · A masked log-softmax
#
# Sometimes some classes are not allowed for some inputs (padding in a sequence, illegal moves in a
# game). `mask` is a boolean array of the shape of the logits `z`, `True` where an entry takes part. The
# masked log-softmax along the **last** axis gives every masked entry probability 0, so log-probability
# $-\infty$, and the kept entries of a row the log-softmax of the kept logits alone. Every row keeps at
# least one entry. It must be stable for logits up to $10^4$, **including huge masked logits**.

# %%
def masked_log_softmax(z, mask):
    """z: (..., C) logits, mask: (..., C) bool. Returns the masked log-softmax along the last axis, same shape."""
    ### BEGIN SOLUTION
    z = np.where(mask, z, -np.inf)
    m = np.max(z, axis=-1, keepdims=True)                      # a kept entry: finite
    return z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))
    ### END SOLUTION


# %% tags=["check"]
check.masked_log_softmax(masked_log_softmax)

# %% [markdown]
# ## Task 5 · Label-smoothed cross-entropy and its gradient
#
# **Label smoothing** (Szegedy et al. 2016) trains against a softened target: for $C$ classes and a
# smoothing $\varepsilon \in [0, 1)$, example $i$'s target distribution is
# $q_{ik} = (1-\varepsilon)\,[k = y_i] + \varepsilon / C$. The loss is the mean cross-entropy between $q$
# and the softmax of the logits,
#
# $$ L = -\frac1N \sum_i \sum_k q_{ik}\, \log\mathrm{softmax}(z_i)_k , $$
#
# exactly `nn.CrossEntropyLoss(label_smoothing=eps)`. Return the pair `(loss, grad)`: the loss as a float
# and $\partial L / \partial z$, shape $(N, C)$. Derive the gradient; it must be stable for huge logits.

# %%
def smoothed_cross_entropy(z, y, eps):
    """z: (N, C) logits, y: (N,) ints, eps: smoothing in [0, 1). Returns (loss: float, grad: (N, C))."""
    ### BEGIN SOLUTION
    N, C = z.shape
    q = np.full((N, C), eps / C)
    q[np.arange(N), y] += 1 - eps
    log_p = log_softmax(z)                                  # stable, (N, C)
    loss = -np.sum(q * log_p) / N
    return float(loss), (np.exp(log_p) - q) / N
    ### END SOLUTION


# %% tags=["check"]
check.smoothed_cross_entropy(smoothed_cross_entropy)

# %% [markdown]
# ## Task 6 · Outcome: softmax regression with your gradient
#
# Train softmax regression, $z = XW^\top + b$, on the digits with **your** `smoothed_cross_entropy` for
# the gradient (no autograd): `train_softmax_regression` receives the 1 077 training images `X`
# (1077, 64) and their labels, and returns `(W, b)` with $W$ of shape (10, 64) and $b$ of shape (10,);
# the check predicts $\arg\max_c (XW^\top + b)_c$ on the 270 validation images, which your code never
# sees. Choose $\varepsilon$, the step size and the number of steps yourself (at most 1000 full-batch
# steps). **Target: 0.92 validation accuracy.**

# %%
def train_softmax_regression(X, y, seed=0):
    """X: (N, 64), y: (N,) labels. Returns (W (10, 64), b (10,))."""
    ### BEGIN SOLUTION
    W, b = np.zeros((10, X.shape[1])), np.zeros(10)
    for step in range(300):
        _, grad = smoothed_cross_entropy(X @ W.T + b, y, 0.1)     # (N, 10)
        W, b = W - 0.5 * grad.T @ X, b - 0.5 * grad.sum(axis=0)
    return W, b
    ### END SOLUTION


# %% tags=["check"]
check.softmax_regression_outcome(train_softmax_regression)

# %% [markdown]
# ## Use it
#
# The loss of a random network at initialisation, for the first Think question, and the price of dense
# connections for the third.

# %%
digits = data.load_digits(val_size=0.2, seed=0)
rng = np.random.default_rng(0)
sizes = [64, 32, 32, 10]
params = [(rng.uniform(-1, 1, size=(n_out, sum(sizes[:l]))) / np.sqrt(sum(sizes[:l])), np.zeros(n_out))
          for l, n_out in enumerate(sizes[1:], start=1)]
init_loss, _ = smoothed_cross_entropy(dense_mlp_forward(digits.X_train.astype(float), params, tanh),
                                      digits.y_train, 0.0)
print(f"random dense tanh MLP {sizes}: loss at initialisation {init_loss:.3f} (ln 10 = {np.log(10):.3f})")
plain = sum(n_out * n_in + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
print(f"parameters of {sizes}: plain MLP {plain}, densely connected {count_dense_parameters(sizes)}")
W, b = train_softmax_regression(digits.X_train.astype(float), digits.y_train)
print(f"softmax regression: test accuracy {accuracy(digits.X_test @ W.T + b, digits.y_test):.3f}")

# %% [markdown]
# ## Think
#
# Answer each question in two or three sentences in the cell below it, then open the discussion.
#
# **(1)** Why is the loss of a random network at initialisation close to $\ln C$ for $C$ classes?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# With small random weights the logits are small and nearly equal, so the softmax is close to uniform,
# $1/C$ for every class, and the cross-entropy of each example is about $-\log(1/C) = \ln C$, whatever
# its label. The same value is the loss of a model that has learned nothing beyond "all classes are
# equally likely", which makes $\ln C$ a useful sanity check for the first step of any training run.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# A first loss far above $\ln C$ means the logits are large at initialisation (weights too big, or a
# missing scaling), and the network starts out confidently wrong. A loss that stays at $\ln C$ is chapter
# 02's sigmoid network: its output layer's input carried no information about the image. With unbalanced
# classes the reference is the entropy of the class frequencies instead, which is below $\ln C$.
# </details>

# %% [markdown]
# **(2)** With $\varepsilon > 0$, can the label-smoothed loss reach 0? Use your gradient to say what
# happens to the logits of an example that is already classified correctly.

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# No: the loss is the cross-entropy $H(q, p) \ge H(q) > 0$, the entropy of the smoothed target. The
# gradient $(\mathrm{softmax}(z) - q)/N$ vanishes exactly when the softmax equals $q$, that is when the
# label's logit exceeds every other logit by $\log\frac{1 - \varepsilon + \varepsilon/C}{\varepsilon/C}$, a
# finite gap. Past it the gradient pushes the logits back. Plain cross-entropy ($\varepsilon = 0$) instead
# keeps pushing the gap toward infinity on every correct example.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# That is why label smoothing is a regulariser: it caps the model's confidence and keeps the logits, and
# with them the weights, from growing without bound. The price is calibrated-looking but systematically
# under-confident probabilities; with $C = 10$ and $\varepsilon = 0.1$ the target gap is
# $\log(0.91/0.01) \approx 4.5$.
# </details>

# %% [markdown]
# **(3)** For widths $[64, 32, 32, 10]$ the densely connected MLP has almost twice the parameters of the
# plain one (see *Use it*). Where do the extra parameters go, and what might the dense connections buy?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# Into the layers after the first: the second hidden layer also reads the 64 inputs, and the output layer
# reads the input and both hidden layers (128 numbers instead of 32). In exchange every layer can reuse the
# raw input and every earlier feature directly, and the gradient reaches each layer through a short path
# (one weight matrix away from the loss), instead of only through the layers above it.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# Short paths for the gradient are what make very deep networks trainable: chapter 07's residual
# connections add $z_{l-1}$ to a layer's output instead of concatenating it, which costs no parameters at
# all. DenseNet keeps the concatenation but makes every layer narrow (a small "growth rate"), so that the
# inputs of the late layers stay affordable.
# </details>
