# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 04 · Optimization
#
# Three pieces of the chapter's optimizers, written by you as stateless step functions on NumPy arrays:
# one step of **AdamW**, one step of **Rprop**, and the **one-cycle** learning-rate schedule. Then an outcome:
# train the digits MLP with your own optimizer and schedule to a stated accuracy, and three questions to
# answer in words. Each **check** cell runs your function over many steps on random parameters and gradients
# and compares every step with `torch.optim` (float64). When a check fails, `check.hint("name")` gives a
# nudge (call it again for a stronger one) and `check.failing_case("name")` returns the inputs that failed.
#
# The contract of a step function: it receives arrays and **returns new ones**; it never modifies the arrays
# it was given (the caller may still need them).

# %%
import math

import numpy as np

from dlcourse.checks import optim as check

# %% [markdown]
# ## Task 1 · AdamW
#
# The chapter's `Adam` adds the weight decay to the gradient (L2); **AdamW** decouples it. One step of
# `torch.optim.AdamW`, at step number $t$ ($t = 1$ first), from the moments $m, v$ of the previous step
# (zeros before the first), with weight decay $\lambda$:
#
# $$ \theta' = \theta\,(1 - \eta\lambda), \quad m \leftarrow \beta_1 m + (1-\beta_1)\, g, \quad
#    v \leftarrow \beta_2 v + (1-\beta_2)\, g^2, \quad
#    \theta_{\text{new}} = \theta' - \eta\,\frac{m/(1-\beta_1^t)}{\sqrt{v/(1-\beta_2^t)} + \epsilon}. $$

# %%
def adamw_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
    """param, grad, m, v: arrays of one shape; t: the step number, 1 at the first step.
    Returns (new_param, new_m, new_v), new arrays; the inputs stay unchanged."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.adamw_step(adamw_step)

# %% [markdown]
# ## Task 2 · Rprop
#
# The chapter uses `Rprop` from the package; write its step (as `torch.optim.Rprop`). Every coordinate has
# its own step size $s$ ($s = \eta$ before the first step) and remembers its previous gradient $g_{\text{prev}}$
# ($0$ before the first step). Per coordinate, with $0 < \eta^- < 1 < \eta^+$:
#
# - if $g\,g_{\text{prev}} > 0$ (same sign): $s \leftarrow \eta^+ s$; if $g\,g_{\text{prev}} < 0$ (the sign flipped):
#   $s \leftarrow \eta^- s$, and in this step the coordinate does **not** move and its stored gradient is set
#   to $0$; if $g\,g_{\text{prev}} = 0$: $s$ stays;
# - $s$ is clipped to $[s_{\min}, s_{\max}]$;
# - $\theta \leftarrow \theta - \operatorname{sign}(g)\, s$, and the new $g_{\text{prev}}$ is $g$ (with the zeros above).
#
# `prev` and `step_size` are `None` before the first step.

# %%
def rprop_step(param, grad, prev, step_size, lr=1e-2, etaminus=0.5, etaplus=1.2, step_min=1e-6, step_max=50.0):
    """param, grad: arrays of one shape; prev, step_size: arrays of that shape, or None before the first step.
    Returns (new_param, new_prev, new_step_size), new arrays; the inputs stay unchanged."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.rprop_step(rprop_step)

# %% [markdown]
# ## Task 3 · The one-cycle schedule
#
# PyTorch's `OneCycleLR(max_lr, total_steps, pct_start, div_factor, final_div_factor)` (cosine annealing)
# rises from $\eta_0 = \eta_{\max}/d$ to $\eta_{\max}$, then falls to $\eta_{\min} = \eta_0/f$. With
# $\operatorname{anneal}(a, b, x) = b + (a - b)\,\tfrac12(1 + \cos \pi x)$ (from $a$ at $x = 0$ to $b$ at $x = 1$)
# and the end of the first phase $w = p\,T - 1$ ($p$ = `pct_start`, $T$ = `total_steps`; $w$ need not be an
# integer), for $0 \le t \le T - 1$:
#
# $$ \eta_t = \begin{cases} \operatorname{anneal}\big(\eta_0, \eta_{\max}, t/w\big) & t \le w \\
#    \operatorname{anneal}\big(\eta_{\max}, \eta_{\min}, (t - w)/(T - 1 - w)\big) & t > w . \end{cases} $$

# %%
def one_cycle_lr(t, max_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    """The learning rate (a float) at step t, 0 <= t <= total_steps - 1."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.one_cycle_lr(one_cycle_lr)

# %% [markdown]
# ## Task 4 · Outcome: train the digits with your own optimizer
#
# With **your** `adamw_step` and `one_cycle_lr` (no `dlcourse.numpy_optim`), train an MLP from
# `dlcourse.numpy_nn` on the 1 077 training digits and return it. The check calls it on the 270 validation
# images, which your code never sees. Use at most 20 epochs. **Target: 0.95 validation accuracy.**

# %%
from dlcourse import numpy_nn as nn


def train_digits(X, y, seed=0):
    """X: (N, 64) training images, y: (N,) labels. Returns the trained model (images -> scores (N, 10))."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.digits_outcome(train_digits)

# %% [markdown]
# ## Think
#
# Answer each question in two or three sentences in the cell below it, then open the discussion.
#
# **(1)** A weight whose gradient is always large, and one whose gradient is always tiny: per step, how much
# does `Adam(weight_decay=λ)` shrink each of them, and how much does AdamW?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# With plain SGD the two are the same thing (an L2 penalty and a decay of $\eta\lambda$ per step); adaptive
# methods break the equivalence, which is Loshchilov and Hutter's point. In practice AdamW lets one tune
# $\eta$ and $\lambda$ more independently; chapter 05 measures the difference on a real network.
# </details>

# %% [markdown]
# **(2)** Why does Rprop fail with minibatch gradients, and what does RMSprop do instead?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# This is how Hinton introduced RMSprop in his 2012 lecture: "rmsprop: a mini-batch version of rprop". Sign
# methods came back for distributed training (signSGD sends one bit per coordinate) and in the Lion
# optimizer, which takes the sign of a momentum average: averaging first makes the sign reliable.
# </details>

# %% [markdown]
# **(3)** The chapter credited the cosine decay, not the warm-up, with most of Adam's improvement at
# $\eta = 0.1$. When would you expect a warm-up to matter? (Hint: look at $\hat v$ in the first steps.)

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# RAdam (Liu et al., 2020) makes this argument quantitative: the variance of the adaptive step size is
# unbounded in the first steps, and it switches the adaptive scaling on only once enough gradients were
# seen, a warm-up built into the optimizer. The chapter's ablation (cosine alone against warm-up + cosine)
# is the cheap way to find out whether a warm-up matters on your problem.
# </details>
