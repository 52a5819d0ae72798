# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 09 · Autoencoders, VAEs and GANs
#
# Four tasks from chapter 09 and three questions. The chapter trains its VAE and GANs with PyTorch's
# autograd and its built-in losses. Here you write the pieces autograd hides, with their gradients, in
# NumPy: Task 1 the reparameterisation trick, Task 2 the Gaussian KL term of the ELBO, Task 3 the
# discriminator's loss and the two generator losses, computed so that they stay finite for very confident
# discriminators. Task 4 is an outcome task: train your own autoencoder on the digits to a stated
# reconstruction error through a code of two numbers.
#
# Each **check** cell compares your function with PyTorch (autograd, `torch.distributions.kl_divergence`,
# `binary_cross_entropy_with_logits`, in float64) on random inputs and names the first thing that is
# wrong. `check.hint("name")` gives a nudge (call it again for a stronger one), and
# `check.failing_case("name")` returns the inputs of the case that failed, to run your function on.
# Replace every `raise NotImplementedError` with NumPy code (no PyTorch inside Tasks 1-3).
#
# Shapes: a batch of $B$ examples with a $d$-dimensional latent code gives `mu` and `log_var` of shape
# $(B, d)$: the encoder's mean and **log-variance** $\log \sigma^2$ of $q(z \mid x) = \mathcal N(\mu,
# \operatorname{diag}\sigma^2)$.

# %%
import numpy as np
import torch
from torch import nn

import dlcourse
from dlcourse import data
from dlcourse.checks import generative as check

dlcourse.set_threads(1)      # small networks train faster on one thread than on several competing ones


# %% [markdown]
# ## Task 1 · The reparameterisation trick and its gradients
#
# A VAE samples its code $z \sim \mathcal N(\mu, \sigma^2)$ (each dimension independently). Written as
# $z = \mu + \sigma \odot \varepsilon$ with $\varepsilon \sim \mathcal N(0, I)$ drawn *outside* the network
# and $\sigma = \exp(\tfrac12 \log\sigma^2)$, the sample is a differentiable function of the encoder's
# outputs. `reparameterize(mu, log_var, eps, grad_z)` returns $z$ and, given the upstream gradient
# $G = \partial\mathcal L/\partial z$ (`grad_z`, same shape), the gradients of $\mathcal L$ with respect
# to `mu` and `log_var`: the backward pass autograd runs through this line of the chapter's VAE.

# %%
def reparameterize(mu, log_var, eps, grad_z):
    """mu, log_var, eps, grad_z: (B, d). Returns (z, grad_mu, grad_log_var), each (B, d)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.reparameterize(reparameterize)

# %% [markdown]
# ## Task 2 · The Gaussian KL term in closed form, and its gradients
#
# The ELBO's regulariser is $\mathrm{KL}\big(q(z\mid x)\,\|\,\mathcal N(0, I)\big)$. For a diagonal
# Gaussian it has a closed form, a sum over the $d$ latent dimensions:
#
# $$ \mathrm{KL} = \frac12 \sum_{j=1}^{d} \left( \sigma_j^2 + \mu_j^2 - 1 - \log \sigma_j^2 \right). $$
#
# `gaussian_kl(mu, log_var)` returns the KL of **each example** (shape $(B,)$, summed, not averaged, over
# the latent dimensions) and the gradients of the batch total $\sum_b \mathrm{KL}_b$ with respect to `mu`
# and `log_var` (shape $(B, d)$ each). Remember which of the encoder's outputs you are given: the
# log-variance.

# %%
def gaussian_kl(mu, log_var):
    """mu, log_var: (B, d). Returns (kl (B,), grad_mu (B, d), grad_log_var (B, d))."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.gaussian_kl(gaussian_kl)

# %% [markdown]
# ## Task 3 · GAN losses that stay finite
#
# The discriminator outputs a **logit** $\ell$; $D = \operatorname{sigmoid}(\ell)$ is its probability that
# the input is real. Its loss is the binary cross-entropy with target `real_label` (1, or 0.9 with the
# one-sided label smoothing the chapter measures) on a batch of real logits and target 0 on a batch of
# fake logits, each averaged over its own batch, the two averages added:
#
# $$ \mathcal L_D = \frac{1}{n_r}\sum_i \mathrm{BCE}(\ell^{r}_i, y) + \frac{1}{n_f}\sum_j \mathrm{BCE}(\ell^{f}_j, 0),
#    \qquad \mathrm{BCE}(\ell, y) = -y \log D - (1 - y)\log(1 - D). $$
#
# The generator has two candidate losses on the fake logits: the **saturating** one of the original
# minimax game, $\frac1n\sum_j \log(1 - D(\ell^f_j))$, and the **non-saturating** one,
# $-\frac1n\sum_j \log D(\ell^f_j)$; both are minimised. Return each loss with its gradient with respect
# to the logits. A confident discriminator produces logits like $\pm 40$ or $\pm 1000$: in float64,
# $\operatorname{sigmoid}(40)$ rounds to exactly 1, so `np.log(1 - sigmoid(x))` gives $-\infty$. The
# checks use such logits; your losses must stay finite and exact there.

# %%
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    """real_logits: (n_r,); fake_logits: (n_f,). Returns (loss (float), grad_real (n_r,), grad_fake (n_f,))."""
    raise NotImplementedError  # your code here


def generator_loss(fake_logits, saturating=False):
    """fake_logits: (n,). Returns (loss (float), grad_fake (n,)) of the saturating or non-saturating loss."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.discriminator_loss(discriminator_loss)
check.generator_loss(generator_loss)

# %% [markdown]
# ## Use it
#
# Early in training the discriminator rejects the generator's samples easily: their logits are very
# negative. Compare the gradient each generator loss sends back to such a sample with the gradient it
# sends once the discriminator is fooled.

# %%
logits = np.array([-8.0, -4.0, 0.0, 4.0])       # D = 0.0003, 0.018, 0.5, 0.98
for saturating in (True, False):
    loss, grad = generator_loss(logits, saturating)
    name = "saturating    " if saturating else "non-saturating"
    print(f"{name}: |gradient| per sample = " + "  ".join(f"{g:.4f}" for g in np.abs(grad) * len(logits)))

# %% [markdown]
# ## Task 4 · Outcome: a 2-D code for the digits
#
# Chapter 09 compares PCA with linear and nonlinear autoencoders at equal code size. Build and train your
# own (an autoencoder or a VAE, in PyTorch) that squeezes each 8×8 digit through a code of **at most 2
# numbers**. `train_autoencoder(X, seed)` receives the 1 077 training digits `X` (1077, 64) float32 with
# pixels in $[0, 1]$, from `data.load_digits(val_size=0.2, seed=0)`, and returns `(encoder, decoder)`:
# two `torch.nn.Module`s, the encoder mapping (B, 64) float32 digits to (B, k) codes with $k \le 2$ (for
# a VAE: the mean of $q(z \mid x)$), the decoder mapping the codes back to (B, 64) reconstructions. The
# check measures the mean squared error per pixel on the 270 validation digits, which your code never
# sees. **Target: 0.042.** For scale: PCA with 2 components gives 0.054, with 4 components 0.038. Keep
# the training under about 10 seconds.

# %%
def train_autoencoder(X, seed=0):
    """Train an encoder (64 -> k <= 2) and a decoder (k -> 64) on X (N, 64); return (encoder, decoder)."""
    raise NotImplementedError  # your code here


# %% tags=["check"]
check.autoencoder_outcome(train_autoencoder)

# %% [markdown]
# ## Think
#
# Answer each question in two or three sentences in the cell below it, then open the discussion.
#
# **(1)** Why does a VAE need the reparameterisation trick? What would go wrong if the encoder's output
# were used to draw $z$ with `torch.normal(mu, sigma)` and the loss backpropagated as usual?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The alternative for non-reparameterisable distributions is the score-function (REINFORCE) estimator,
# $\nabla_\phi \mathbb E_q[f] = \mathbb E_q[f\, \nabla_\phi \log q]$: unbiased, but with a variance so large
# that it needs many samples or baselines. The trick works for any distribution that is a differentiable
# transform of fixed noise (Gaussians, and with relaxations even discrete ones: Gumbel-softmax).
# </details>

# %% [markdown]
# **(2)** Your "Use it" cell printed the gradient each generator loss sends to a fake sample. Why do GANs
# train the generator with the non-saturating loss, although the saturating one is the game the theory
# analyses?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# Goodfellow et al. (2014) already proposed the switch for this reason. The saturating loss is the
# Jensen-Shannon game of the theory; the non-saturating one corresponds to a different divergence, but in
# practice it is what makes the generator move at all when the two distributions barely overlap.
# </details>

# %% [markdown]
# **(3)** What is mode collapse, how did the chapter see it on the ring of 8 Gaussians, and why does the
# GAN objective not prevent it?

# %% [markdown] tags=["answer"]
# YOUR ANSWER HERE

# %% [markdown]
# <details><summary>Discussion</summary>
#
# A VAE does not collapse in this way, because its reconstruction term needs a code for every training
# example (it covers the modes, at the price of blurry samples). Remedies for GANs change what the
# discriminator sees (minibatch discrimination, unrolled or stale discriminators, label smoothing) or the
# distance being minimised (Wasserstein GANs). Measuring coverage (modes or classes reached) rather than
# looking at a few good samples is how the chapter detects it.
# </details>
