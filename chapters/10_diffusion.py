# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10 · Diffusion models
#
# Destroying data is easy: add a little Gaussian noise, again and again, until nothing but noise is left.
# A diffusion model learns to undo one small step of that destruction. Run the learned step backwards from
# pure noise, a hundred times, and a new sample appears: a point on the two moons, a handwritten digit, or,
# with a text encoder and a few billion images, a photograph.
#
# ## Learning goals
#
# After this chapter you can
#
# - write the forward (noising) process in NumPy: the noise schedule $\beta_t$, $\bar\alpha_t$, the closed
#   form $q(x_t \mid x_0)$ and the signal-to-noise ratio, and check that $x_T \approx \mathcal N(0, I)$;
# - derive the DDPM reverse step from the posterior $q(x_{t-1}\mid x_t, x_0)$ and a network that predicts
#   the noise, and check it against PyTorch in float64;
# - train a noise-prediction network with the simplified loss $\lVert \epsilon - \epsilon_\theta(x_t, t)\rVert^2$,
#   an MLP on a 2-D toy and a small U-Net on the digits, and sample from it (ancestral sampling);
# - sample deterministically with DDIM in far fewer steps, and measure what the saved steps cost;
# - steer the samples with classifier-free guidance, and measure how the guidance scale trades diversity
#   for class confidence;
# - judge generated samples without downloads: distance to held-out real points, a classifier trained on
#   real digits, a kernel two-sample distance (MMD), always next to real data and noise as references.
#
# Lecture ideas covered: diffusion models (Sohl-Dickstein et al. 2015; DDPM, Ho et al. 2020) add noise in a
# forward process and learn to remove it in reverse, starting from pure noise; the forward process ends
# at (approximately) $\mathcal N(0, I)$; text-to-image models such as DALL-E 2 and Imagen.
#
# *Runs in ~70 s on a laptop CPU (one thread; training the digit U-Net takes 30 s of it).*

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import dlcourse
from dlcourse import data
from dlcourse.plots import image_grid
from dlcourse.sample_quality import digit_scorer, median_bandwidth, nearest_real, rbf_mmd2
from dlcourse.train import accuracy
from dlcourse.widgets.diffusion import DiffusionExplorer

rng, device = dlcourse.setup(seed=0, threads=1)   # one thread: these small networks gain nothing from more
print("PyTorch runs on:", device)

SCALE = 1                      # 1: the CPU-sized experiments whose claims are asserted; 2+: longer training,
                               # wider U-Net, more samples and seeds (for a GPU)
SEEDS = dlcourse.seeds(3 if SCALE == 1 else 5)   # the moons model is trained once per seed
T = 100                        # diffusion steps (DDPM used 1000; we rescale the schedule, see below)
MOONS_STEPS = 4000 * SCALE     # training steps of the moons MLP (fixed by the time budget)
MOON_LRS = (3e-3, 1e-2, 3e-2, 1e-1)   # learning rates compared on validation points; the best is used
DIGIT_STEPS = 1500 * SCALE     # training steps of the digit U-Net (fixed by the time budget, like its lr)
N_SAMPLES = 450                # generated digits per measurement (the size of the real test set)

# %% [markdown]
# ## Intuition
#
# **Forward: destroy.** Take a data point $x_0$ and, for $t = 1, \dots, T$, shrink it a little and add a
# little Gaussian noise:
#
# $$ x_t = \sqrt{1-\beta_t}\, x_{t-1} + \sqrt{\beta_t}\, \epsilon_t, \qquad \epsilon_t \sim \mathcal N(0, I). $$
#
# The variances $\beta_1 < \dots < \beta_T$ (the *noise schedule*) are fixed, not learned. The shrinking
# keeps the variance bounded: a data point with unit variance keeps unit variance at every step. After
# enough steps nothing of $x_0$ is left and $x_T \sim \mathcal N(0, I)$, whatever the data was.
#
# **Reverse: create.** If we could run this chain backwards, we could start from $x_T \sim \mathcal N(0, I)$,
# which is trivial to sample, and end at a data point. Each backward step $x_t \to x_{t-1}$ only removes
# a *little* noise, and for small $\beta_t$ it is again (almost) Gaussian. A neural network learns it. Ho,
# Jain and Abbeel (2020, *DDPM*) found a very simple way to train it: give the network a noised
# point $x_t$ and the step $t$, and ask it for the noise $\epsilon$ that was added, a plain regression.
# The idea itself is older (Sohl-Dickstein et al. 2015); DDPM made it produce high-quality images.
#
# **Why it matters.** Diffusion models generate most of today's images: DALL-E 2 (OpenAI 2022), Imagen
# (Google 2022) and Stable Diffusion (latent diffusion, Rombach et al. 2022) are diffusion models
# conditioned on a text embedding, steered with the *classifier-free guidance* we build at the end of this
# chapter on the digits.
#
# *A note on the slides:* the deck lists Make-A-Scene and Parti next to DALL-E 2 and Imagen as examples of
# diffusion models. They are text-to-image models, but not diffusion models: Make-A-Scene (Gafni et al. 2022)
# and Parti (Yu et al. 2022) are *autoregressive* transformers that generate an image as a sequence of
# discrete image tokens, one after another. And one deck dates diffusion models to "2021": the idea is from
# 2015 (Sohl-Dickstein et al.) and DDPM from 2020; 2021 is the year diffusion models overtook GANs on
# ImageNet (Dhariwal & Nichol, *Diffusion models beat GANs on image synthesis*) and the text-to-image
# systems above followed in 2022.
#
# ## NumPy reference
#
# ### The noise schedule and the closed form $q(x_t \mid x_0)$
#
# Composing the steps gives a closed form. With $\alpha_t = 1 - \beta_t$ and $\bar\alpha_t = \prod_{s \le t}
# \alpha_s$, a sum of independent Gaussians is Gaussian, and
#
# $$ q(x_t \mid x_0) = \mathcal N\!\left(\sqrt{\bar\alpha_t}\, x_0,\ (1-\bar\alpha_t) I\right), \qquad
# \text{i.e.}\quad x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1-\bar\alpha_t}\, \epsilon,\quad \epsilon\sim\mathcal N(0, I). $$
#
# So training never runs the chain: it draws a random $t$ and jumps there in one line. The *signal-to-noise
# ratio* $\mathrm{SNR}(t) = \bar\alpha_t / (1-\bar\alpha_t)$ falls from very large to almost 0.
#
# DDPM uses $T = 1000$ and $\beta_t$ growing linearly from $10^{-4}$ to $0.02$. We use $T = 100$ steps and
# scale the betas by $1000/T$ (from $10^{-3}$ to $0.2$), which keeps $\sum_t \beta_t$, and so
# $\bar\alpha_T \approx e^{-\sum_t \beta_t}$, about the same. Steps are indexed $t = 0, \dots, T-1$ in the
# code (`betas[0]` is $\beta_1$).

# %%
#| export diffusion
from dlcourse.validate import check_arg, check_array, check_float, check_int


def linear_betas(T: int, beta_start: float = 1e-4, beta_end: float = 0.02, reference_T: int = 1000):
    """DDPM's linear schedule, rescaled for T steps: beta_t from beta_start*r to beta_end*r, r = reference_T/T.

    With T = reference_T it is Ho et al.'s schedule (1e-4 .. 0.02 over 1000 steps); for fewer steps the
    betas grow so that the total noise (sum of betas) stays about the same. Returns (T,) float64.
    """
    check_int("T", T, 1)
    r = reference_T / T
    check_arg("beta_end", beta_end, 0 < beta_start <= beta_end and beta_end * r < 1,
              f"in [beta_start, {1 / r:g}) so that every beta_t = beta * {r:g} stays below 1")
    return np.linspace(beta_start * r, beta_end * r, T)              # (T,)


def alpha_bar(betas):
    """alpha_bar_t = prod_{s <= t} (1 - beta_s): the share of x_0's variance left at step t. (T,) -> (T,)."""
    betas = check_array("betas", betas, ndim=1, dtype_kind="f")
    check_arg("betas", "values outside (0, 1)", bool(np.all((betas > 0) & (betas < 1))), "in (0, 1)")
    return np.cumprod(1.0 - betas)


def snr(alpha_bars):
    """Signal-to-noise ratio alpha_bar / (1 - alpha_bar) of q(x_t | x_0), elementwise."""
    a = np.asarray(alpha_bars, dtype=np.float64)
    return a / (1.0 - a)


def _per_sample(coef, x):
    """Reshape a (B,) coefficient to (B, 1, ..., 1) so that it broadcasts over x's other axes."""
    return coef.reshape((-1,) + (1,) * (x.ndim - 1))


def q_step(x_prev, t, betas, noise):
    """One forward step: x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) noise (t an int index)."""
    beta = float(betas[t])
    return (1.0 - beta) ** 0.5 * x_prev + beta ** 0.5 * noise


def q_sample(x0, t, alpha_bars, noise):
    """The closed form: x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise, for a batch.

    x0, noise: (B, ...); t: (B,) integer steps (0-based) or one int; alpha_bars: (T,).
    Works on NumPy arrays and on torch tensors alike (pass alpha_bars as a tensor for torch).
    """
    check_arg("noise", tuple(noise.shape), tuple(noise.shape) == tuple(x0.shape), f"of x0's shape {tuple(x0.shape)}")
    a = alpha_bars[t]
    a = _per_sample(a, x0) if getattr(a, "ndim", 0) > 0 else float(a)   # one step per sample, or one for all
    return a ** 0.5 * x0 + (1 - a) ** 0.5 * noise


# %% [markdown]
# The schedule, and what it does to the two moons (standardised to zero mean and unit variance per axis)
# and to a digit (pixels scaled to $[-1, 1]$, the range DDPM uses for images):

# %% mystnb={"image": {"alt": "Two figures. The schedule over 100 steps: signal weight falls from 1 to 0 as noise weight rises, and the signal-to-noise ratio falls steeply. Then two moons and a digit noised at t = 1, 10, 25, 50, 100, fading into pure noise"}}
betas = linear_betas(T)                                          # (T,)
alpha_bars = alpha_bar(betas)                                    # (T,)
moons = data.make_toy("moons", n=4000, noise=0.05, test_size=0.5)
moons_val = data.make_toy("moons", n=4000, noise=0.05, test_size=0.5, seed=1).X_test   # (2000, 2) another draw
moon_mean, moon_std = moons.X_train.mean(0), moons.X_train.std(0)
X_moons = (moons.X_train - moon_mean) / moon_std                 # (2000, 2) standardised
digits = data.load_digits(flatten=False, val_size=0.2)          # train / validation / test digits
X_digits = digits.X_train * 2 - 1                                # (1077, 1, 8, 8) in [-1, 1]

fig, axes = plt.subplots(1, 2, figsize=(9, 3))
axes[0].plot(np.sqrt(alpha_bars), label=r"signal $\sqrt{\bar\alpha_t}$")
axes[0].plot(np.sqrt(1 - alpha_bars), label=r"noise $\sqrt{1-\bar\alpha_t}$")
axes[0].plot(betas, "k:", label=r"$\beta_t$")
axes[0].set(xlabel="step t", title="schedule (T = 100)")
axes[0].legend(fontsize=8)
axes[1].semilogy(snr(alpha_bars))
axes[1].axhline(1, color="gray", lw=0.8)
axes[1].set(xlabel="step t", ylabel=r"SNR = $\bar\alpha_t / (1-\bar\alpha_t)$", title="signal-to-noise ratio")
plt.tight_layout()
plt.show()

SHOW_T = (0, 9, 24, 49, T - 1)                  # 0-based indices of t = 1, 10, 25, 50, 100
fig, axes = plt.subplots(2, len(SHOW_T), figsize=(11, 4.4))
digit = X_digits[:1]                                             # (1, 1, 8, 8)
for j, t in enumerate(SHOW_T):
    xt = q_sample(X_moons, t, alpha_bars, rng.normal(size=X_moons.shape))     # (2000, 2)
    axes[0, j].scatter(xt[:, 0], xt[:, 1], s=1)
    axes[0, j].set(xlim=(-3.5, 3.5), ylim=(-3.5, 3.5), xticks=[], yticks=[],
                   title=f"t = {t + 1}, SNR = {snr(alpha_bars[t]):.3g}")
    dt = q_sample(digit, t, alpha_bars, rng.normal(size=digit.shape))        # (1, 1, 8, 8)
    axes[1, j].imshow(dt[0, 0], cmap="gray_r", vmin=-1.5, vmax=1.5)
    axes[1, j].axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# At $t = 10$ the moons are blurred but clearly there (SNR about 9); at $t = 25$ signal and noise weigh
# about the same (SNR about 1); by $t = 50$ (SNR 0.08) little of the shape is left. The digit survives
# longer to the eye (64 correlated pixels carry more signal than 2 numbers),
# but at $t = 100$ both are pure noise.
#
# **Try it.** Move the slider $t$: the same digit and the same moons, noised with the same $\epsilon$, only the
# weights $\sqrt{\bar\alpha_t}$ and $\sqrt{1-\bar\alpha_t}$ change. Where does the digit stop being readable,
# and what is the SNR there?

# %% tags=["remove-output"]
explorer = DiffusionExplorer(t=10, T=T)
explorer

# %% [markdown]
# Without a running kernel, e.g. in the web version, the slider below swaps precomputed figures: twelve
# steps from almost clean to pure noise.

# %%
dlcourse.widgets.precomputed(explorer, {"t": [1, 5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100]})

# %% [markdown]
# ### Two checks of the closed form, measured
#
# **It is the chain.** Iterating `q_step` $t$ times and jumping with `q_sample` must give the same
# distribution: mean $\sqrt{\bar\alpha_t}\,x_0$ and variance $1-\bar\alpha_t$. We run 20,000 chains from one
# point and compare the empirical moments (their sampling error is about $1/\sqrt{20000} \approx 0.007$).
#
# **It ends at $\mathcal N(0, I)$.** At $t = T$ the signal coefficient is $\sqrt{\bar\alpha_T}$; the whole
# training set pushed to $t = T$ should have mean 0, standard deviation 1, and no correlation with $x_0$ left.

# %%
x0 = np.array([1.5, -0.5])                                       # one data point
n_chains, t_check = 20_000, 30
chain = np.tile(x0, (n_chains, 1))                               # (20000, 2)
for t in range(t_check):
    chain = q_step(chain, t, betas, rng.normal(size=chain.shape))
jump = q_sample(np.tile(x0, (n_chains, 1)), t_check - 1, alpha_bars, rng.normal(size=chain.shape))
want_mean, want_var = np.sqrt(alpha_bars[t_check - 1]) * x0, 1 - alpha_bars[t_check - 1]
chain_err = max(np.abs(chain.mean(0) - want_mean).max(), np.abs(chain.var(0) - want_var).max())
jump_err = max(np.abs(jump.mean(0) - want_mean).max(), np.abs(jump.var(0) - want_var).max())
print(f"t = {t_check}: mean {want_mean.round(3)}, variance {want_var:.3f}; largest moment error: "
      f"chain {chain_err:.4f}, closed form {jump_err:.4f}")

end_stats = {}
for name, X in (("moons", X_moons), ("digits", X_digits.reshape(len(X_digits), -1))):
    xT = q_sample(X, T - 1, alpha_bars, rng.normal(size=X.shape))                # (N, D)
    corr = np.corrcoef(X.ravel(), xT.ravel())[0, 1]
    end_stats[name] = (xT.mean(), xT.std(), corr)
    print(f"{name:6s} at t = T: mean {xT.mean():+.4f}, std {xT.std():.4f}, corr(x_0, x_T) {corr:+.4f}")
print(f"signal coefficient sqrt(alpha_bar_T) = {np.sqrt(alpha_bars[-1]):.4f}")

# %% [markdown]
# ### The reverse step (DDPM)
#
# Going backwards needs $q(x_{t-1}\mid x_t)$, which depends on the whole data distribution. But *given*
# $x_0$, the backward step is a Gaussian in closed form (Bayes' rule on two Gaussians):
#
# $$ q(x_{t-1}\mid x_t, x_0) = \mathcal N\!\left(\tilde\mu_t,\ \tilde\beta_t I\right),\quad
# \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,x_0 + \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t,\quad
# \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t . $$
#
# We do not know $x_0$, but the closed form lets a network guess it: if $\epsilon_\theta(x_t, t)$ predicts the
# noise in $x_t$, then $\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\epsilon_\theta)/\sqrt{\bar\alpha_t}$. Put $\hat x_0$
# into $\tilde\mu_t$ and simplify:
#
# $$ x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\left(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,\epsilon_\theta(x_t, t)\right) + \sigma_t z,
# \qquad z \sim \mathcal N(0, I), $$
#
# with $\sigma_t^2 = \tilde\beta_t$ (or $\sigma_t^2 = \beta_t$; Ho et al. found both work) and no noise in the
# last step. This is *ancestral sampling*: $T$ network calls per sample. Training asks
# $\epsilon_\theta$ to predict the noise: DDPM's *simplified loss* is
# $\mathbb E_{x_0, t, \epsilon}\,\lVert \epsilon - \epsilon_\theta(\sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon,\ t)\rVert^2$,
# the variational bound with its per-step weights dropped.

# %%
#| export diffusion
def _step_index(t, alpha_bars, name="t"):
    check_int(name, t, 0)
    check_arg(name, t, t < len(alpha_bars), f"a step index below T = {len(alpha_bars)}")
    return int(t)


def predict_x0(x_t, t, eps_hat, alpha_bars):
    """x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps_hat) / sqrt(alpha_bar_t), for one step index t."""
    a = float(alpha_bars[_step_index(t, alpha_bars)])
    return (x_t - (1 - a) ** 0.5 * eps_hat) / a ** 0.5


def posterior(x0, x_t, t, betas, alpha_bars):
    """Mean and variance of q(x_{t-1} | x_t, x0) (t a 0-based index; for t = 0 the variance is 0)."""
    t = _step_index(t, alpha_bars)
    beta, a, a_prev = float(betas[t]), float(alpha_bars[t]), float(alpha_bars[t - 1]) if t > 0 else 1.0
    mean = (a_prev ** 0.5 * beta / (1 - a)) * x0 + ((1 - beta) ** 0.5 * (1 - a_prev) / (1 - a)) * x_t
    return mean, (1 - a_prev) / (1 - a) * beta


def ddpm_step(x_t, t, eps_hat, betas, alpha_bars, noise=None, variance="posterior"):
    """One ancestral step x_t -> x_{t-1} of DDPM (Ho et al. 2020, Algorithm 2).

    x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_hat) / sqrt(1 - beta_t) + sigma_t noise, with
    sigma_t^2 = the posterior variance ("posterior") or beta_t ("beta"); no noise at t = 0.
    x_t, eps_hat, noise: arrays or tensors of one shape; t: a 0-based int; noise is needed for t > 0.
    """
    t = _step_index(t, alpha_bars)
    check_arg("variance", variance, variance in ("posterior", "beta"), "'posterior' or 'beta'")
    beta, a = float(betas[t]), float(alpha_bars[t])
    mean = (x_t - beta / (1 - a) ** 0.5 * eps_hat) / (1 - beta) ** 0.5
    if t == 0:
        return mean
    check_arg("noise", noise, noise is not None, "an array of x_t's shape for t > 0 (the step adds noise)")
    var = beta * (1 - float(alpha_bars[t - 1])) / (1 - a) if variance == "posterior" else beta
    return mean + var ** 0.5 * noise


# %% [markdown]
# ### Fewer steps: DDIM
#
# Song, Meng and Ermon (2021, *DDIM*) noticed that the training loss only ever sees the marginals
# $q(x_t\mid x_0)$, never the chain, so the *same* trained $\epsilon_\theta$ serves other samplers. Their
# step jumps from $t$ to any earlier $t'$: predict $\hat x_0$, then re-noise it to level $t'$, reusing the
# predicted noise as the direction:
#
# $$ x_{t'} = \sqrt{\bar\alpha_{t'}}\,\hat x_0 + \sqrt{1-\bar\alpha_{t'}-\sigma^2}\;\epsilon_\theta(x_t, t) + \sigma z,
# \qquad \sigma = \eta\,\sqrt{\frac{1-\bar\alpha_{t'}}{1-\bar\alpha_t}}\sqrt{1-\frac{\bar\alpha_t}{\bar\alpha_{t'}}} . $$
#
# With $\eta = 0$ the sampler is **deterministic** (the same $x_T$ always gives the same sample) and can take
# 10 or 20 big steps instead of 100. With $\eta = 1$ and $t' = t-1$ it is exactly the DDPM step with
# $\sigma_t^2 = \tilde\beta_t$; we check that below.
#
# The network also needs to know $t$. Like a transformer's positions, $t$ enters as a *sinusoidal
# embedding*: sines and cosines of $t$ at geometrically spaced frequencies, so nearby steps get similar
# vectors and the network can read both coarse and fine differences.

# %%
#| export diffusion
def ddim_step(x_t, t, t_prev, eps_hat, alpha_bars, eta: float = 0.0, noise=None):
    """One DDIM step x_t -> x_{t_prev} (Song et al. 2021), t_prev < t; t_prev = -1 means "to x_0".

    eta = 0: deterministic; eta = 1 with t_prev = t - 1: the DDPM step with posterior variance.
    """
    t = _step_index(t, alpha_bars)
    check_int("t_prev", t_prev, -1)
    check_arg("t_prev", t_prev, t_prev < t, f"an earlier step than t = {t} (or -1 for the data)")
    check_float("eta", eta, 0.0, 1.0)
    a, a_prev = float(alpha_bars[t]), float(alpha_bars[t_prev]) if t_prev >= 0 else 1.0
    x0_hat = (x_t - (1 - a) ** 0.5 * eps_hat) / a ** 0.5
    sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)) ** 0.5
    out = a_prev ** 0.5 * x0_hat + max(1 - a_prev - sigma ** 2, 0.0) ** 0.5 * eps_hat
    if sigma > 0:
        check_arg("noise", noise, noise is not None, "an array of x_t's shape when eta > 0")
        out = out + sigma * noise
    return out


def timestep_embedding(t, dim: int, max_period: float = 10_000.0):
    """Sinusoidal embedding of integer steps: (...,) -> (..., dim), [sin(t f_k), cos(t f_k)], f_k = max_period^(-k/(dim/2))."""
    check_int("dim", dim, 2)
    check_arg("dim", dim, dim % 2 == 0, "even (half sines, half cosines)")
    t = np.asarray(t, dtype=np.float64)
    freqs = np.exp(-np.log(max_period) * np.arange(dim // 2) / (dim // 2))   # (dim/2,) from 1 down
    angles = t[..., None] * freqs                                             # (..., dim/2)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=-1)


# %% [markdown]
# A first NumPy check, before any network: give the reverse step the *true* noise $\epsilon$ that made
# $x_t$ from $x_0$. Then $\hat x_0 = x_0$ exactly, the DDPM mean must equal the posterior mean $\tilde\mu_t$,
# and a DDIM step with $\eta = 0$ from $t$ to $t' = -1$ must return $x_0$ itself.

# %%
x0 = rng.normal(size=(6, 2))                                     # (6, 2)
eps = rng.normal(size=x0.shape)
numpy_checks = {}
for t in (0, 1, 40, T - 1):
    xt = q_sample(x0, t, alpha_bars, eps)
    post_mean, post_var = posterior(x0, xt, t, betas, alpha_bars)
    numpy_checks[t] = (np.abs(ddpm_step(xt, t, eps, betas, alpha_bars, noise=0 * eps) - post_mean).max(),
                       np.abs(ddim_step(xt, t, -1, eps, alpha_bars) - x0).max())
    print(f"t = {t:2d}: |DDPM mean - posterior mean| = {numpy_checks[t][0]:.1e},  "
          f"|DDIM(t -> 0) - x_0| = {numpy_checks[t][1]:.1e},  posterior variance {post_var:.4f}")

# %% [markdown]
# ## Check against PyTorch
#
# Three checks in float64, on random inputs:
#
# 1. a reference written directly in PyTorch (the posterior form of the step: $\hat x_0$, then $\tilde\mu_t$
#    and $\tilde\beta_t$ with `torch` operations) against our NumPy `ddpm_step` (the simplified $\epsilon$ form);
# 2. our functions run unchanged on `torch` tensors (the training and sampling code below does that), and
#    must give the NumPy numbers;
# 3. DDIM with $\eta = 1$ and $t' = t-1$ against the DDPM step, with the same noise $z$.
#
# Expect differences at rounding level, around $10^{-15}$.

# %%
def torch_ddpm_reference(x_t, t, eps_hat, betas, z):
    """DDPM step x_t -> x_{t-1} via x0_hat and the posterior q(x_{t-1} | x_t, x0_hat), in torch."""
    b = torch.as_tensor(betas, dtype=torch.float64)
    ab = torch.cumprod(1 - b, 0)
    ab_prev = ab[t - 1] if t > 0 else torch.tensor(1.0, dtype=torch.float64)
    x0_hat = (x_t - torch.sqrt(1 - ab[t]) * eps_hat) / torch.sqrt(ab[t])
    mean = (torch.sqrt(ab_prev) * b[t] / (1 - ab[t])) * x0_hat \
        + (torch.sqrt(1 - b[t]) * (1 - ab_prev) / (1 - ab[t])) * x_t
    return mean + torch.sqrt((1 - ab_prev) / (1 - ab[t]) * b[t]) * z


torch_errors = []
for t in (0, 1, 17, 60, T - 1):
    x_t, eps_hat, z, x0 = (rng.normal(size=(4, 1, 8, 8)) for _ in range(4))      # (4, 1, 8, 8) each
    x_t_, eps_hat_, z_, x0_ = (torch.from_numpy(a) for a in (x_t, eps_hat, z, x0))  # float64 tensors
    ours = ddpm_step(x_t, t, eps_hat, betas, alpha_bars, noise=z)
    ref = torch_ddpm_reference(x_t_, t, eps_hat_, betas, z_).numpy()
    on_torch = ddpm_step(x_t_, t, eps_hat_, betas, alpha_bars, noise=z_).numpy()
    q_torch = q_sample(x0_, torch.full((4,), t), torch.from_numpy(alpha_bars), z_).numpy()
    ddim_1 = ddim_step(x_t, t, t - 1, eps_hat, alpha_bars, eta=1.0, noise=z) if t > 0 else ours
    errs = (np.abs(ours - ref).max(), np.abs(on_torch - ours).max(),
            np.abs(q_torch - q_sample(x0, t, alpha_bars, z)).max(), np.abs(ddim_1 - ours).max())
    torch_errors.append(max(errs))
    print(f"t = {t:2d}: DDPM vs torch reference {errs[0]:.1e}; on torch tensors: step {errs[1]:.1e}, "
          f"q_sample {errs[2]:.1e}; DDIM(eta=1) vs DDPM {errs[3]:.1e}")

# %% [markdown]
# ## PyTorch version
#
# ### A noise-prediction network for 2-D points
#
# For the moons, $\epsilon_\theta$ is an MLP that reads the point $x_t$ (2 numbers) next to the embedding
# of $t$ (32 numbers) and outputs 2 numbers, the predicted noise. The embeddings of all $T$ steps are computed
# once with our NumPy `timestep_embedding` and stored as a buffer.

# %%
class PointDenoiser(nn.Module):
    """eps_theta(x_t, t) for 2-D points: an MLP on [x_t, embedding(t)]. (B, 2), (B,) -> (B, 2)."""

    def __init__(self, T, width=64, emb_dim=32):
        super().__init__()
        self.register_buffer("t_table", torch.tensor(timestep_embedding(np.arange(T), emb_dim),
                                                     dtype=torch.float32))      # (T, emb_dim)
        self.net = nn.Sequential(nn.Linear(2 + emb_dim, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 2))

    def forward(self, x, t, y=None):                    # y: no class labels here
        return self.net(torch.cat([x, self.t_table[t]], dim=1))


# %% [markdown]
# Training is DDPM's Algorithm 1: draw data, a step $t$ and noise $\epsilon$, jump to $x_t$ with the closed
# form, regress the noise. With `label_drop > 0` (used for the digits later) some labels are replaced by a
# "no label" token, so that one network learns both the conditional and the unconditional model.

# %%
def train_denoiser(model, X, steps, lr, seed, y=None, batch_size=256, label_drop=0.0, null_label=None):
    """Fit eps_theta with the simplified loss |eps - eps_theta(x_t, t, y)|^2; returns the loss per step."""
    torch.manual_seed(seed)
    ab = torch.tensor(alpha_bars, dtype=torch.float32)                       # (T,)
    X = torch.as_tensor(X, dtype=torch.float32)                              # (N, ...)
    y = None if y is None else torch.as_tensor(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    losses = []
    for _ in range(steps):
        i = torch.randint(len(X), (batch_size,))
        t = torch.randint(T, (batch_size,))                                  # (B,) steps
        eps = torch.randn_like(X[i])                                         # (B, ...) target noise
        labels = None
        if y is not None:
            labels = y[i].clone()
            labels[torch.rand(batch_size) < label_drop] = null_label         # classifier-free training
        loss = F.mse_loss(model(q_sample(X[i], t, ab, eps), t, labels), eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return np.array(losses)


@torch.no_grad()
def sample_ddpm(model, shape, seed, y=None):
    """Ancestral sampling: x_T ~ N(0, I), then T DDPM steps. shape: (n, ...) -> samples of that shape."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    for t in reversed(range(T)):
        eps_hat = model(x, torch.full((shape[0],), t), y)
        x = ddpm_step(x, t, eps_hat, betas, alpha_bars, noise=torch.randn(shape, generator=g))
    return x.numpy()


# %% [markdown]
# ### A small U-Net for the digits
#
# For images, $\epsilon_\theta$ must output an image of the input's shape: the U-Net of chapter 08 (an
# encoder that halves the resolution, a decoder that doubles it back, skip connections between equal
# resolutions), here with one level ($8\times8 \to 4\times4 \to 8\times8$). Each block is a residual block
# (chapter 07) whose convolutions see the step $t$ and, optionally, the class $y$: their embeddings are
# added to every channel. Class index 10 is the "no label" token. DDPM's image U-Nets are built the same
# way, with more levels, more channels and self-attention at low resolutions.

# %%
class EmbBlock(nn.Module):
    """conv-GN-SiLU, + embedding per channel, conv-GN-SiLU, + shortcut. (B, c_in, H, W), (B, E) -> (B, c_out, H, W)."""

    def __init__(self, c_in, c_out, emb_dim):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_out, 3, padding=1), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.norm1, self.norm2 = nn.GroupNorm(4, c_out), nn.GroupNorm(4, c_out)
        self.emb = nn.Linear(emb_dim, c_out)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, e):
        h = F.silu(self.norm1(self.conv1(x))) + self.emb(e)[:, :, None, None]
        h = F.silu(self.norm2(self.conv2(h)))
        return h + self.shortcut(x)


class DigitUNet(nn.Module):
    """eps_theta(x_t, t, y) for (B, 1, 8, 8) digits in [-1, 1]; y in 0..9, or NULL_LABEL (or None) for "no label"."""

    def __init__(self, T, channels=16, emb_dim=32, n_classes=10):
        super().__init__()
        self.register_buffer("t_table", torch.tensor(timestep_embedding(np.arange(T), emb_dim),
                                                     dtype=torch.float32))      # (T, emb_dim)
        self.t_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU())
        self.label_emb = nn.Embedding(n_classes + 1, emb_dim)                    # last row: "no label"
        c = channels
        self.stem = nn.Conv2d(1, c, 3, padding=1)
        self.enc = EmbBlock(c, c, emb_dim)                                       # 8x8
        self.down = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)                  # 8x8 -> 4x4
        self.mid = EmbBlock(2 * c, 2 * c, emb_dim)                               # 4x4
        self.up = nn.ConvTranspose2d(2 * c, c, 2, stride=2)                      # 4x4 -> 8x8
        self.dec = EmbBlock(2 * c, c, emb_dim)                                   # [up, skip] -> c
        self.head = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, x, t, y=None):
        if y is None:
            y = torch.full((len(x),), NULL_LABEL)
        e = self.t_mlp(self.t_table[t]) + self.label_emb(y)                    # (B, emb_dim)
        skip = self.enc(self.stem(x), e)                                         # (B, c, 8, 8)
        h = self.mid(self.down(skip), e)                                         # (B, 2c, 4, 4)
        h = self.dec(torch.cat([self.up(h), skip], dim=1), e)                    # (B, c, 8, 8)
        return self.head(h)                                                      # (B, 1, 8, 8)


NULL_LABEL = 10
print(f"DigitUNet: {sum(p.numel() for p in DigitUNet(T).parameters()):,} parameters")

# %% [markdown]
# ### DDIM sampling and classifier-free guidance
#
# **Classifier-free guidance** (Ho & Salimans 2021): the network was trained with the label dropped
# 20% of the time, so it predicts both $\epsilon_\theta(x_t, t, y)$ and $\epsilon_\theta(x_t, t, \varnothing)$. At
# sampling time, move *beyond* the conditional prediction, away from the unconditional one:
#
# $$ \tilde\epsilon = \epsilon_\theta(x_t, t, \varnothing) + w\,\big(\epsilon_\theta(x_t, t, y) - \epsilon_\theta(x_t, t, \varnothing)\big). $$
#
# $w = 0$ is the unconditional model, $w = 1$ the conditional one, $w > 1$ exaggerates what makes a sample
# look like class $y$. In text-to-image models $y$ is the embedding of the prompt, and $w$ is the
# "guidance scale" setting (typically 3 to 10). Both predictions come from one batched call.

# %%
@torch.no_grad()
def sample_ddim(model, shape, n_steps, seed, labels=None, guidance=1.0):
    """Deterministic DDIM (eta = 0) on n_steps evenly spaced steps; with labels, classifier-free guidance w."""
    g = torch.Generator().manual_seed(seed)
    n = shape[0]
    x = torch.randn(shape, generator=g)                                      # x_T
    steps = np.linspace(T - 1, 0, n_steps).round().astype(int)               # e.g. 99, 88, ..., 0
    null = torch.full((n,), NULL_LABEL)
    for k, t in enumerate(steps):
        t_prev = int(steps[k + 1]) if k + 1 < n_steps else -1
        tt = torch.full((n,), int(t))
        if labels is None:
            eps_hat = model(x, tt, null)
        else:                                                                # one call, 2n images
            both = model(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([labels, null]))
            eps_hat = both[n:] + guidance * (both[:n] - both[n:])
        x = ddim_step(x, int(t), t_prev, eps_hat, alpha_bars)
    return x.numpy()

# %% [markdown]
# ## Experiments
#
# ### DDPM on the two moons
#
# How do we know that samples are good? On a 2-D toy we can look, and measure: for each sample, the
# distance to the nearest point of a **held-out** real set (not the training set, which a model could copy),
# averaged, and the share of samples farther than 0.1 from every real point ("off the data"). Two reference
# points frame each number: real training points (as good as it gets) and samples of $\mathcal N(0, I)$ (the
# sampler's starting point, mapped back to the data's scale). We also print the kernel MMD (bandwidth: the
# median distance between real points); its numbers are tiny and depend on that bandwidth, so we
# read the distances first.
#
# There are two held-out sets, as in every chapter: **validation** points (a second draw of the moons, 2000
# points) for choosing settings, and the **test** points for reporting. Every number below is measured on
# the test points, except in the one cell that chooses the learning rate.

# %%
def to_moons(x):                                                     # standardised -> data coordinates
    return x * moon_std + moon_mean


n_show = 1000
moon_bw = median_bandwidth(moons.X_test)
moon_refs = {"real (training points)": moons.X_train[:n_show],
             "noise N(0, I)": to_moons(rng.normal(size=(n_show, 2)))}
for name, S in moon_refs.items():
    d, off = nearest_real(S, moons.X_test)
    print(f"{name:24s} nearest-real distance {d:.3f}, off the data {off:6.1%}, "
          f"MMD^2 {rbf_mmd2(S, moons.X_test, moon_bw):.4f}")

# %% [markdown]
# **Choosing the learning rate on validation points.** The number of training steps is fixed by the time
# budget; the learning rate is not obvious, so we train one MLP (first seed) with each of four learning
# rates, sample it, and keep the rate whose samples lie closest to the *validation* points. A rate that is
# too large can make training diverge; its samples are then not finite and count as infinitely far. The
# test points play no part in this choice.

# %%
def train_moons(seed, lr):
    """A moons MLP initialised and trained from `seed` with learning rate lr; returns (model, losses)."""
    torch.manual_seed(seed)
    model = PointDenoiser(T)
    return model, train_denoiser(model, X_moons, MOONS_STEPS, lr=lr, seed=seed)


start = time.process_time()
lr_runs, lr_val = {}, {}
for lr in MOON_LRS:
    lr_runs[lr] = train_moons(SEEDS[0], lr)
    S = to_moons(sample_ddpm(lr_runs[lr][0], (n_show, 2), seed=SEEDS[0]))            # (1000, 2)
    lr_val[lr] = nearest_real(S, moons_val) if np.isfinite(S).all() else (np.inf, 1.0)   # diverged: inf
    print(f"lr {lr:.0e}: validation nearest-real distance {lr_val[lr][0]:.3f}, off the data {lr_val[lr][1]:6.1%}")
MOON_LR = min(MOON_LRS, key=lambda lr: lr_val[lr][0])                    # lowest validation distance
print(f"chosen learning rate: {MOON_LR:g} ({time.process_time() - start:.1f} s CPU)")

# %% [markdown]
# With the chosen rate, one MLP per seed (3 of them; the first seed's model is the one trained above), now
# measured on the test points:

# %%
moon_results, moon_samples, moon_losses = {}, {}, {}
start = time.process_time()
for seed in SEEDS:
    model, moon_losses[seed] = lr_runs[MOON_LR] if seed == SEEDS[0] else train_moons(seed, MOON_LR)
    moon_samples[seed] = to_moons(sample_ddpm(model, (n_show, 2), seed=seed))    # (1000, 2)
    d, off = nearest_real(moon_samples[seed], moons.X_test)
    moon_results[seed] = (d, off, rbf_mmd2(moon_samples[seed], moons.X_test, moon_bw))
    print(f"seed {seed}: DDPM samples  nearest-real distance {d:.3f}, off the data {off:6.1%}, "
          f"MMD^2 {moon_results[seed][2]:.4f}")
print(f"{len(SEEDS)} models sampled, {len(SEEDS) - 1} of them trained here, in {time.process_time() - start:.1f} s CPU")

# %% mystnb={"image": {"alt": "Two-moons training data, Gaussian noise, and DDPM samples that reproduce the two moons closely; the training losses of three seeds fall quickly and then flatten together"}}
fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
panels = (("training data", moons.X_train[:n_show]), ("noise N(0, I)", moon_refs["noise N(0, I)"]),
          (f"DDPM samples (seed {SEEDS[0]})", moon_samples[SEEDS[0]]))
for ax, (title, P) in zip(axes, panels):
    ax.scatter(P[:, 0], P[:, 1], s=2)
    ax.set(title=title, xlim=(-2, 3), ylim=(-1.5, 2), xticks=[], yticks=[])
for seed in SEEDS:
    axes[3].plot(np.convolve(moon_losses[seed], np.ones(100) / 100, mode="valid"), label=f"seed {seed}")
axes[3].set(title="training loss (moving average)", xlabel="step", ylim=(0, 1))
axes[3].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### A referee for generated digits
#
# For images we cannot look at a density. Instead, a small classifier trained on *real* digits (the judge
# `dlcourse.sample_quality.digit_scorer`, also used for the generators of chapter 09) reads the generated
# ones: a good sample is recognised with high confidence (max softmax probability), and good samples
# together cover all 10 classes (a class counts when at least 2% of the samples are confidently read as it). Confidence alone can be fooled, so we also compute a pixel-space
# RBF kernel MMD between the samples and the real test digits. Three references: real validation digits
# (never seen by the referee or the generator), Gaussian noise clipped to $[-1, 1]$, and real digits with
# their pixels shuffled (the right pixel values in the wrong places).

# %%
referee = digit_scorer()              # an MLP 64-128-10 trained on the real training digits (pixels in [0, 1])
print(f"referee accuracy on the real test digits: {referee.test_accuracy:.3f}")
real_test = digits.X_test.reshape(-1, 64)                                # (450, 64) in [0, 1]
digit_bw = median_bandwidth(real_test)


def digit_scores(S):
    """Referee confidence, share above 0.9, classes covered, labels read, and MMD^2 to the real test digits.

    S: (N, 1, 8, 8) in [-1, 1], mapped back to the data's [0, 1] pixels."""
    pixels = (S.reshape(len(S), 64) + 1) / 2                             # (N, 64)
    scores = referee.score(pixels, threshold=0.9)
    scores["predicted"] = referee.probabilities(pixels).argmax(1)        # (N,)
    scores["mmd"] = rbf_mmd2(pixels, real_test, digit_bw)
    return scores


def show_scores(name, s):
    print(f"{name:28s} confidence {s['confidence']:.3f}, > 0.9: {s['confident']:5.1%}, "
          f"classes {s['classes']:2d}, MMD^2 {s['mmd']:.4f}")


X_val_digits = digits.X_val * 2 - 1                                      # (270, 1, 8, 8)
shuffled = np.stack([x.ravel()[rng.permutation(64)] for x in X_val_digits]).reshape(X_val_digits.shape)
digit_refs = {"real (validation digits)": X_val_digits,
              "noise (clipped N(0, I))": np.clip(rng.normal(size=(N_SAMPLES, 1, 8, 8)), -1, 1),
              "shuffled pixels": shuffled}
digit_ref_scores = {name: digit_scores(S) for name, S in digit_refs.items()}
for name, s in digit_ref_scores.items():
    show_scores(name, s)

# %% [markdown]
# The referee is easily fooled: it has never seen noise, yet it must answer with some digit, and it reads
# many noise and shuffled-pixel images with high confidence. What it does not do is spread them over the
# classes the way real digits are spread (some classes get almost none), and the MMD is not fooled at all:
# for the kernel, shuffled digits are almost as far from real ones as noise is. So confidence alone proves
# nothing; we read the measures together, and the sharpest test of the referee comes with guidance below,
# where we know which digit each sample *should* be.
#
# ### DDPM on the digits
#
# One U-Net is trained for all the digit experiments, with the label dropped 20% of the time; without a
# label it is an unconditional model. Its training settings (1500 steps, learning rate $3\cdot10^{-3}$,
# label dropout 20%), like the sampler settings compared below (5 to 50 DDIM steps, guidance scales 0 to 4),
# are fixed in advance by the time budget, not tuned: a second training run would double the chapter's
# time. The one setting chosen from data, the default guidance scale, is chosen on the validation digits.
# First, plain ancestral sampling: 100 DDPM steps, no label.

# %% mystnb={"image": {"alt": "Thirty unconditional DDPM samples of 8x8 digits with the referee label above each: most are recognisable digits of varied classes"}}
unet = DigitUNet(T)
start = time.process_time()
unet_losses = train_denoiser(unet, X_digits, DIGIT_STEPS, lr=3e-3, seed=SEEDS[0], y=digits.y_train,
                             batch_size=128, label_drop=0.2, null_label=NULL_LABEL)
print(f"U-Net trained for {DIGIT_STEPS} steps in {time.process_time() - start:.1f} s CPU; "
      f"final loss (average of the last 100 steps) {unet_losses[-100:].mean():.3f}")

start = time.process_time()
ddpm_digits = np.clip(sample_ddpm(unet, (N_SAMPLES, 1, 8, 8), seed=SEEDS[0]), -1, 1)   # (450, 1, 8, 8)
ddpm_time = time.process_time() - start
ddpm_scores = digit_scores(ddpm_digits)
show_scores(f"DDPM, {T} steps ({ddpm_time:.1f} s)", ddpm_scores)
image_grid(ddpm_digits[:30], labels=ddpm_scores["predicted"][:30],
           title="unconditional DDPM samples (referee's label above)")
plt.show()

# %% [markdown]
# ### DDIM: fewer steps, measured
#
# The same network, sampled deterministically with DDIM on 5, 10, 20 and 50 of the 100 steps, from the
# same starting noise (same seed). Each step is one network call, so the time falls in proportion.

# %% mystnb={"image": {"alt": "Sample quality against sampling steps: DDIM MMD to real digits falls and its confident share rises from 5 to 50 steps, nearing 100-step DDPM; all stay above the real-digit MMD"}}
DDIM_STEPS = (5, 10, 20, 50)
ddim_scores, ddim_times, ddim_digits = {}, {}, {}
for n_steps in DDIM_STEPS:
    start = time.process_time()
    ddim_digits[n_steps] = np.clip(sample_ddim(unet, (N_SAMPLES, 1, 8, 8), n_steps, seed=SEEDS[0]), -1, 1)
    ddim_times[n_steps] = time.process_time() - start
    ddim_scores[n_steps] = digit_scores(ddim_digits[n_steps])
    show_scores(f"DDIM, {n_steps:3d} steps ({ddim_times[n_steps]:.1f} s)", ddim_scores[n_steps])
show_scores(f"DDPM, {T} steps ({ddpm_time:.1f} s)", ddpm_scores)
again = np.clip(sample_ddim(unet, (N_SAMPLES, 1, 8, 8), 5, seed=SEEDS[0]), -1, 1)
ddim_deterministic = bool(np.array_equal(again, ddim_digits[5]))          # same x_T -> same samples
print("DDIM (eta = 0) run twice from the same noise gives identical samples:", ddim_deterministic)

fig, axes = plt.subplots(1, 2, figsize=(9, 3))
axes[0].plot(DDIM_STEPS, [ddim_scores[k]["mmd"] for k in DDIM_STEPS], "o-", label="DDIM")
axes[0].plot([T], [ddpm_scores["mmd"]], "s", label="DDPM")
axes[0].axhline(digit_ref_scores["real (validation digits)"]["mmd"], color="g", ls=":", label="real digits")
axes[0].set(xscale="log", yscale="log", xlabel="sampling steps", ylabel="MMD$^2$ to real (lower is better)")
axes[1].plot(DDIM_STEPS, [ddim_scores[k]["confident"] for k in DDIM_STEPS], "o-", label="DDIM")
axes[1].plot([T], [ddpm_scores["confident"]], "s", label="DDPM")
axes[1].set(xscale="log", xlabel="sampling steps", ylabel="share with confidence > 0.9")
for ax in axes:
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Classifier-free guidance: confidence against diversity
#
# Now we ask for a class: 45 samples of each digit, from the same starting noise, with 20 DDIM steps and
# guidance scales $w = 0$ (no label), 1 (plain conditional), 2 and 4. For each scale we measure how often
# the referee reads the requested class, its confidence, the MMD to the real digits, and the *diversity*:
# the mean pixel distance between two samples of the same requested class (for real test digits of one
# class it is printed as a reference).
#
# A text-to-image system ships with a *default* guidance scale. We choose ours on the **validation** digits:
# among the conditional scales ($w \ge 1$), the one whose samples are closest to real validation digits
# (lowest MMD). The numbers printed per scale are measured on the test digits, as everywhere else.

# %%
def within_class_diversity(S, labels):
    """Mean Euclidean pixel distance between two different samples of the same label, averaged over labels."""
    flat = S.reshape(len(S), -1)
    per_class = []
    for c in np.unique(labels):
        G = flat[labels == c]                                            # (n_c, 64)
        d = np.sqrt(((G[:, None] - G[None]) ** 2).sum(-1))               # (n_c, n_c)
        per_class.append(d.sum() / (len(G) * (len(G) - 1)))
    return float(np.mean(per_class))


GUIDANCE = (0.0, 1.0, 2.0, 4.0)
wanted = np.arange(N_SAMPLES) % 10                                       # 45 of each digit
real_diversity = within_class_diversity(digits.X_test * 2 - 1, digits.y_test)   # same [-1, 1] scale
real_val = digits.X_val.reshape(-1, 64)                                  # (270, 64) validation digits
val_bw = median_bandwidth(real_val)
guided, guided_digits, val_mmd = {}, {}, {}
for w in GUIDANCE:
    S = np.clip(sample_ddim(unet, (N_SAMPLES, 1, 8, 8), 20, seed=SEEDS[0], labels=torch.tensor(wanted),
                            guidance=w), -1, 1)
    val_mmd[w] = rbf_mmd2((S.reshape(len(S), 64) + 1) / 2, real_val, val_bw)   # for the choice only
    s = digit_scores(S)
    s["match"] = accuracy(s["predicted"], wanted)                        # requested class read
    s["diversity"] = within_class_diversity(S, wanted)
    guided[w], guided_digits[w] = s, S
    print(f"w = {w:3.1f}: requested class read {s['match']:6.1%}, confidence {s['confidence']:.3f}, "
          f"diversity {s['diversity']:.2f}, MMD^2 {s['mmd']:.4f}")
print(f"real test digits: diversity {real_diversity:.2f}")
W_DEFAULT = min((w for w in GUIDANCE if w >= 1), key=val_mmd.get)        # chosen on validation digits
print("validation MMD^2 per scale:", {w: round(v, 4) for w, v in val_mmd.items()},
      f"-> default guidance scale w = {W_DEFAULT:g}")

# %% mystnb={"image": {"alt": "Guided samples for digits 0 to 9: with guidance w = 1 (top rows) some digits are hard to read, with w = 4 (bottom rows) every requested digit is clear, thicker and the two rows look more alike"}}
show = np.concatenate([guided_digits[w][:20] for w in (1.0, 4.0)])          # (40, 1, 8, 8)
image_grid(show, labels=np.tile(np.arange(10), 4), title="guidance w = 1 (top two rows) and w = 4 (bottom two)")
plt.show()

# %% [markdown]
# Guidance does what text-to-image users see when they raise the guidance scale: the requested class
# becomes unmistakable (the referee reads it more often, and more confidently), and the samples of one class
# become more alike (lower diversity). Past some scale the images drift away from real digits, thicker
# and more contrasted: the MMD to real digits rises again at $w = 4$. Without a label ($w = 0$) the
# requested class is read only at chance level (10%), as it should be. The default scale chosen on the
# validation digits (printed above) is a moderate one, where the requested class is already read reliably
# and the samples are still close to real digits; the claims below check that it holds up on the test digits.
#
# ### What this scale does not show
#
# - **Image quality at scale.** 8x8 digits and 100 steps are a caricature of 256x256 photographs and 1000
#   steps; what carries over is the mechanics (schedule, closed form, noise prediction, samplers, guidance)
#   and the measured trade-offs, not the absolute quality.
# - **Few steps are not free.** At this size, 20 DDIM steps match 100 DDPM steps on our measures, while 5
#   steps are clearly worse. Larger models on larger images need more than 20 steps without dedicated
#   samplers or distillation.
# - **The digit claims rest on one trained U-Net** (training it is most of this chapter's time); we checked
#   that they also hold for U-Nets trained from other seeds. The moons claims hold for each of the 3 models.
# - **Few settings are tuned.** Only the moons learning rate and the default guidance scale are chosen, on
#   validation data. The training lengths, the U-Net's learning rate and label dropout, and the samplers'
#   step counts are fixed in advance by the time budget: the digit results are those of a reasonable model,
#   not of a tuned one. Every number the claims check is measured on the test data.
#
# ## Claims checked
#
# The thresholds leave room below (or above) every value printed above; the noise and shuffled-pixel
# references are the yardsticks.

# %%
# NBVAL_CHECK_OUTPUT
assert chain_err < 0.05 and jump_err < 0.05
print(f"forward process: iterating {t_check} one-step noisings and the closed form q(x_t | x_0) give the same "
      "mean and variance (within sampling error)")

assert np.sqrt(alpha_bars[-1]) < 0.01
assert all(abs(m) < 0.06 and abs(s - 1) < 0.05 and abs(c) < 0.06 for m, s, c in end_stats.values())
print("x_T is N(0, I) as measured: moons and digits pushed to t = T have mean ~0, std ~1 and no correlation "
      "with x_0 (signal coefficient < 0.01)")

assert all(max(errs) < 1e-10 for errs in numpy_checks.values())
print("given the true noise, the DDPM mean is the posterior mean and DDIM (eta = 0) recovers x_0")

assert max(torch_errors) < 1e-12
print("DDPM step = a PyTorch reference (float64); q_sample and ddpm_step run on torch tensors with the same "
      "results; DDIM with eta = 1 is the DDPM step")

noise_d, noise_off = nearest_real(moon_refs["noise N(0, I)"], moons.X_test)
assert all(d < noise_d / 3 and off < noise_off / 3 for d, off, _ in moon_results.values())
print(f"moons, all {len(SEEDS)} seeds, learning rate chosen on validation points: DDPM samples lie < 1/3 as far "
      "from the test points as noise does, and < 1/3 as many are off the data")

noise_s = digit_ref_scores["noise (clipped N(0, I))"]
shuffled_s = digit_ref_scores["shuffled pixels"]
assert ddpm_scores["classes"] == 10
assert ddpm_scores["mmd"] < noise_s["mmd"] / 10 and ddpm_scores["mmd"] < shuffled_s["mmd"] / 10
assert guided[1.0]["match"] > 0.7
print("digits: DDPM samples cover all 10 classes and are > 10x closer to real digits (MMD) than noise or "
      "shuffled pixels; asked for a class (w = 1), the referee reads the requested digit > 70% of the time "
      "(chance: 10%)")

mmd_at = {k: ddim_scores[k]["mmd"] for k in DDIM_STEPS}
assert ddim_deterministic
assert mmd_at[5] > mmd_at[10] > mmd_at[50] and mmd_at[5] > 2 * mmd_at[50]
assert mmd_at[20] < 2 * ddpm_scores["mmd"]
print("DDIM: deterministic; fewer steps cost quality (MMD at 5 steps > 10 steps > 50 steps, 5 steps > 2x "
      "worse than 50); 20 steps stay within 2x of 100 DDPM steps")

conf = [guided[w]["confidence"] for w in GUIDANCE]
div = [guided[w]["diversity"] for w in GUIDANCE]
assert conf[0] < conf[1] < conf[2] and conf[-1] > 0.95
assert min(guided[w]["match"] for w in GUIDANCE if w >= 2) > 0.9
assert all(a > b for a, b in zip(div, div[1:])) and guided[4.0]["mmd"] > 2 * guided[1.0]["mmd"]
best_mmd = min(guided[w]["mmd"] for w in GUIDANCE if w >= 1)
assert guided[W_DEFAULT]["match"] > 0.7 and guided[W_DEFAULT]["mmd"] < guided[0.0]["mmd"]
assert guided[W_DEFAULT]["mmd"] < 1.5 * best_mmd
print("the default guidance scale, chosen on validation digits, holds up on the test digits: the requested "
      "class is read > 70% of the time, its samples are closer to real digits (MMD) than unguided ones, and "
      "within 1.5x of the best scale's MMD")

print("classifier-free guidance: raising w from 0 to 2 raises the referee's confidence; w >= 2 gives the "
      "requested class > 90% of the time; diversity falls at every step of w, and w = 4 is > 2x farther "
      "from real digits (MMD) than w = 1")

# %% [markdown]
# ## Summary
#
# - **Forward process:** $x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon$ with
#   $\bar\alpha_t = \prod_{s\le t}(1-\beta_s)$: one line instead of $t$ noising steps (same mean and variance,
#   measured). The SNR $\bar\alpha_t/(1-\bar\alpha_t)$ falls from large to about $2\cdot10^{-5}$, and $x_T$ is
#   $\mathcal N(0, I)$ whatever the data.
# - **DDPM:** a network $\epsilon_\theta(x_t, t)$ (with a sinusoidal embedding of $t$) regresses the added
#   noise (the simplified loss). The reverse step is the posterior $q(x_{t-1}\mid x_t, \hat x_0)$:
#   $x_{t-1} = (x_t - \beta_t\,\epsilon_\theta/\sqrt{1-\bar\alpha_t})/\sqrt{\alpha_t} + \sigma_t z$. Ancestral
#   sampling takes $T$ network calls.
# - On the moons, an MLP's samples lie on the data (distance to held-out points close to that of real
#   points, far below noise), for each seed. On the digits, a small U-Net's samples cover all classes and
#   are close to real digits by MMD; a classifier trained on real digits and a kernel two-sample distance,
#   next to real and noise references, judge samples without any download.
# - **DDIM** reuses the trained network with a deterministic sampler on fewer steps: 20 steps match 100
#   DDPM steps here, 5 steps are measurably worse.
# - **Classifier-free guidance** trains one network with and without the label and extrapolates between
#   the two predictions: a larger scale $w$ gives more recognisable, less diverse samples, and too large a
#   scale leaves the data distribution. Text-to-image diffusion models (DALL-E 2, Imagen, Stable Diffusion)
#   guide with a text embedding in place of our class label.
#
# **Further reading.** Sohl-Dickstein et al. (2015), *Deep unsupervised learning using nonequilibrium
# thermodynamics*; Ho, Jain & Abbeel (2020), *Denoising diffusion probabilistic models*; Song, Meng & Ermon
# (2021), *Denoising diffusion implicit models*; Nichol & Dhariwal (2021), *Improved denoising diffusion
# probabilistic models*; Dhariwal & Nichol (2021), *Diffusion models beat GANs on image synthesis*; Ho &
# Salimans (2021), *Classifier-free diffusion guidance*; Rombach et al. (2022), *High-resolution image
# synthesis with latent diffusion models*.
#
# **Exercises:** [exercises/10_diffusion](../exercises/10_diffusion.ipynb): the forward noising closed form
# and one reverse (DDPM) step in NumPy, each checked against a reference implementation, with questions to
# answer in words.
