"""Chapter 10 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/10_diffusion.py, see checks_harness.py)."""
import numpy as np
import pytest
import torch

from checks_harness import assert_fails, blank, check_tests, solution, two_hints
from dlcourse import data
from dlcourse.checks import diffusion as check

RIGHT = solution("10_diffusion")


def _col(v, x):
    """v (B,) reshaped to broadcast over x (B, ...)."""
    return v.reshape(-1, *([1] * (x.ndim - 1)))


# ---- Task 1: alpha_bar and q_sample --------------------------------------------------------------
def alpha_bar_one_step(betas):
    """alpha_t instead of alpha bar."""
    return 1.0 - betas


def alpha_bar_product_of_betas(betas):
    return np.cumprod(betas)


def alpha_bar_one_minus_cumsum(betas):
    return 1.0 - np.cumsum(betas)


def alpha_bar_exclusive(betas):
    """Off by one: entry t stops before step t (alpha bar of t - 1, with 1 at t = 0)."""
    return np.concatenate([[1.0], np.cumprod(1.0 - betas)[:-1]])


def q_sample_uses_alpha(x0, t, eps, betas):
    a = _col((1.0 - betas)[t], x0)
    return np.sqrt(a) * x0 + np.sqrt(1 - a) * eps


def q_sample_no_sqrt(x0, t, eps, betas):
    ab = _col(RIGHT.alpha_bar(betas)[t], x0)
    return ab * x0 + (1 - ab) * eps


def q_sample_t_minus_one(x0, t, eps, betas):
    """Treats t as 1-based: alpha bar of t - 1 (and of the last step for t = 0)."""
    ab = _col(RIGHT.alpha_bar(betas)[t - 1], x0)
    return np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps


def q_sample_t_plus_one(x0, t, eps, betas):
    ab = _col(RIGHT.alpha_bar(betas)[t + 1], x0)
    return np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps


def q_sample_noise_weight_sqrt_beta(x0, t, eps, betas):
    ab = _col(RIGHT.alpha_bar(betas)[t], x0)
    return np.sqrt(ab) * x0 + _col(np.sqrt(betas[t]), x0) * eps


def q_sample_no_reshape(x0, t, eps, betas):
    """alpha bar (B,) broadcast against the LAST axis of x0: a shape error, or silently wrong."""
    ab = RIGHT.alpha_bar(betas)[t]
    return (np.sqrt(ab) * x0.T + np.sqrt(1 - ab) * eps.T).T if x0.ndim == 2 and len(x0) == 2 else \
        np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps


def q_sample_one_t_for_all(x0, t, eps, betas):
    """Uses the first example's timestep for the whole batch."""
    return RIGHT.q_sample(x0, np.full_like(t, t[0]), eps, betas)


# ---- Task 2: snr -----------------------------------------------------------------------------------
def snr_std_ratio(betas):
    """A ratio of standard deviations: crosses 1 at the same t, but is not the SNR."""
    ratio, t_cross = RIGHT.snr(betas)
    return np.sqrt(ratio), t_cross


def snr_alpha_bar_only(betas):
    ab = RIGHT.alpha_bar(betas)
    below = np.flatnonzero(ab < 0.5)
    return ab, int(below[0]) if len(below) else len(betas)


def snr_last_above(betas):
    """The last t with SNR >= 1 instead of the first with SNR < 1."""
    ratio, _ = RIGHT.snr(betas)
    above = np.flatnonzero(ratio >= 1)
    return ratio, int(above[-1]) if len(above) else len(betas)


def snr_argmax_without_none(betas):
    """argmax of (snr < 1) is 0 when the SNR never falls below 1."""
    ratio, _ = RIGHT.snr(betas)
    return ratio, int(np.argmax(ratio < 1))


def snr_one_based(betas):
    ratio, t_cross = RIGHT.snr(betas)
    return ratio, t_cross + 1


def snr_array_index(betas):
    ratio, _ = RIGHT.snr(betas)
    return ratio, np.flatnonzero(ratio < 1)[:1]


# ---- Task 3: ddpm_step ---------------------------------------------------------------------------
def _ddpm(x_t, t, eps_hat, betas, z, divide=True, alpha_bar_in_division=False, noise_at_0=False,
          sigma_beta=False, weight_one_step=False, ab_prev=False):
    ab = RIGHT.alpha_bar(betas)
    abt = ab[t - 1] if ab_prev else ab[t]
    w = betas[t] / np.sqrt(betas[t] if weight_one_step else 1.0 - abt)
    mean = x_t - w * eps_hat
    if divide:
        mean = mean / np.sqrt(ab[t] if alpha_bar_in_division else 1.0 - betas[t])
    sigma = betas[t] if sigma_beta else np.sqrt(betas[t])
    return mean + sigma * z if (t > 0 or noise_at_0) else mean


def ddpm_no_division(x_t, t, eps_hat, betas, z):
    return _ddpm(x_t, t, eps_hat, betas, z, divide=False)


def ddpm_alpha_bar_for_alpha(x_t, t, eps_hat, betas, z):
    return _ddpm(x_t, t, eps_hat, betas, z, alpha_bar_in_division=True)


def ddpm_noise_at_zero(x_t, t, eps_hat, betas, z):
    return _ddpm(x_t, t, eps_hat, betas, z, noise_at_0=True)


def ddpm_sigma_beta(x_t, t, eps_hat, betas, z):
    return _ddpm(x_t, t, eps_hat, betas, z, sigma_beta=True)


def ddpm_one_step_noise_weight(x_t, t, eps_hat, betas, z):
    """beta_t / sqrt(1 - alpha_t) instead of beta_t / sqrt(1 - alpha bar_t)."""
    return _ddpm(x_t, t, eps_hat, betas, z, weight_one_step=True)


def ddpm_alpha_bar_of_t_minus_one(x_t, t, eps_hat, betas, z):
    return _ddpm(x_t, t, eps_hat, betas, z, ab_prev=True)


# ---- Task 4: ddim_step ---------------------------------------------------------------------------
def _ddim(x_t, t, t_prev, eps_hat, betas, prev=None, direction=True):
    ab = RIGHT.alpha_bar(betas)
    p = t_prev if prev is None else prev
    a_prev = ab[p] if prev is not None or p >= 0 else 1.0
    x0_hat = (x_t - np.sqrt(1 - ab[t]) * eps_hat) / np.sqrt(ab[t])
    return np.sqrt(a_prev) * x0_hat + (np.sqrt(1 - a_prev) * eps_hat if direction else 0.0)


def ddim_negative_index(x_t, t, t_prev, eps_hat, betas):
    """alpha bar[t_prev] also for t_prev = -1: the LAST entry of the schedule."""
    return _ddim(x_t, t, t_prev, eps_hat, betas, prev=t_prev)


def ddim_one_step_back(x_t, t, t_prev, eps_hat, betas):
    """Ignores t_prev and goes to t - 1."""
    return _ddim(x_t, t, t - 1, eps_hat, betas)


def ddim_no_direction(x_t, t, t_prev, eps_hat, betas):
    """Returns the rescaled clean prediction without the noise direction."""
    return _ddim(x_t, t, t_prev, eps_hat, betas, direction=False)


def ddim_is_ddpm_mean(x_t, t, t_prev, eps_hat, betas):
    return RIGHT.ddpm_step(x_t, t, eps_hat, betas, np.zeros_like(x_t))


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("alpha_bar", alpha_bar_one_step, "differs"),
    ("alpha_bar", alpha_bar_product_of_betas, "differs"),
    ("alpha_bar", alpha_bar_one_minus_cumsum, "differs"),
    ("alpha_bar", alpha_bar_exclusive, "differs"),
    ("q_sample", q_sample_uses_alpha, "differs"),
    ("q_sample", q_sample_no_sqrt, "differs"),
    ("q_sample", q_sample_t_minus_one, "differs"),
    ("q_sample", q_sample_t_plus_one, "differs"),
    ("q_sample", q_sample_noise_weight_sqrt_beta, "differs"),
    ("q_sample", q_sample_no_reshape, "raised ValueError"),
    ("q_sample", q_sample_one_t_for_all, "differs"),
    ("snr", snr_std_ratio, "snr differs"),
    ("snr", snr_alpha_bar_only, "snr differs"),
    ("snr", snr_last_above, "t_cross is"),
    ("snr", snr_argmax_without_none, "t_cross is"),
    ("snr", snr_one_based, "t_cross is"),
    ("snr", snr_array_index, "t_cross should be an int"),
    ("ddpm_step", ddpm_no_division, "differs"),
    ("ddpm_step", ddpm_alpha_bar_for_alpha, "differs"),
    ("ddpm_step", ddpm_noise_at_zero, "differs"),
    ("ddpm_step", ddpm_sigma_beta, "differs"),
    ("ddpm_step", ddpm_one_step_noise_weight, "differs"),
    ("ddpm_step", ddpm_alpha_bar_of_t_minus_one, "differs"),
    ("ddim_step", ddim_negative_index, "differs"),
    ("ddim_step", ddim_one_step_back, "differs"),
    ("ddim_step", ddim_no_direction, "differs"),
    ("ddim_step", ddim_is_ddpm_mean, "differs"),
])


def test_the_closed_form_matches_the_chain_in_distribution():
    """The reference's closed form is what iterating the one-step process gives (mean and spread)."""
    betas = np.linspace(1e-3, 0.2, 40)
    rng = np.random.default_rng(0)
    x = np.full((40_000, 1), 2.0)
    for beta in betas[:11]:                                    # steps 0..10: x is x_10
        x = np.sqrt(1 - beta) * x + np.sqrt(beta) * rng.normal(size=x.shape)
    mean = RIGHT.q_sample(np.array([[2.0]]), np.array([10]), np.zeros((1, 1)), betas)[0, 0]
    std = np.sqrt(1 - RIGHT.alpha_bar(betas)[10])
    assert abs(x.mean() - mean) < 0.02 and abs(x.std() - std) < 0.02


def test_the_ddpm_step_undoes_a_perfect_noise_prediction_at_t_zero():
    """With eps_hat the true noise, the last step returns the clean sample exactly."""
    betas, x0, eps = np.linspace(0.01, 0.2, 10), np.array([[0.3, -1.2]]), np.array([[0.7, 0.1]])
    x_t = RIGHT.q_sample(x0, np.array([0]), eps, betas)
    assert np.allclose(RIGHT.ddpm_step(x_t, 0, eps, betas, np.ones_like(x0)), x0)
    x_t = RIGHT.q_sample(x0, np.array([9]), eps, betas)
    assert np.allclose(RIGHT.ddim_step(x_t, 9, -1, eps, betas), x0)              # DDIM: straight to the data


def test_a_failure_names_the_case_and_offers_hints_without_the_answer(capsys):
    message = assert_fails(check.ddim_step, ddim_negative_index, "ddim_step")
    assert "Test case" in message and "check.hint('ddim_step')" in message
    args = check.failing_case("ddim_step")
    assert args[2] == -1 and np.abs(ddim_negative_index(*args) - RIGHT.ddim_step(*args)).max() > 0
    for task in RIGHT.tasks:
        text = two_hints(check, task, capsys)
        assert "def " not in text and "np." not in text and "return" not in text     # nudges, no code



# ---- Task 5: the outcome task -------------------------------------------------------------------

def gaussian(X, n_samples, seed=0):
    """Noise with the data's mean and spread: mean distance about 0.21."""
    return np.random.default_rng(seed).normal(size=(n_samples, 2)) * X.std(0) + X.mean(0)


def copies_the_data(X, n_samples, seed=0):
    return X[np.random.default_rng(seed).integers(len(X), size=n_samples)]


def one_moon(X, n_samples, seed=0):
    """Close to the data, but only on one moon (mode collapse)."""
    y = data.make_toy("moons", **check.DIFFUSION_DATA).y_train
    rng = np.random.default_rng(seed)
    upper = X[y == 0]
    return upper[rng.integers(len(upper), size=n_samples)] + rng.normal(scale=0.01, size=(n_samples, 2))


def wrong_shape(X, n_samples, seed=0):
    return gaussian(X, n_samples, seed)[:, :1]


def with_nan(X, n_samples, seed=0):
    out = copies_the_data(X, n_samples, seed) + 0.01
    out[3] = np.nan
    return out


@pytest.mark.parametrize("wrong,message", [(blank, "not implemented yet"), (gaussian, "the target is"),
                                           (copies_the_data, "are training points"), (one_moon, "both moons"),
                                           (wrong_shape, "should return 1000 samples"), (with_nan, "not finite")])
def test_the_outcome_check_fails_below_the_target(wrong, message):
    assert_fails(check.diffusion_outcome, wrong, message)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_outcome_check_passes_on_the_solution_over_seeds(seed, capsys, one_thread):
    check.diffusion_outcome(RIGHT.train_and_sample, seed=seed)
    assert "reached mean distance" in capsys.readouterr().out
