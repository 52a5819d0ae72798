# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 10 · Diffusion models
#
# Five tasks from chapter 10 and three questions. Here you write, in NumPy, the pieces of a diffusion
# model that the chapter's training and sampling loops rely on: Task 1 the closed form of the forward
# (noising) process, Task 2 the signal-to-noise ratio and where it crosses 1, Task 3 one reverse step of
# DDPM's ancestral sampler, Task 4 one deterministic DDIM step that may jump over many timesteps. Task 5
# is an outcome task: train your own diffusion model on the two moons and sample points that lie on them.
#
# Each **check** cell compares your function with a reference (PyTorch in float64, or the same quantity
# written in another, equivalent form) on random noise schedules and inputs, and names the first thing
# that is wrong. `check.hint("name")` gives a nudge (call it again for a stronger one), and
# `check.failing_case("name")` returns the inputs of the case that failed, to run your function on.
# Replace every `raise NotImplementedError` with NumPy code (no PyTorch inside Tasks 1-4).
#
# Conventions: a schedule `betas` of shape $(T,)$ holds the variances $\beta_0, \dots, \beta_{T-1}$ of the
# $T$ noising steps. **Timesteps count from 0**, as in Python: $x_t$ is the sample after the noising steps
# $0, \dots, t$ ($t + 1$ steps). The clean data is written $x_\text{data}$ in the formulas and `x0` in the
# code.

# %%
import math

import numpy as np
import torch
from torch import nn

import dlcourse
from dlcourse import data
from dlcourse.checks import diffusion as check

dlcourse.set_threads(1)      # small networks train faster on one thread than on several competing ones


# %% [markdown]
# ## Task 1 · The forward process in closed form
#
# One noising step keeps a fraction $\alpha_t = 1 - \beta_t$ of the signal's variance and adds Gaussian
# noise of variance $\beta_t$: $x_t = \sqrt{\alpha_t}\, x_{t-1} + \sqrt{\beta_t}\, \varepsilon_t$. Chaining
# the steps gives a closed form: with $\bar\alpha_t = \prod_{s=0}^{t} \alpha_s$,
#
# $$ x_t = \sqrt{\bar\alpha_t}\; x_\text{data} + \sqrt{1 - \bar\alpha_t}\; \varepsilon, \qquad
#    \varepsilon \sim \mathcal N(0, I), $$
#
# so a training example at any timestep costs one line, without running the chain. Write
# `alpha_bar(betas)` (shape $(T,)$; entry $t$ includes step $t$) and `q_sample(x0, t, eps, betas)`: `x0`
# holds a batch of clean samples of shape $(B, \dots)$ (points $(B, 2)$ or images $(B, 1, 8, 8)$), `t` an
# int array $(B,)$ with **one timestep per example**, `eps` noise of the shape of `x0`.

# %%
def alpha_bar(betas):
    """betas: (T,). Returns alpha_bar (T,): the product of (1 - beta_s) for s = 0..t."""
    raise NotImplementedError  # your code here


def q_sample(x0, t, eps, betas):
    """x0, eps: (B, ...); t: int array (B,) in 0..T-1. Returns x_t, the shape of x0."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.alpha_bar(alpha_bar)
check.q_sample(q_sample)

# %% [markdown]
# ## Use it
#
# The closed form is a statement about distributions: run the chain step by step on many copies of one
# point and compare the mean and standard deviation of $x_t$ with what the closed form predicts.

# %%
betas_demo = np.linspace(1e-3, 0.2, 100)                             # T = 100
rng = np.random.default_rng(0)
x = np.tile([[1.5, -0.5]], (20_000, 1))                              # 20 000 copies of one point
for step, beta in enumerate(betas_demo[:30]):                        # steps 0..29: x is x_29
    x = np.sqrt(1 - beta) * x + np.sqrt(beta) * rng.normal(size=x.shape)
closed = q_sample(np.array([[1.5, -0.5]]), np.array([29]), np.zeros((1, 2)), betas_demo)
print(f"chain:       mean {np.round(x.mean(0), 3)}, std {np.round(x.std(0), 3)}")
print(f"closed form: mean {np.round(closed[0], 3)}, std {np.sqrt(1 - alpha_bar(betas_demo)[29]):.3f}")

# %% [markdown]
# ## Task 2 · The signal-to-noise ratio
#
# In $x_t$ the signal term has variance $\bar\alpha_t$ (per unit of data variance) and the noise term
# $1 - \bar\alpha_t$. Their ratio, $\mathrm{SNR}(t) = \bar\alpha_t / (1 - \bar\alpha_t)$, falls from very
# large to nearly 0 over the schedule; where it crosses 1, noise starts to dominate. `snr(betas)` returns
# the array $\mathrm{SNR}(t)$ of shape $(T,)$ and `t_cross`, the first timestep (0-based, an int) at which
# the SNR is **strictly below 1**, or $T$ if it never is.

# %%
def snr(betas):
    """betas: (T,). Returns (snr (T,), t_cross): the first t with snr < 1, or T."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.snr(snr)

# %%
T = 100
f = np.cos((np.arange(T + 1) / T + 0.008) / 1.008 * np.pi / 2) ** 2      # the cosine schedule's alpha bar
cosine = np.clip(1 - f[1:] / f[:-1], 1e-5, 0.999)                         # its betas
for label, betas in (("linear 1e-3..0.2", betas_demo), ("cosine", cosine)):
    ratio, t_cross = snr(betas)
    print(f"{label:17s} SNR(0) = {ratio[0]:8.1f}, SNR(T-1) = {ratio[-1]:.1e}, crosses 1 at t = {t_cross}")

# %% [markdown]
# ## Task 3 · One reverse step of DDPM
#
# A trained network predicts the noise $\hat\varepsilon = \varepsilon_\theta(x_t, t)$ in $x_t$. DDPM's
# ancestral sampler then draws $x_{t-1}$ from a Gaussian with mean
#
# $$ \mu_\theta(x_t, t) = \frac{1}{\sqrt{\alpha_t}} \left( x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\,
#    \hat\varepsilon \right) $$
#
# and variance $\sigma_t^2 = \beta_t$: $x_{t-1} = \mu_\theta + \sigma_t z$ with $z \sim \mathcal N(0, I)$,
# except at the **last step $t = 0$**, which returns the mean alone (no noise is added to the final
# sample). `ddpm_step(x_t, t, eps_hat, betas, z)` does one such step for a batch at one timestep `t` (an
# int), with the noise `z` given (same shape as `x_t`).

# %%
def ddpm_step(x_t, t, eps_hat, betas, z):
    """x_t, eps_hat, z: (B, ...); t: int in 0..T-1. Returns x_{t-1} (the sample itself when t = 0)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.ddpm_step(ddpm_step)

# %% [markdown]
# ## Task 4 · A deterministic DDIM step
#
# DDIM (with $\eta = 0$) uses the same trained network but no fresh noise, and it may jump from $t$ to any
# earlier timestep $t_\text{prev}$. It first predicts the clean sample by inverting the closed form of
# Task 1, $\hat x_\text{data} = (x_t - \sqrt{1 - \bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}$, and
# then puts it back at the noise level of $t_\text{prev}$, reusing $\hat\varepsilon$ as the noise:
#
# $$ x_{t_\text{prev}} = \sqrt{\bar\alpha_{t_\text{prev}}}\; \hat x_\text{data}
#    + \sqrt{1 - \bar\alpha_{t_\text{prev}}}\; \hat\varepsilon . $$
#
# `t_prev = -1` means the clean data itself, where $\bar\alpha = 1$ (careful: `ab[-1]` in Python is the
# *last* entry of the schedule). `ddim_step(x_t, t, t_prev, eps_hat, betas)` returns $x_{t_\text{prev}}$.

# %%
def ddim_step(x_t, t, t_prev, eps_hat, betas):
    """x_t, eps_hat: (B, ...); t: int; t_prev: int, -1 <= t_prev < t. Returns x_{t_prev}."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.ddim_step(ddim_step)

# %% [markdown]
# ## Task 5 · Outcome: diffusion on the two moons
#
# Train a small diffusion model (in PyTorch) on the two moons and sample new points with it.
# `train_and_sample(X, n_samples, seed)` receives the 1 500 training points `X` (1500, 2) float32 of
# `data.make_toy("moons", n=2000, noise=0.05, seed=0)` and returns `n_samples` new points, an array
# (n_samples, 2). The check measures, for each of your 1 000 samples, the distance to the nearest of the
# 500 held-out real points, and requires the samples to cover both moons (each held-out point has a
# sample near it). **Target: mean distance 0.07.** For scale: held-out real points reach 0.027, a
# Gaussian with the data's mean and spread 0.21. Use your `ddpm_step` (or `ddim_step`) to sample, and
# keep the whole function under about 15 seconds.

# %%
def train_and_sample(X, n_samples, seed=0):
    """Train a diffusion model on X (N, 2) and return n_samples new points (n_samples, 2)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.diffusion_outcome(train_and_sample)

# %% [markdown]
# ## Think
#
# Answer each question in two or three sentences in the cell below it, then open the discussion.
#
# **(1)** The network is trained to predict the noise $\varepsilon$ that was added, not the clean sample or
# $x_{t-1}$. Why is that a convenient target?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# At small $t$, $x_t$ is almost the clean sample, so predicting the clean sample there is trivial and
# its error tiny; predicting the small residual noise is the hard, informative part. At large $t$ the
# opposite holds. Later work also uses "v-prediction", a mix of both, which behaves well at both ends
# of the schedule.
# </details>

# %% [markdown]
# **(2)** Each training step draws a random timestep $t$ per example instead of running the whole chain
# from $t = 0$ to $T - 1$. Why is this allowed, and why is it efficient?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The price is variance: some timesteps' terms are larger and noisier than others. Importance sampling of
# $t$, or schedules that spend more steps where the SNR crosses 1 (where the denoising is hardest to
# learn), reduce it. Sampling is the opposite: it has to run the chain, $T$ network evaluations per
# sample, which is what DDIM's jumps shorten.
# </details>

# %% [markdown]
# **(3)** Classifier-free guidance mixes the network's conditional and unconditional noise predictions
# with a guidance scale $w$. What does raising $w$ buy, and what does it cost?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# Guidance sharpens the conditional distribution, roughly $p(x \mid c)\,p(c \mid x)^{w}$: the same
# quality-versus-diversity trade as a low sampling temperature in a language model. Text-to-image systems
# pick a scale of a few units for this reason. It also costs compute: two network evaluations per step
# (or one on a doubled batch).
# </details>
