"""Chapter 09 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/09_vae_gan.py, see checks_harness.py)."""
import numpy as np
import pytest
import torch
from torch import nn

from checks_harness import assert_fails, blank, check_tests, solution, two_hints
from dlcourse.checks import generative as check

RIGHT = solution("09_vae_gan")


def softplus(x):
    return np.logaddexp(0.0, x)


def sigmoid(x):
    return np.exp(-softplus(-x))


# ---- Task 1: the reparameterisation trick --------------------------------------------------------
def reparam_log_var_as_std(mu, log_var, eps, grad_z):
    """Uses log_var as if it were sigma."""
    return mu + log_var * eps, grad_z.copy(), grad_z * eps


def reparam_variance_as_std(mu, log_var, eps, grad_z):
    """sigma = exp(log_var): the variance, not the standard deviation."""
    sigma = np.exp(log_var)
    return mu + sigma * eps, grad_z.copy(), grad_z * eps * sigma


def reparam_missing_half(mu, log_var, eps, grad_z):
    """Right z, but d sigma / d log_var taken as sigma."""
    sigma = np.exp(0.5 * log_var)
    return mu + sigma * eps, grad_z.copy(), grad_z * eps * sigma


def reparam_grad_wrt_sigma(mu, log_var, eps, grad_z):
    """Returns the gradient with respect to sigma instead of log_var."""
    sigma = np.exp(0.5 * log_var)
    return mu + sigma * eps, grad_z.copy(), grad_z * eps


def reparam_no_noise_in_grad(mu, log_var, eps, grad_z):
    sigma = np.exp(0.5 * log_var)
    return mu + sigma * eps, grad_z.copy(), grad_z * 0.5 * sigma


# ---- Task 2: the Gaussian KL ---------------------------------------------------------------------
def kl_log_var_as_variance(mu, log_var):
    """Treats log_var as the variance itself."""
    kl = 0.5 * np.sum(log_var + mu ** 2 - 1 - np.log(np.abs(log_var) + 1e-300), axis=1)
    return kl, mu.copy(), 0.5 * (1 - 1 / log_var)


def kl_missing_half(mu, log_var):
    kl, gm, gl = RIGHT.gaussian_kl(mu, log_var)
    return 2 * kl, 2 * gm, 2 * gl


def kl_mean_over_latent(mu, log_var):
    d = mu.shape[1]
    kl, gm, gl = RIGHT.gaussian_kl(mu, log_var)
    return kl / d, gm / d, gl / d


def kl_wrong_sign(mu, log_var):
    kl, gm, gl = RIGHT.gaussian_kl(mu, log_var)
    return -kl, -gm, -gl


def kl_forgets_the_one(mu, log_var):
    kl, gm, gl = RIGHT.gaussian_kl(mu, log_var)
    return kl + 0.5 * mu.shape[1], gm, gl


def kl_summed_over_batch(mu, log_var):
    kl, gm, gl = RIGHT.gaussian_kl(mu, log_var)
    return np.full(len(mu), kl.sum()) if len(mu) > 1 else kl, gm, gl


def kl_std_squared_missing(mu, log_var):
    """Uses sigma = exp(log_var / 2) where the variance belongs."""
    s = np.exp(0.5 * log_var)
    return 0.5 * np.sum(s + mu ** 2 - 1 - log_var, axis=1), mu.copy(), 0.5 * (0.5 * s - 1)


# ---- Task 3: GAN losses --------------------------------------------------------------------------
def d_loss_naive(real_logits, fake_logits, real_label=1.0):
    """log(sigmoid(x)) written out: -inf for confident logits."""
    y = real_label
    Dr, Df = 1 / (1 + np.exp(-real_logits)), 1 / (1 + np.exp(-fake_logits))
    loss = np.mean(-y * np.log(Dr) - (1 - y) * np.log(1 - Dr)) + np.mean(-np.log(1 - Df))
    return float(loss), (Dr - y) / len(Dr), Df / len(Df)


def d_loss_sum_not_mean(real_logits, fake_logits, real_label=1.0):
    loss, gr, gf = RIGHT.discriminator_loss(real_logits, fake_logits, real_label)
    y = real_label
    total = np.sum(y * softplus(-real_logits) + (1 - y) * softplus(real_logits)) + np.sum(softplus(fake_logits))
    return float(total), gr * len(real_logits), gf * len(fake_logits)


def d_loss_one_mean(real_logits, fake_logits, real_label=1.0):
    """One mean over the concatenated batch instead of one mean per batch."""
    y = real_label
    terms = np.concatenate([y * softplus(-real_logits) + (1 - y) * softplus(real_logits), softplus(fake_logits)])
    n = len(terms)
    return float(terms.mean()), (sigmoid(real_logits) - y) / n, sigmoid(fake_logits) / n


def d_loss_ignores_label(real_logits, fake_logits, real_label=1.0):
    return RIGHT.discriminator_loss(real_logits, fake_logits, 1.0)


def d_loss_smooths_fakes_too(real_logits, fake_logits, real_label=1.0):
    """Two-sided smoothing: fake target 1 - real_label."""
    y, yf = real_label, 1 - real_label
    loss = (np.mean(y * softplus(-real_logits) + (1 - y) * softplus(real_logits))
            + np.mean(yf * softplus(-fake_logits) + (1 - yf) * softplus(fake_logits)))
    return float(loss), (sigmoid(real_logits) - y) / len(real_logits), (sigmoid(fake_logits) - yf) / len(fake_logits)


def d_loss_gradient_sign(real_logits, fake_logits, real_label=1.0):
    loss, gr, gf = RIGHT.discriminator_loss(real_logits, fake_logits, real_label)
    return loss, -gr, gf


def g_loss_always_saturating(fake_logits, saturating=False):
    return RIGHT.generator_loss(fake_logits, True)


def g_loss_always_non_saturating(fake_logits, saturating=False):
    return RIGHT.generator_loss(fake_logits, False)


def g_loss_missing_sign(fake_logits, saturating=False):
    """Saturating loss written as mean softplus(l) (the discriminator's fake term), gradient +D."""
    if saturating:
        return float(np.mean(softplus(fake_logits))), sigmoid(fake_logits) / len(fake_logits)
    return RIGHT.generator_loss(fake_logits, False)


def g_loss_naive_log(fake_logits, saturating=False):
    D = 1 / (1 + np.exp(-fake_logits))
    n = len(D)
    if saturating:
        return float(np.mean(np.log(1 - D))), -D / n
    return float(-np.mean(np.log(D))), (D - 1) / n


def g_loss_gradient_sign(fake_logits, saturating=False):
    loss, g = RIGHT.generator_loss(fake_logits, saturating)
    return loss, -g


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("reparameterize", reparam_log_var_as_std, "z differs"),
    ("reparameterize", reparam_variance_as_std, "differs"),
    ("reparameterize", reparam_missing_half, "grad_log_var differs"),
    ("reparameterize", reparam_grad_wrt_sigma, "grad_log_var differs"),
    ("reparameterize", reparam_no_noise_in_grad, "grad_log_var differs"),
    ("gaussian_kl", kl_log_var_as_variance, "kl "),
    ("gaussian_kl", kl_missing_half, "kl differs"),
    ("gaussian_kl", kl_mean_over_latent, "kl differs"),
    ("gaussian_kl", kl_wrong_sign, "kl differs"),
    ("gaussian_kl", kl_forgets_the_one, "kl differs"),
    ("gaussian_kl", kl_summed_over_batch, "kl differs"),
    ("gaussian_kl", kl_std_squared_missing, "differs"),
    ("discriminator_loss", d_loss_naive, "loss contains NaN"),
    ("discriminator_loss", d_loss_sum_not_mean, "loss is"),
    ("discriminator_loss", d_loss_one_mean, "loss is"),
    ("discriminator_loss", d_loss_ignores_label, "loss is"),
    ("discriminator_loss", d_loss_smooths_fakes_too, "loss is"),
    ("discriminator_loss", d_loss_gradient_sign, "grad_real differs"),
    ("generator_loss", g_loss_always_saturating, "loss is"),
    ("generator_loss", g_loss_always_non_saturating, "loss is"),
    ("generator_loss", g_loss_missing_sign, "loss is"),
    ("generator_loss", g_loss_naive_log, "loss is inf"),
    ("generator_loss", g_loss_gradient_sign, "grad_fake differs"),
])


def test_large_logits_break_the_naive_form_only():
    """The naive log(sigmoid) losses agree with the solution on moderate logits: only the large ones fail."""
    x = np.array([-3.0, 0.5, 2.0])
    assert np.allclose(d_loss_naive(x, x)[0], RIGHT.discriminator_loss(x, x)[0])
    with np.errstate(all="ignore"):
        assert not np.isfinite(g_loss_naive_log(np.array([40.0]), True)[0])
    assert np.isfinite(RIGHT.generator_loss(np.array([40.0, 1000.0, -1000.0]), True)[0])


def test_a_failure_names_the_case_and_offers_hints_without_the_answer(capsys):
    message = assert_fails(check.gaussian_kl, kl_mean_over_latent, "gaussian_kl")
    assert "Test case" in message and "check.hint('gaussian_kl')" in message
    args = check.failing_case("gaussian_kl")
    assert np.abs(kl_mean_over_latent(*args)[0] - RIGHT.gaussian_kl(*args)[0]).max() > 0   # it really fails
    for task in RIGHT.tasks:
        text = two_hints(check, task, capsys)
        assert "def " not in text and "np." not in text and "return" not in text          # nudges, no code



# ---- Task 4: the outcome task -------------------------------------------------------------------

def linear_autoencoder(X, seed=0):
    """A linear 2-D code (at best PCA(2), 0.054): above the target."""
    torch.manual_seed(seed)
    encoder, decoder = nn.Linear(64, 2), nn.Linear(2, 64)
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=1e-2)
    Xt = torch.from_numpy(X)
    for _ in range(300):
        loss = ((decoder(encoder(Xt)) - Xt) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return encoder, decoder


def code_too_large(X, seed=0):
    return nn.Linear(64, 8), nn.Linear(8, 64)


def wrong_output_shape(X, seed=0):
    return nn.Linear(64, 2), nn.Linear(2, 32)


def returns_one_model(X, seed=0):
    return nn.Sequential(nn.Linear(64, 2), nn.Linear(2, 64))


@pytest.mark.parametrize("wrong,message", [(blank, "not implemented yet"), (linear_autoencoder, "the target is"),
                                           (code_too_large, "k <= 2"), (wrong_output_shape, "one value per pixel"),
                                           (returns_one_model, "(encoder, decoder)")])
def test_the_outcome_check_fails_below_the_target(wrong, message, one_thread):
    assert_fails(check.autoencoder_outcome, wrong, message)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_outcome_check_passes_on_the_solution_over_seeds(seed, capsys, one_thread):
    check.autoencoder_outcome(RIGHT.train_autoencoder, seed=seed)
    assert "reached validation reconstruction error" in capsys.readouterr().out
