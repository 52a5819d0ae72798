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
# The chapter printed inverted dropout, batch normalization for $(N, C)$ and $(N, C, H, W)$ inputs and its
# running statistics. These tasks take each idea one step further: dropout of whole channels, layer
# normalization (batch norm with the axes exchanged), and batch norm folded into the linear layer before it
# for fast inference. Then an outcome task: with only 200 training images, reach a stated validation loss
# with your own code; and four questions to answer in words.
#
# Each **check** cell compares your function with PyTorch on random inputs (float64) and names the first
# thing that is wrong. `check.hint("name")` gives a nudge (call it again for a stronger one), and
# `check.failing_case("name")` returns the inputs of the case that failed, to run your function on.
# Replace every `raise NotImplementedError` with NumPy code (PyTorch only in the outcome task).

# %%
import numpy as np
import torch
from torch import nn

from dlcourse.checks import regularization as check

# %% [markdown]
# ## Task 1 · Channel dropout, forward and backward
#
# Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels removes little
# information: a convolution can recover it from the neighbours. **Channel dropout** (`nn.Dropout2d`)
# drops whole feature maps instead: for an input $x$ of shape $(N, C, H, W)$, each of the $N \cdot C$ maps
# is kept with probability $1-p$, and the survivors are scaled by $\frac{1}{1-p}$. The random numbers are
# given: `u` of shape $(N, C)$ holds one uniform number per example and channel, and map $(n, c)$ is
# **kept where `u[n, c] >= p`**. Return the output $y$ and $\partial\mathcal{L}/\partial x$ for the upstream
# gradient `grad_out`.

# %%
def dropout2d_forward_backward(x, grad_out, p, u):
    """x, grad_out: (N, C, H, W); p in [0, 1); u: (N, C). Returns (y, grad_x), both of x's shape."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.dropout2d_forward_backward(dropout2d_forward_backward)

# %% [markdown]
# ## Task 2 · Layer normalization, forward and backward
#
# Batch norm needs a batch: its statistics are shared by the examples, and eval mode needs running
# averages. **Layer normalization** (Ba et al. 2016, used in every transformer) normalises each *example*
# over its own features instead. For $x$ of shape $(N, D)$ and every row $n$:
#
# $$ \mu_n = \frac1D\sum_d x_{nd},\quad \sigma_n^2 = \frac1D\sum_d (x_{nd}-\mu_n)^2,\quad
#    y_{nd} = \gamma_d\,\frac{x_{nd}-\mu_n}{\sqrt{\sigma_n^2+\epsilon}} + \beta_d, $$
#
# with $\gamma, \beta$ of shape $(D,)$. Training and eval mode are the same. Return $y$ and the gradients
# with respect to $x$, $\gamma$ and $\beta$ for the upstream gradient `grad_out`.

# %%
def layernorm_forward_backward(x, gamma, beta, grad_out, eps=1e-5):
    """x, grad_out: (N, D); gamma, beta: (D,). Returns (y, grad_x, grad_gamma, grad_beta)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.layernorm_forward_backward(layernorm_forward_backward)

# %% [markdown]
# ## Task 3 · Fold batch norm into the linear layer before it
#
# In eval mode batch norm uses fixed statistics, so `Linear(W, b)` followed by `BatchNorm1d` is one affine
# map of the input, and a single linear layer can replace both: inference then costs one matrix product.
# Given the linear layer's `W` (out, in) and `b` (out,), and the batch norm's `gamma`, `beta`,
# `running_mean`, `running_var` (all (out,)) and `eps`, return `W_folded` and `b_folded` such that
# `x @ W_folded.T + b_folded` equals the two layers' output in eval mode for every `x`.

# %%
def fold_batchnorm(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """Returns (W_folded (out, in), b_folded (out,)), new arrays."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.fold_batchnorm(fold_batchnorm)

# %% [markdown]
# ## Use it
#
# Fold the batch norm of a small trained-looking PyTorch layer pair and compare the outputs, and compare
# your layer norm with `torch.nn.LayerNorm` on one batch. Expected: differences around $10^{-15}$.

# %%
torch.manual_seed(0)
lin, bn = nn.Linear(6, 4).double(), nn.BatchNorm1d(4).double()
for _ in range(20):                                       # training steps move the running statistics
    bn(lin(torch.randn(32, 6, dtype=torch.float64) * 3 + 1))
bn.eval()
W_f, b_f = fold_batchnorm(*(t.detach().numpy() for t in (lin.weight, lin.bias, bn.weight, bn.bias,
                                                          bn.running_mean, bn.running_var)), bn.eps)
x = torch.randn(5, 6, dtype=torch.float64)
fold_diff = np.abs(x.numpy() @ W_f.T + b_f - bn(lin(x)).detach().numpy()).max()
print(f"folded layer vs Linear + BatchNorm1d (eval): {fold_diff:.1e}")
ln = nn.LayerNorm(6).double()
ours = layernorm_forward_backward(x.numpy(), ln.weight.detach().numpy(), ln.bias.detach().numpy(),
                                  np.ones((5, 6)))[0]
print(f"layer norm vs torch.nn.LayerNorm: {np.abs(ours - ln(x).detach().numpy()).max():.1e}")

# %% [markdown]
# ## Task 4 · Outcome: a confident-but-right network from 200 images
#
# The chapter's big MLP, trained without regularization on its 200 training digits, ends with a
# validation cross-entropy near 0.28: right on most images, but over-confident where it is wrong. Write
# `train_regularized(X, y, seed)`: it receives those 200 images `X` (200, 64) float32 (8 x 8 pixels in
# [0, 1], row by row) and their labels, trains any network you like with any of the chapter's regularizers
# (in NumPy or PyTorch), and returns a function `predict(X)` that maps images (N, 64) to scores (logits)
# (N, 10). The check measures the cross-entropy on the chapter's 270 validation images, which your code
# never sees. Keep it under a minute on a laptop CPU. **Target: validation cross-entropy at most 0.22.**

# %%
def train_regularized(X, y, seed=0):
    """Train on X (200, 64), y (200,); return predict(X) -> scores (N, 10)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.regularized_outcome(train_regularized)

# %% [markdown]
# ## Think
#
# Answer each question in two or three sentences in the cell below it, then open the discussion.
#
# **(1)** Why must dropout's backward pass use the *same* mask as its forward pass?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# This is why a dropout layer stores its mask (our `Dropout.mask`), and why gradient checks of networks
# with dropout must fix the random numbers (the chapter's `FixedUniforms`): with a new mask per call the
# loss is a random function, and its finite differences mean nothing.
# </details>

# %% [markdown]
# **(2)** With `momentum=0.1`, roughly how many training batches does batch norm's running mean need
# before its initial value 0 is forgotten?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# A network evaluated after only a handful of training batches uses running statistics that are still
# pulled towards 0 and 1, and predicts badly in eval mode though it did well in training mode. With
# `momentum=None` PyTorch uses the plain average of all batches seen instead.
# </details>

# %% [markdown]
# **(3)** Why does batch norm refuse to train on a batch with a single value per channel, and why does layer
# norm (Task 2) not have this problem?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The same problem, milder, appears with small batches: with 2 to 4 values per channel the batch statistics
# are very noisy, and training and eval mode behave differently. Layer norm and group norm avoid the batch
# axis altogether; that is why they are used where batches are small or of variable size.
# </details>

# %% [markdown]
# **(4)** A network with batch norm predicts differently for the same image depending on the rest of its
# batch in training mode, but not in eval mode. Why, and which mode must you use for testing?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# Forgetting `model.eval()` is a classic bug: test accuracy then depends on the batch size and on the
# order of the test set, and a batch of one image fails outright. Folding (Task 3) is only possible in eval
# mode, for the same reason: only there is batch norm a fixed affine map.
# </details>
