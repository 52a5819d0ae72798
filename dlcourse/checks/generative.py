"""Checks for the exercises of chapter 09 (autoencoders, VAEs and GANs).

Each check runs the student's function and a PyTorch reference (autograd for every gradient,
``torch.distributions.kl_divergence`` for the Gaussian KL, ``binary_cross_entropy_with_logits`` for the GAN
losses, all in float64) on random inputs and raises :class:`~dlcourse.checks.CheckFailed` at the first
difference. The cases include batch size 1, a one-dimensional latent, very negative and very positive
log-variances, and logits of size 40 to 1000, where a loss computed as ``log(sigmoid(x))`` overflows.
"""
from __future__ import annotations

import numpy as np

from . import call_student, check_outcome, CheckFailed, failing_case, hint, run_check

__all__ = ["reparameterize", "gaussian_kl", "discriminator_loss", "generator_loss", "autoencoder_outcome",
           "hint", "failing_case"]


def _torch():
    import torch

    return torch


def _latent_cases(seed, n=14):
    """(mu, log_var): (B, d) arrays, B = 1 and d = 1 included, log-variances from -6 to 4."""
    rng = np.random.default_rng(seed)
    cases = [(np.zeros((1, 2)), np.zeros((1, 2))),                              # q = N(0, I): KL 0
             (np.array([[1.0, -2.0]]), np.array([[0.0, np.log(4.0)]]))]         # by hand
    for i in range(n):
        B, d = (1 if i % 4 == 0 else int(rng.integers(2, 7))), (1 if i % 5 == 1 else int(rng.integers(2, 9)))
        cases.append((rng.normal(scale=1.5, size=(B, d)), rng.uniform(-6, 4, size=(B, d))))
    return cases


# ---- reparameterize -----------------------------------------------------------------------------
def _reference_reparameterize(mu, log_var, eps, grad_z):
    torch = _torch()
    m, lv = torch.tensor(mu, requires_grad=True), torch.tensor(log_var, requires_grad=True)
    z = m + torch.exp(0.5 * lv) * torch.from_numpy(eps)
    z.backward(torch.from_numpy(grad_z))
    return z.detach().numpy(), m.grad.numpy(), lv.grad.numpy()


def reparameterize(student, seed: int = 0) -> None:
    """Check ``reparameterize(mu, log_var, eps, grad_z) -> (z, grad_mu, grad_log_var)`` against autograd."""
    rng = np.random.default_rng(seed + 1)
    cases = [(mu, lv, rng.normal(size=mu.shape), rng.normal(size=mu.shape)) for mu, lv in _latent_cases(seed + 1)]
    run_check("reparameterize", student, _reference_reparameterize, cases, rtol=1e-9, atol=1e-12,
              arg_names=("mu", "log_var", "eps", "grad_z"), out_names=("z", "grad_mu", "grad_log_var"),
              hints=("The encoder outputs the logarithm of the variance, not the standard deviation: turn it "
                     "into a standard deviation first (a variance is a squared standard deviation). Then z is "
                     "the mean shifted by that standard deviation times the noise, and the chain rule gives "
                     "both gradients.",
                     "z depends on mu with slope 1 in every entry. It depends on log_var through "
                     "sigma = exp(log_var / 2), whose derivative with respect to log_var is sigma / 2: do not "
                     "forget the factor 1/2, nor the noise it multiplies."))


# ---- gaussian_kl --------------------------------------------------------------------------------
def _reference_kl(mu, log_var):
    torch = _torch()
    m, lv = torch.tensor(mu, requires_grad=True), torch.tensor(log_var, requires_grad=True)
    q = torch.distributions.Normal(m, torch.exp(0.5 * lv))
    p = torch.distributions.Normal(torch.zeros_like(m), torch.ones_like(m))
    kl = torch.distributions.kl_divergence(q, p).sum(dim=1)                  # (B,): summed over the latent
    kl.sum().backward()
    return kl.detach().numpy(), m.grad.numpy(), lv.grad.numpy()


def gaussian_kl(student, seed: int = 0) -> None:
    """Check ``gaussian_kl(mu, log_var) -> (kl (B,), grad_mu, grad_log_var)`` against
    ``torch.distributions.kl_divergence`` and autograd."""
    run_check("gaussian_kl", student, _reference_kl, _latent_cases(seed + 2), rtol=1e-9, atol=1e-12,
              arg_names=("mu", "log_var"), out_names=("kl", "grad_mu", "grad_log_var"),
              hints=("The encoder gives the LOG-variance: the variance is its exponential, and the formula's "
                     "log-variance term is log_var itself. Each example's KL adds the terms of its d latent "
                     "dimensions (a sum, not a mean).",
                     "Check your formula on two cases by hand: mu = 0 and log_var = 0 must give 0, and the KL "
                     "is never negative (the 1/2 in front belongs to every term). Differentiate term by term: "
                     "only the squared mean depends on mu; the exponential and the linear term depend on "
                     "log_var."))


# ---- the GAN losses -----------------------------------------------------------------------------
def _logits(rng, n, large):
    """Random logits; with ``large``, some of size 40 to 1000 of both signs (float64 overflows there)."""
    x = rng.normal(scale=3.0, size=n)
    if large:
        k = max(1, n // 3)
        x[rng.choice(n, k, replace=False)] = rng.choice([-1000.0, -60.0, -40.0, 40.0, 60.0, 1000.0], size=k)
    return x


def _reference_discriminator(real_logits, fake_logits, real_label):
    torch = _torch()
    F = torch.nn.functional
    r, f = torch.tensor(real_logits, requires_grad=True), torch.tensor(fake_logits, requires_grad=True)
    loss = (F.binary_cross_entropy_with_logits(r, torch.full_like(r, real_label))
            + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)))
    loss.backward()
    return float(loss.detach()), r.grad.numpy(), f.grad.numpy()


def discriminator_loss(student, seed: int = 0) -> None:
    """Check ``discriminator_loss(real_logits, fake_logits, real_label) -> (loss, grad_real, grad_fake)``."""
    rng = np.random.default_rng(seed + 3)
    cases = [(np.array([0.0]), np.array([0.0]), 1.0), (np.array([2.0, -1.0]), np.array([-3.0]), 1.0),
             (np.array([40.0, 1000.0]), np.array([-40.0, -1000.0]), 1.0),              # a confident D
             (np.array([-1000.0, -40.0]), np.array([60.0, 1000.0]), 1.0)]              # a fooled D
    for i in range(14):
        n_real, n_fake = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        cases.append((_logits(rng, n_real, i % 2 == 0), _logits(rng, n_fake, i % 3 == 0),
                      1.0 if i < 7 else float(rng.choice([0.9, 0.8]))))
    run_check("discriminator_loss", student, _reference_discriminator, cases, rtol=1e-9, atol=1e-12,
              arg_names=("real_logits", "fake_logits", "real_label"), out_names=("loss", "grad_real", "grad_fake"),
              hints=("The loss is binary cross-entropy with target real_label for the real logits and target 0 "
                     "for the fake ones, each averaged over its own batch, the two averages added. Write "
                     "-log(sigmoid(x)) and -log(1 - sigmoid(x)) as softplus(-x) and softplus(x): they are "
                     "equal in exact arithmetic, and only the softplus form survives a logit of 40 or 1000.",
                     "softplus(x) = log(1 + e^x) itself overflows for x = 1000; NumPy's logaddexp(0, x) "
                     "computes it stably. Its derivative is the sigmoid; compute the sigmoid so that it "
                     "neither overflows nor divides 0 by 0, and remember the 1/n of each average."))


def _reference_generator(fake_logits, saturating):
    torch = _torch()
    F = torch.nn.functional
    f = torch.tensor(fake_logits, requires_grad=True)
    if saturating:                                      # minimise E log(1 - D(G(z)))
        loss = -F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))
    else:                                               # minimise -E log D(G(z))
        loss = F.binary_cross_entropy_with_logits(f, torch.ones_like(f))
    loss.backward()
    return float(loss.detach()), f.grad.numpy()


def generator_loss(student, seed: int = 0) -> None:
    """Check ``generator_loss(fake_logits, saturating) -> (loss, grad_fake)``, both forms."""
    rng = np.random.default_rng(seed + 4)
    cases = [(np.array([0.0]), False), (np.array([-3.0, 2.0]), False), (np.array([-3.0, 2.0]), True),
             (np.array([-1000.0, -40.0, 40.0]), False), (np.array([-1000.0, -40.0, 40.0, 1000.0]), True)]
    for i in range(14):
        cases.append((_logits(rng, int(rng.integers(1, 9)), i % 2 == 0), bool(i % 3 == 1)))
    run_check("generator_loss", student, _reference_generator, cases, rtol=1e-9, atol=1e-12,
              arg_names=("fake_logits", "saturating"), out_names=("loss", "grad_fake"),
              hints=("Saturating: the generator MINIMISES the discriminator's own log(1 - D) term, averaged "
                     "over the batch (a negative number). Non-saturating: it minimises -log(D) instead, the "
                     "cross-entropy with target 1. Both have the same fixed point but very different gradients "
                     "where D rejects the fakes.",
                     "Express both with softplus (log(1 - sigmoid(x)) = -softplus(x), log(sigmoid(x)) = "
                     "-softplus(-x)) so that logits of 40 or 1000 give finite values; the derivative of "
                     "softplus is the sigmoid, and each average brings a factor 1/n."))


# ---- the outcome task -----------------------------------------------------------------------------
AUTOENCODER_TARGET, AUTOENCODER_MAX_CODE = 0.042, 2


def _reconstruction_error(encoder, decoder, X):
    torch = _torch()
    with torch.no_grad():
        x = torch.as_tensor(X)
        codes = encoder(x)
        recon = decoder(codes)
    return codes, recon


def autoencoder_outcome(student, seed: int = 0) -> None:
    """Train the student's autoencoder with ``student(X_train, seed) -> (encoder, decoder)`` on the 8x8 digits
    (``data.load_digits(val_size=0.2, seed=0)``) and require the mean squared reconstruction error per pixel on
    the validation digits, through a code of at most 2 numbers, to reach the target."""
    torch = _torch()
    from .. import data

    name = "train_autoencoder"
    split = data.load_digits(val_size=0.2, seed=0)
    hints = ("A nonlinear encoder and decoder (two hidden layers of about 100 ReLU units each) bend the 2-D code "
             "along the digits; a sigmoid at the decoder's output keeps pixels in [0, 1]. PCA with 2 components "
             "is the linear baseline to beat.",
             "Adam with minibatches of about 64 for 50 or more epochs, with a one-cycle learning-rate schedule "
             "peaking near 1e-2, trains it in about a second. For a VAE, the encoder you return gives the mean "
             "of q(z | x).")
    out = call_student(name, student, split.X_train, seed)
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(callable(m) for m in out)):
        raise CheckFailed(f"{name} should return (encoder, decoder), two torch modules, got "
                          f"{type(out).__name__}")
    encoder, decoder = out
    for m in out:
        if isinstance(m, torch.nn.Module):
            m.eval()
    codes, recon = _reconstruction_error(encoder, decoder, split.X_val)
    n = len(split.X_val)
    if codes.ndim != 2 or codes.shape[0] != n or codes.shape[1] > AUTOENCODER_MAX_CODE:
        raise CheckFailed(f"{name}: your encoder maps {split.X_val.shape} to codes of shape {tuple(codes.shape)}; "
                          f"expected ({n}, k) with k <= {AUTOENCODER_MAX_CODE}.")
    if tuple(recon.shape) != split.X_val.shape:
        raise CheckFailed(f"{name}: your decoder maps the codes to shape {tuple(recon.shape)}; expected "
                          f"{split.X_val.shape}, one value per pixel.")
    mse = float(((recon.double() - torch.as_tensor(split.X_val).double()) ** 2).mean())
    check_outcome(name, mse, AUTOENCODER_TARGET, higher_is_better=False,
                  what="validation reconstruction error (MSE per pixel)", hints=hints)
