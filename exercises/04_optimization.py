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
# Three pieces of chapter 04, written by you as plain functions on NumPy arrays: one step of SGD with
# momentum exactly as PyTorch does it, one step of Adam with its bias correction, and a warm-up + cosine
# learning-rate schedule. Each **check** cell runs your function over several steps on random parameters and
# gradients and compares every step with `torch.optim` (float64); it names the first step and entry that
# differ, with a hint. Replace every `raise NotImplementedError` with NumPy code.

# %%
import math

import numpy as np

from dlcourse.checks import optim as check

# %% [markdown]
# ## Task 1 · SGD with momentum, dampening, weight decay and Nesterov
#
# One step of `torch.optim.SGD`, for one parameter array. With gradient $g_t$, weight decay $\lambda$,
# momentum $\mu$, dampening $\tau$ and learning rate $\eta$:
#
# $$ g = g_t + \lambda\theta, \qquad b_t = \begin{cases} g & \text{first step} \\ \mu\, b_{t-1} + (1-\tau)\, g & \text{afterwards}\end{cases},
#    \qquad \theta \leftarrow \theta - \eta \cdot \begin{cases} g + \mu\, b_t & \text{Nesterov} \\ b_t & \text{otherwise} \end{cases} $$
#
# and without momentum ($\mu = 0$) simply $\theta \leftarrow \theta - \eta g$ (there is no buffer: return `None`
# for it). The buffer is `None` before the first step. Return new arrays; do not modify the inputs.

# %%
def sgd_momentum_step(param, grad, buf, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """param, grad: arrays of one shape; buf: the momentum buffer (same shape) or None before the first step.
    Returns (new_param, new_buf); new_buf is None when momentum == 0."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.sgd_momentum_step(sgd_momentum_step)

# %% [markdown]
# ## Task 2 · Adam, with bias correction
#
# One step of `torch.optim.Adam` (no weight decay), at step number $t$ ($t = 1$ for the first step), from the
# moment estimates $m, v$ of the previous step (zeros before the first):
#
# $$ m \leftarrow \beta_1 m + (1-\beta_1)\, g, \quad v \leftarrow \beta_2 v + (1-\beta_2)\, g^2, \quad
#    \hat m = \frac{m}{1-\beta_1^t}, \quad \hat v = \frac{v}{1-\beta_2^t}, \quad
#    \theta \leftarrow \theta - \eta\,\frac{\hat m}{\sqrt{\hat v} + \epsilon}. $$
#
# Note where $\epsilon$ goes: outside the square root.

# %%
def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """param, grad, m, v: arrays of one shape; t: the step number, 1 at the first step.
    Returns (new_param, new_m, new_v)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.adam_step(adam_step)

# %% [markdown]
# ## Task 3 · A linear warm-up followed by a cosine decay
#
# The learning rate after $t$ scheduler steps of PyTorch's
# `SequentialLR([LinearLR(start_factor=s, total_iters=w), CosineAnnealingLR(T_max=T - w, eta_min=η_min)], milestones=[w])`
# with base rate $\eta_0$, for $0 \le t \le T$:
#
# $$ \eta_t = \begin{cases} \eta_0\,\big(s + (1 - s)\,t/w\big) & t < w \\
#    \eta_{\min} + (\eta_0 - \eta_{\min})\,\tfrac12\big(1 + \cos(\pi\,(t - w)/(T - w))\big) & t \ge w . \end{cases} $$
#
# It starts at $s\,\eta_0$, climbs for $w$ steps, reaches $\eta_0$ at $t = w$ and decays to $\eta_{\min}$ at $t = T$.

# %%
def warmup_cosine_lr(t, base_lr, warmup_steps, total_steps, start_factor=0.1, eta_min=0.0):
    """The learning rate (a float) after t scheduler steps, 0 <= t <= total_steps."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.warmup_cosine_lr(warmup_cosine_lr)

# %% [markdown]
# ## Use it
#
# Train the chapter's MLP $64 \to 32 \to 10$ on the digits for 300 steps with *your* Adam step and *your*
# schedule, and with `dlcourse.numpy_optim.Adam` and a `SequentialLR`: the two loss curves should be the same.

# %%
from dlcourse import data
from dlcourse import numpy_nn as nn
from dlcourse import numpy_optim as optim

digits = data.load_digits(val_size=0.2, seed=0)
X, y = digits.X_train.astype(np.float64), digits.y_train
batches = [np.random.default_rng(0).choice(len(X), 32, replace=False) for _ in range(300)]


def make_model():
    r = np.random.default_rng(0)
    return nn.Sequential(nn.Linear(64, 32, rng=r), nn.ReLU(), nn.Linear(32, 10, rng=r))


loss_fn = nn.CrossEntropyLoss()
mine, mine_losses = make_model(), []
state = {k: (np.zeros_like(p), np.zeros_like(p)) for k, p in mine.params.items()}
for t, idx in enumerate(batches, start=1):
    mine_losses.append(loss_fn(mine(X[idx]), y[idx]))
    mine.backward(loss_fn.backward())
    lr = warmup_cosine_lr(t - 1, 0.01, 30, 300)            # the lr used by step t is the schedule's value at t - 1
    for k, p in mine.params.items():
        new_p, m, v = adam_step(p, mine.grads[k], *state[k], t, lr=lr)
        p[...] = new_p                                     # write into the model's own array
        state[k] = (m, v)

ref, ref_losses = make_model(), []
opt = optim.Adam(ref.params, lr=0.01)
sched = optim.SequentialLR(opt, [optim.LinearLR(opt, 0.1, total_iters=30), optim.CosineAnnealingLR(opt, 270)],
                           milestones=[30])
for idx in batches:
    ref_losses.append(loss_fn(ref(X[idx]), y[idx]))
    ref.backward(loss_fn.backward())
    opt.step(ref.grads)
    sched.step()
print(f"loss {mine_losses[0]:.3f} -> {mine_losses[-1]:.3f}; largest difference to numpy_optim: "
      f"{np.abs(np.array(mine_losses) - np.array(ref_losses)).max():.1e}")

# %% [markdown]
# **Think.** (1) Without bias correction, how large is Adam's first step for $\beta_1 = 0.9$, $\beta_2 = 0.999$,
# per coordinate, compared with $\eta$? (2) The lectures write momentum as $\tilde g \leftarrow \beta\tilde g + (1-\beta) g$.
# Which `lr`, `momentum` and `dampening` of your `sgd_momentum_step` give exactly the same parameters, and why
# does `dampening` $=\beta$ alone not do it? (3) Why does the warm-up help Adam more than SGD? (Hint: look at
# $\hat v$ in the first steps.)
