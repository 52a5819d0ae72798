"""Checks for the exercises of chapter 10 (diffusion models).

Each check runs the student's function and a reference (PyTorch in float64 for the closed form
:math:`q(x_t \\mid x_0)`; for the reverse steps a reference written in another, equivalent form: the DDPM
posterior mean through the predicted clean sample, the DDIM step as a combination of :math:`x_t` and the
predicted noise) on random schedules and inputs, and raises :class:`~dlcourse.checks.CheckFailed` at the
first difference. Timesteps index from 0: ``betas[0]`` is the first noising step. The cases include the
first and the last timestep, batch size 1, 2-D points and 8x8 images, and DDIM jumps over several steps.
"""
from __future__ import annotations

import numpy as np

from . import call_student, check_outcome, CheckFailed, failing_case, hint, run_check

__all__ = ["alpha_bar", "q_sample", "snr", "ddpm_step", "ddim_step", "diffusion_outcome", "hint", "failing_case"]


def _torch():
    import torch

    return torch


def _schedules(seed, n=10):
    """Noise schedules: linear ones of DDPM's shape, cosine ones, and random increasing ones; T from 1 to 200."""
    rng = np.random.default_rng(seed)
    out = [np.linspace(1e-4, 0.02, 1000)[::10] * 10, np.array([0.5]), np.array([0.1, 0.2, 0.3])]
    for i in range(n):
        T = int(rng.integers(2, 201))
        if i % 3 == 0:
            s = np.arange(T + 1) / T
            f = np.cos((s + 0.008) / 1.008 * np.pi / 2) ** 2
            out.append(np.clip(1 - f[1:] / f[:-1], 1e-5, 0.999))
        else:
            out.append(np.sort(rng.uniform(1e-4, rng.uniform(0.05, 0.5), size=T)))
    return out


def _reference_alpha_bar(betas):
    torch = _torch()
    return torch.cumprod(1 - torch.from_numpy(betas), dim=0).numpy()


def alpha_bar(student, seed: int = 0) -> None:
    """Check ``alpha_bar(betas) -> (T,)`` against ``torch.cumprod``."""
    run_check("alpha_bar", student, _reference_alpha_bar, [(b,) for b in _schedules(seed)], rtol=1e-10,
              atol=1e-14, arg_names=("betas",),
              hints=("One noising step keeps a fraction alpha_t = 1 - beta_t of the signal's variance. After "
                     "several steps, the fractions of all of them have been applied, one after the other.",
                     "Entry t includes step t itself (t counts from 0): for T = 1 the result is the single "
                     "value 1 - beta_0. The result is a running product, not a sum and not a product of the "
                     "betas."))


def _sample_cases(seed):
    """(x0, t, eps, betas): x0 of shape (B, 2) or (B, 1, 8, 8), t an int array (B,) with 0 and T - 1."""
    rng = np.random.default_rng(seed)
    cases = []
    for i, betas in enumerate(_schedules(seed)):
        T = len(betas)
        B = 1 if i % 4 == 0 else int(rng.integers(2, 7))
        shape = (B, 2) if i % 2 == 0 else (B, 1, 8, 8)
        t = rng.integers(0, T, size=B)
        t[0] = [0, T - 1][i % 2]
        cases.append((rng.normal(size=shape), t, rng.normal(size=shape), betas))
    return cases


def _reference_q_sample(x0, t, eps, betas):
    torch = _torch()
    ab = torch.cumprod(1 - torch.from_numpy(betas), dim=0)[torch.from_numpy(t)]
    ab = ab.reshape(-1, *([1] * (x0.ndim - 1)))
    return (ab.sqrt() * torch.from_numpy(x0) + (1 - ab).sqrt() * torch.from_numpy(eps)).numpy()


def q_sample(student, seed: int = 0) -> None:
    """Check ``q_sample(x0, t, eps, betas) -> x_t`` (same shape as x0) against the closed form in torch."""
    run_check("q_sample", student, _reference_q_sample, _sample_cases(seed + 1), rtol=1e-9, atol=1e-12,
              arg_names=("x0", "t", "eps", "betas"),
              hints=("The closed form scales the clean sample and the noise by the square roots of what is left "
                     "of the signal's variance after t + 1 steps and of what the noise has added: the two "
                     "variances sum to 1. Use the cumulative product (alpha bar), not the one-step alpha.",
                     "t holds one timestep per example: pick the example's alpha bar by indexing with t (t is "
                     "already 0-based), then reshape it to (B, 1, ...) so that it broadcasts over the other "
                     "axes of x0, which may be (B, 2) or (B, 1, 8, 8)."))


# ---- snr ----------------------------------------------------------------------------------------
def _reference_snr(betas):
    ab = _reference_alpha_bar(betas)
    ratio = ab / (1 - ab)
    below = np.flatnonzero(ratio < 1)
    return ratio, int(below[0]) if len(below) else len(betas)


def snr(student, seed: int = 0) -> None:
    """Check ``snr(betas) -> (snr (T,), t_cross)``."""
    cases = [(b,) for b in _schedules(seed + 2)]
    cases += [(np.full(5, 0.01),), (np.array([0.4, 0.2, 0.1]),)]          # never below 1 (t_cross = T); 1 step
    run_check("snr", student, _reference_snr, cases, rtol=1e-9, atol=1e-12, arg_names=("betas",),
              out_names=("snr", "t_cross"),
              hints=("The signal-to-noise ratio compares the VARIANCES of the two terms of x_t: the signal keeps "
                     "alpha bar, the noise brings the rest. t_cross is the first 0-based timestep whose ratio is "
                     "below 1 (strictly), or T if there is none.",
                     "The ratio is variance over variance, not a ratio of standard deviations and not alpha bar "
                     "alone. It falls monotonically with t: the first index where it is below 1, not the last "
                     "index where it is still at least 1; an int, not an array."))


# ---- ddpm_step ----------------------------------------------------------------------------------
def _step_cases(seed, ddim=False):
    """(x_t, t, [t_prev,] eps_hat, betas[, z]): t = 0 and t = T - 1 included."""
    rng = np.random.default_rng(seed)
    cases = []
    for i, betas in enumerate(_schedules(seed, n=14)):
        T = len(betas)
        shape = (1 if i % 4 == 0 else int(rng.integers(2, 6)), 2) if i % 2 == 0 else (2, 1, 8, 8)
        t = [0, T - 1, int(rng.integers(0, T))][i % 3]
        x, e = rng.normal(size=shape), rng.normal(size=shape)
        if ddim:
            t_prev = [-1, t - 1, int(rng.integers(-1, t)) if t > 0 else -1][i % 3] if t > 0 else -1
            if i % 5 == 2 and t > 3:
                t_prev = int(rng.integers(-1, t - 2))                          # a jump over several steps
            cases.append((x, t, t_prev, e, betas))
        else:
            cases.append((x, t, e, betas, rng.normal(size=shape)))
    return cases


def _reference_ddpm_step(x_t, t, eps_hat, betas, z):
    """Through the predicted clean sample: x0_hat, then q(x_{t-1} | x_t, x0_hat)'s mean."""
    ab = _reference_alpha_bar(betas)
    ab_prev = ab[t - 1] if t > 0 else 1.0
    x0_hat = (x_t - np.sqrt(1 - ab[t]) * eps_hat) / np.sqrt(ab[t])
    mean = (np.sqrt(ab_prev) * betas[t] / (1 - ab[t]) * x0_hat
            + np.sqrt(1 - betas[t]) * (1 - ab_prev) / (1 - ab[t]) * x_t)
    return mean + np.sqrt(betas[t]) * z if t > 0 else mean


def ddpm_step(student, seed: int = 0) -> None:
    """Check ``ddpm_step(x_t, t, eps_hat, betas, z) -> x_{t-1}``."""
    run_check("ddpm_step", student, _reference_ddpm_step, _step_cases(seed + 3), rtol=1e-8, atol=1e-10,
              arg_names=("x_t", "t", "eps_hat", "betas", "z"),
              hints=("Remove the predicted noise, with the weight beta_t / sqrt(1 - alpha bar_t), and undo the "
                     "step's shrinking of the signal. The one-step alpha_t appears in that division; alpha bar "
                     "only in the noise weight.",
                     "The new noise has standard deviation sqrt(beta_t), not beta_t. At t = 0 the step gives "
                     "the mean alone: the last step of sampling adds no noise."))


# ---- ddim_step ----------------------------------------------------------------------------------
def _reference_ddim_step(x_t, t, t_prev, eps_hat, betas):
    """x_prev = sqrt(ab_prev / ab_t) x_t + (sqrt(1 - ab_prev) - sqrt(ab_prev (1 - ab_t) / ab_t)) eps_hat."""
    ab = _reference_alpha_bar(betas)
    a, a_prev = ab[t], (ab[t_prev] if t_prev >= 0 else 1.0)
    return (np.sqrt(a_prev / a) * x_t
            + (np.sqrt(1 - a_prev) - np.sqrt(a_prev * (1 - a) / a)) * eps_hat)


def ddim_step(student, seed: int = 0) -> None:
    """Check ``ddim_step(x_t, t, t_prev, eps_hat, betas) -> x_{t_prev}`` (eta = 0, t_prev = -1: the data)."""
    run_check("ddim_step", student, _reference_ddim_step, _step_cases(seed + 4, ddim=True), rtol=1e-8,
              atol=1e-10, arg_names=("x_t", "t", "t_prev", "eps_hat", "betas"),
              hints=("Predict the clean sample from x_t and eps_hat (invert the closed form of Task 1), then "
                     "noise it again deterministically to the level of t_prev, reusing eps_hat as the noise.",
                     "The target level is alpha bar at t_prev, which may be several steps before t. t_prev = -1 "
                     "means the clean data, where alpha bar is 1: in Python, index -1 would silently give the "
                     "LAST entry instead."))


# ---- the outcome task -----------------------------------------------------------------------------
DIFFUSION_TARGET, DIFFUSION_MAX_COVERAGE, DIFFUSION_SAMPLES = 0.07, 0.04, 1000
DIFFUSION_DATA = dict(n=2000, noise=0.05, seed=0)             # 1500 training, 500 held-out points


def _nearest(a, b):
    """For each row of a, the distance to the nearest row of b."""
    d2 = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None] - 2 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0)).min(axis=1)


def diffusion_outcome(student, seed: int = 0) -> None:
    """Train the student's diffusion model and sample with ``student(X_train, n_samples, seed) -> (n, 2)`` on
    ``data.make_toy("moons", **DIFFUSION_DATA)``; the mean distance from each sample to its nearest held-out
    real point must reach the target, and the samples must cover the held-out points."""
    from .. import data

    name = "train_and_sample"
    split = data.make_toy("moons", **DIFFUSION_DATA)
    real = split.X_test.astype(np.float64)
    hints = ("Standardise the points first; a noise-prediction MLP (three hidden layers of about 128 units) that "
             "receives x_t together with a sine/cosine embedding of t, trained with the simplified loss at random "
             "t, then ancestral sampling with your ddpm_step.",
             "About 100 timesteps with a cosine schedule, Adam at a few times 1e-3 with a one-cycle schedule, "
             "batches of a few hundred and a few thousand steps; map the samples back to the data's scale.")
    samples = call_student(name, student, split.X_train, DIFFUSION_SAMPLES, seed)
    if hasattr(samples, "detach"):
        samples = samples.detach().cpu().numpy()
    samples = np.asarray(samples, dtype=np.float64)
    if samples.shape != (DIFFUSION_SAMPLES, 2):
        raise CheckFailed(f"{name} should return {DIFFUSION_SAMPLES} samples of shape ({DIFFUSION_SAMPLES}, 2), "
                          f"got shape {samples.shape}")
    if not np.isfinite(samples).all():
        raise CheckFailed(f"{name}: {int((~np.isfinite(samples)).any(1).sum())} of your samples are not finite")
    copied = float(np.mean(_nearest(samples, split.X_train.astype(np.float64)) < 1e-6))
    if copied > 0.5:
        raise CheckFailed(f"{name}: {copied:.0%} of your samples are training points: return new samples drawn "
                          f"from your model, not the data.")
    distance, coverage = float(_nearest(samples, real).mean()), float(_nearest(real, samples).mean())
    if distance <= DIFFUSION_TARGET and coverage > DIFFUSION_MAX_COVERAGE:
        raise CheckFailed(f"{name}: your samples lie near the data but miss part of it: a held-out point is on "
                          f"average {coverage:.3f} from its nearest sample (at most {DIFFUSION_MAX_COVERAGE} is "
                          f"needed; real points: 0.02). Do they cover both moons?")
    check_outcome(name, distance, DIFFUSION_TARGET, higher_is_better=False,
                  what="mean distance from a sample to its nearest held-out point", hints=hints)
