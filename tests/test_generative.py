"""Chapter 09's NumPy reference code against PyTorch (float64): the Gaussian KL and its gradient, the
reparameterisation and its backward, the GAN losses and their gradients; PCA against a linear autoencoder's
subspace; and the sample-quality metrics on their reference points (real data scores better than noise)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcourse.generative import (ParallelMLP, bce_with_logits, discriminator_loss, discriminator_loss_grad,
                                 gaussian_kl, gaussian_kl_grad, generator_loss, generator_loss_grad, pca,
                                 pca_reconstruct, principal_angles, reparameterize, reparameterize_grad,
                                 squared_error)
from dlcourse.sample_quality import (digit_scorer, median_bandwidth, nearest_real, rbf_mmd2, ring_modes,
                                     sample_ring)

CASES = [(int(b), int(k), int(s)) for s, (b, k) in enumerate(
    zip(np.random.default_rng(0).integers(1, 20, 25), np.random.default_rng(1).integers(1, 9, 25)))]


@pytest.mark.parametrize("batch,k,seed", CASES)
def test_kl_and_its_gradient_match_torch(batch, k, seed):
    rng = np.random.default_rng(seed)
    mu, logvar = rng.normal(size=(batch, k)) * 2, rng.normal(size=(batch, k)) * 2
    mu_t, lv_t = torch.tensor(mu, requires_grad=True), torch.tensor(logvar, requires_grad=True)
    q = torch.distributions.Normal(mu_t, torch.exp(0.5 * lv_t))
    p = torch.distributions.Normal(torch.zeros_like(mu_t), torch.ones_like(mu_t))
    kl = torch.distributions.kl_divergence(q, p).sum(-1)
    kl.sum().backward()
    assert gaussian_kl(mu, logvar).shape == (batch,)
    np.testing.assert_allclose(gaussian_kl(mu, logvar), kl.detach().numpy(), rtol=1e-12, atol=1e-12)
    gmu, glv = gaussian_kl_grad(mu, logvar)
    np.testing.assert_allclose(gmu, mu_t.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(glv, lv_t.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch,k,seed", CASES)
def test_reparameterization_and_its_backward_match_autograd(batch, k, seed):
    rng = np.random.default_rng(seed + 100)
    mu, logvar, eps, g = (rng.normal(size=(batch, k)) for _ in range(4))
    mu_t, lv_t = torch.tensor(mu, requires_grad=True), torch.tensor(logvar, requires_grad=True)
    z = mu_t + torch.exp(0.5 * lv_t) * torch.tensor(eps)
    z.backward(torch.tensor(g))
    np.testing.assert_allclose(reparameterize(mu, logvar, eps), z.detach().numpy(), atol=1e-13)
    gmu, glv = reparameterize_grad(g, logvar, eps)
    np.testing.assert_allclose(gmu, mu_t.grad.numpy(), atol=1e-13)
    np.testing.assert_allclose(glv, lv_t.grad.numpy(), atol=1e-13)


def test_kl_is_zero_only_at_the_prior():
    assert np.allclose(gaussian_kl(np.zeros((3, 4)), np.zeros((3, 4))), 0)
    assert (gaussian_kl(np.full((1, 2), 0.1), np.zeros((1, 2))) > 0).all()
    assert (gaussian_kl(np.zeros((1, 2)), np.full((1, 2), -0.1)) > 0).all()


@pytest.mark.parametrize("seed", range(25))
def test_gan_losses_and_gradients_match_torch(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    real = torch.tensor(rng.normal(size=(n, 1)) * 4, requires_grad=True)
    fake = torch.tensor(rng.normal(size=(n, 1)) * 4, requires_grad=True)
    label = float(rng.choice([1.0, 0.9]))
    loss = (F.binary_cross_entropy_with_logits(real, torch.full_like(real, label))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    gr, gf = torch.autograd.grad(loss, (real, fake))
    r, f = real.detach().numpy(), fake.detach().numpy()
    assert discriminator_loss(r, f, label) == pytest.approx(loss.item(), abs=1e-12)
    ours = discriminator_loss_grad(r, f, label)
    np.testing.assert_allclose(ours[0], gr.numpy(), atol=1e-14)
    np.testing.assert_allclose(ours[1], gf.numpy(), atol=1e-14)
    for sat in (False, True):
        lg = (torch.log1p(-torch.sigmoid(fake)).mean() if sat
              else F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake)))
        (g,) = torch.autograd.grad(lg, fake)
        assert generator_loss(f, sat) == pytest.approx(lg.item(), abs=1e-12)
        np.testing.assert_allclose(generator_loss_grad(f, sat), g.numpy(), atol=1e-14)


def test_bce_is_stable_for_large_logits():
    assert np.isfinite(bce_with_logits(np.array([1e4, -1e4]), 1.0))
    assert generator_loss_grad(np.array([-50.0]))[0] == pytest.approx(-1.0)
    assert abs(generator_loss_grad(np.array([-50.0]), saturating=True)[0]) < 1e-20


def test_pca_is_the_best_linear_reconstruction_and_a_linear_autoencoder_finds_its_subspace():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 10)) @ np.diag([5, 4, 3, 1, 0.5, 0.3, 0.2, 0.1, 0.1, 0.1]) @ np.linalg.qr(
        rng.normal(size=(10, 10)))[0]
    mean, comps = pca(X, 3)
    assert comps.shape == (3, 10) and np.allclose(comps @ comps.T, np.eye(3), atol=1e-12)
    err = squared_error(X, pca_reconstruct(X, mean, comps))
    Q = np.linalg.qr(rng.normal(size=(10, 3)))[0]                 # a random 3-D subspace does worse
    assert err < squared_error(X, mean + (X - mean) @ Q @ Q.T)
    torch.manual_seed(0)
    Xt = torch.tensor(X)
    model = torch.nn.Sequential(torch.nn.Linear(10, 3), torch.nn.Linear(3, 10)).double()
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(1500):
        loss = ((model(Xt) - Xt) ** 2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert principal_angles(model[1].weight.detach().numpy(), comps.T).max() < 2.0
    assert loss.item() == pytest.approx(err, rel=1e-3)
    assert np.allclose(principal_angles(comps.T, comps.T @ rng.normal(size=(3, 3))), 0, atol=1e-5)


def test_parallel_mlp_members_are_independent():
    net = ParallelMLP([3, 8, 2], seeds=[0, 1, 2])
    single = ParallelMLP([3, 8, 2], seeds=[1])
    x = torch.randn(3, 5, 3)
    out = net(x)
    assert out.shape == (3, 5, 2)
    assert torch.allclose(out[1], single(x[1:2])[0])
    out[0].sum().backward()
    assert net.weights[0].grad[1:].abs().max() == 0


def test_metrics_put_real_data_before_noise():
    rng = np.random.default_rng(0)
    real, held = sample_ring(1000, rng), sample_ring(1000, rng)
    noise = rng.normal(size=(1000, 2)) * real.std(0)
    d_real, off_real = nearest_real(real, held)
    d_noise, off_noise = nearest_real(noise, held)
    assert d_real < 0.2 * d_noise and off_real < 0.05 < 0.5 < off_noise
    assert ring_modes(real) == (8, pytest.approx(1.0, abs=0.01))
    assert ring_modes(noise)[0] < 8
    h = median_bandwidth(held)
    assert rbf_mmd2(real, held, h) < rbf_mmd2(noise, held, h)
    assert rbf_mmd2(real, real, h) == pytest.approx(0.0, abs=1e-12)


def test_digit_scorer_judges_real_digits_above_noise():
    from dlcourse import data

    d = data.load_digits(val_size=0.2, seed=0)
    scorer = digit_scorer()
    assert scorer is digit_scorer()                              # cached
    assert scorer.test_accuracy > 0.93
    noise = np.random.default_rng(0).uniform(size=(300, 64)).astype(np.float32)
    real, fake = scorer.score(d.X_val), scorer.score(noise)
    assert real["confidence"] > fake["confidence"] and real["classes"] == 10
    h = median_bandwidth(d.X_train)
    assert rbf_mmd2(d.X_val, d.X_test, h) < 0.1 * rbf_mmd2(noise, d.X_test, h)
