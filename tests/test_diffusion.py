"""Chapter 10's diffusion reference code (dlcourse.diffusion), against closed forms and a PyTorch reference."""
import numpy as np
import pytest
import torch

from dlcourse import diffusion as D

T = 100
BETAS = D.linear_betas(T)
AB = D.alpha_bar(BETAS)


def test_schedule_shape_and_rescaling():
    assert BETAS.shape == (T,) and np.all(np.diff(BETAS) > 0)
    assert BETAS[0] == pytest.approx(1e-3) and BETAS[-1] == pytest.approx(0.2)
    ho = D.linear_betas(1000)                                   # Ho et al.'s schedule exactly
    assert ho[0] == pytest.approx(1e-4) and ho[-1] == pytest.approx(0.02)
    assert np.all(np.diff(AB) < 0) and AB[0] == pytest.approx(1 - BETAS[0])
    np.testing.assert_allclose(D.snr(AB), AB / (1 - AB))


def test_x_T_is_standard_normal():
    rng = np.random.default_rng(0)
    assert np.sqrt(AB[-1]) < 0.01 and np.sqrt(D.alpha_bar(D.linear_betas(1000))[-1]) < 0.01
    x0 = rng.uniform(-1, 1, size=(20_000, 4)) * 3               # far from N(0, I)
    xT = D.q_sample(x0, T - 1, AB, rng.normal(size=x0.shape))
    assert abs(xT.mean()) < 0.02 and abs(xT.std() - 1) < 0.02
    assert abs(np.corrcoef(x0.ravel(), xT.ravel())[0, 1]) < 0.02


@pytest.mark.parametrize("t", [0, 5, 30, T - 1])
def test_closed_form_equals_iterated_one_step_noising(t):
    rng = np.random.default_rng(t)
    x0 = np.array([1.5, -0.5, 0.0])
    n = 40_000
    chain = np.tile(x0, (n, 1))
    for s in range(t + 1):
        chain = D.q_step(chain, s, BETAS, rng.normal(size=chain.shape))
    jump = D.q_sample(np.tile(x0, (n, 1)), t, AB, rng.normal(size=chain.shape))
    mean, var = np.sqrt(AB[t]) * x0, 1 - AB[t]
    for x in (chain, jump):
        np.testing.assert_allclose(x.mean(0), mean, atol=0.03)
        np.testing.assert_allclose(x.var(0), var, atol=0.03)


def test_q_sample_per_sample_steps_and_torch():
    rng = np.random.default_rng(1)
    x0, eps = rng.normal(size=(5, 1, 4, 4)), rng.normal(size=(5, 1, 4, 4))
    t = np.array([0, 3, 50, 99, 7])
    out = D.q_sample(x0, t, AB, eps)
    for i, ti in enumerate(t):
        np.testing.assert_allclose(out[i], np.sqrt(AB[ti]) * x0[i] + np.sqrt(1 - AB[ti]) * eps[i])
    on_torch = D.q_sample(torch.from_numpy(x0), torch.from_numpy(t), torch.from_numpy(AB), torch.from_numpy(eps))
    np.testing.assert_allclose(on_torch.numpy(), out, atol=1e-12)


def _torch_ddpm(x_t, t, eps, z, variance):
    """DDPM step via x0_hat and the posterior, written independently in torch (float64)."""
    b = torch.tensor(BETAS, dtype=torch.float64)
    ab = torch.cumprod(1 - b, 0)
    ab_prev = ab[t - 1] if t > 0 else torch.tensor(1.0, dtype=torch.float64)
    x0 = (x_t - torch.sqrt(1 - ab[t]) * eps) / torch.sqrt(ab[t])
    mean = torch.sqrt(ab_prev) * b[t] / (1 - ab[t]) * x0 + torch.sqrt(1 - b[t]) * (1 - ab_prev) / (1 - ab[t]) * x_t
    if t == 0:
        return mean
    var = (1 - ab_prev) / (1 - ab[t]) * b[t] if variance == "posterior" else b[t]
    return mean + torch.sqrt(var) * z


@pytest.mark.parametrize("variance", ["posterior", "beta"])
@pytest.mark.parametrize("t", [0, 1, 42, T - 1])
def test_ddpm_step_matches_torch_reference_float64(t, variance):
    rng = np.random.default_rng(t)
    x_t, eps, z = (rng.normal(size=(3, 1, 8, 8)) for _ in range(3))
    ours = D.ddpm_step(x_t, t, eps, BETAS, AB, noise=z, variance=variance)
    ref = _torch_ddpm(torch.from_numpy(x_t), t, torch.from_numpy(eps), torch.from_numpy(z), variance)
    np.testing.assert_allclose(ours, ref.numpy(), rtol=0, atol=1e-12)
    on_torch = D.ddpm_step(torch.from_numpy(x_t), t, torch.from_numpy(eps), BETAS, AB, noise=torch.from_numpy(z),
                           variance=variance)
    np.testing.assert_allclose(on_torch.numpy(), ours, rtol=0, atol=1e-12)


def test_true_noise_gives_posterior_mean_and_x0():
    rng = np.random.default_rng(3)
    x0, eps = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    for t in (0, 10, T - 1):
        xt = D.q_sample(x0, t, AB, eps)
        mean, var = D.posterior(x0, xt, t, BETAS, AB)
        np.testing.assert_allclose(D.ddpm_step(xt, t, eps, BETAS, AB, noise=np.zeros_like(xt)), mean, atol=1e-10)
        np.testing.assert_allclose(D.predict_x0(xt, t, eps, AB), x0, atol=1e-10)
        np.testing.assert_allclose(D.ddim_step(xt, t, -1, eps, AB), x0, atol=1e-10)
        assert var >= 0 and (var == 0) == (t == 0)


def test_ddim_eta0_deterministic_and_eta1_is_ddpm():
    rng = np.random.default_rng(4)
    x_t, eps, z = (rng.normal(size=(4, 3)) for _ in range(3))
    a = D.ddim_step(x_t, 50, 20, eps, AB, eta=0.0, noise=z)
    b = D.ddim_step(x_t, 50, 20, eps, AB, eta=0.0, noise=rng.normal(size=z.shape))
    np.testing.assert_array_equal(a, b)                          # eta = 0 ignores the noise
    np.testing.assert_array_equal(a, D.ddim_step(x_t, 50, 20, eps, AB))
    for t in (1, 30, T - 1):
        np.testing.assert_allclose(D.ddim_step(x_t, t, t - 1, eps, AB, eta=1.0, noise=z),
                                   D.ddpm_step(x_t, t, eps, BETAS, AB, noise=z), atol=1e-10)


def test_timestep_embedding():
    e = D.timestep_embedding(np.arange(T), 32)
    assert e.shape == (T, 32)
    np.testing.assert_allclose(e[0], np.r_[np.zeros(16), np.ones(16)])
    np.testing.assert_allclose(e[:, :16] ** 2 + e[:, 16:] ** 2, 1.0)
    np.testing.assert_allclose(e[:, 0], np.sin(np.arange(T)))                 # first frequency is 1
    assert D.timestep_embedding(7, 8).shape == (8,)
    assert len({tuple(np.round(r, 8)) for r in e}) == T                       # every step distinct


@pytest.mark.parametrize("call, exc, words", [
    (lambda: D.linear_betas(0), ValueError, "T"),
    (lambda: D.linear_betas(10), ValueError, "beta_end"),                    # 0.02 * 100 >= 1
    (lambda: D.alpha_bar(np.array([0.1, 1.2])), ValueError, "betas"),
    (lambda: D.alpha_bar([1, 2]), TypeError, "betas"),
    (lambda: D.q_sample(np.zeros((2, 3)), 0, AB, np.zeros((2, 4))), ValueError, "noise"),
    (lambda: D.ddpm_step(np.zeros(3), T, np.zeros(3), BETAS, AB, np.zeros(3)), ValueError, "t"),
    (lambda: D.ddpm_step(np.zeros(3), 5, np.zeros(3), BETAS, AB), ValueError, "noise"),
    (lambda: D.ddpm_step(np.zeros(3), 5, np.zeros(3), BETAS, AB, np.zeros(3), variance="x"), ValueError,
     "variance"),
    (lambda: D.ddpm_step(np.zeros(3), 2.0, np.zeros(3), BETAS, AB, np.zeros(3)), TypeError, "t"),
    (lambda: D.ddim_step(np.zeros(3), 5, 5, np.zeros(3), AB), ValueError, "t_prev"),
    (lambda: D.ddim_step(np.zeros(3), 5, -2, np.zeros(3), AB), ValueError, "t_prev"),
    (lambda: D.ddim_step(np.zeros(3), 5, 2, np.zeros(3), AB, eta=1.5), ValueError, "eta"),
    (lambda: D.ddim_step(np.zeros(3), 5, 2, np.zeros(3), AB, eta=0.5), ValueError, "noise"),
    (lambda: D.timestep_embedding(3, 7), ValueError, "dim"),
])
def test_errors_name_the_argument(call, exc, words):
    with pytest.raises(exc, match=words):
        call()
