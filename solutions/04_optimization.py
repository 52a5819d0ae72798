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
    ### BEGIN SOLUTION
    decayed = param * (1 - lr * weight_decay)
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return decayed - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    prev = np.zeros_like(param) if prev is None else prev
    step_size = np.full_like(param, lr) if step_size is None else step_size
    same = np.sign(grad * prev)
    factor = np.where(same > 0, etaplus, np.where(same < 0, etaminus, 1.0))
    step_size = np.clip(step_size * factor, step_min, step_max)
    g = np.where(same < 0, 0.0, grad)
    return param - np.sign(g) * step_size, g, step_size
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    def anneal(a, b, x):
        return b + (a - b) * (1 + math.cos(math.pi * x)) / 2

    initial = max_lr / div_factor
    w = pct_start * total_steps - 1
    if t <= w:
        return anneal(initial, max_lr, t / w)
    return anneal(max_lr, initial / final_div_factor, (t - w) / (total_steps - 1 - w))
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    r = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(64, 64, rng=r), nn.ReLU(), nn.Linear(64, 10, rng=r))
    loss_fn, epochs, batch = nn.CrossEntropyLoss(), 10, 32
    total = epochs * -(-len(X) // batch)
    state = {k: (np.zeros_like(p), np.zeros_like(p)) for k, p in model.params.items()}
    t = 0
    for _ in range(epochs):
        order = r.permutation(len(X))
        for start in range(0, len(X), batch):
            idx = order[start:start + batch]
            loss_fn(model(X[idx]), y[idx])
            model.backward(loss_fn.backward())
            lr = one_cycle_lr(t, 0.01, total)
            t += 1
            for k, p in model.params.items():
                new_p, m, v = adamw_step(p, model.grads[k], *state[k], t, lr=lr, weight_decay=1e-2)
                p[...] = new_p                                   # into the model's own array
                state[k] = (m, v)
    return model
    ### END SOLUTION


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
# ### BEGIN SOLUTION
# Adam adds $\lambda\theta$ to the gradient and then divides by $\sqrt{\hat v}$, the gradient's own scale: for
# the weight with large gradients the decay term is divided by a large number and barely acts; for the
# weight with tiny gradients it dominates, and the step is about $\eta$ toward zero. AdamW shrinks both by the
# same factor $1 - \eta\lambda$, outside the adaptive scaling: every weight is decayed equally.
# ### END SOLUTION

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
# ### BEGIN SOLUTION
# Rprop reads only signs, and the sign of a noisy minibatch gradient flips at random wherever the true
# gradient is small compared with the noise: its step sizes are halved again and again and collapse, and
# each minibatch gets the same say whatever the size of its gradient (ten gradients of +0.1 and one of -0.9
# sum to about zero, yet Rprop moves ten times one way). RMSprop divides by a running root-mean-square of the
# gradients instead of taking the sign, so the steps keep the gradients' relative sizes and average over
# minibatches.
# ### END SOLUTION

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
# ### BEGIN SOLUTION
# In the first steps $\hat v$ is estimated from one or a few gradients: where it happens to be small, the step
# $\eta\,\hat m/\sqrt{\hat v}$ is about $\eta$ per coordinate in every coordinate at once, whatever the loss
# surface says. A warm-up keeps those steps small until $\hat v$ is averaged over enough gradients. It matters
# when $\eta$ is large, when early gradients are unrepresentative (a fresh network, large batches, deep
# nets or transformers), and little when $\eta$ is small enough that the first steps cannot do damage.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# RAdam (Liu et al., 2020) makes this argument quantitative: the variance of the adaptive step size is
# unbounded in the first steps, and it switches the adaptive scaling on only once enough gradients were
# seen, a warm-up built into the optimizer. The chapter's ablation (cosine alone against warm-up + cosine)
# is the cheap way to find out whether a warm-up matters on your problem.
# </details>
