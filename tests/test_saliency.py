"""Heat maps and attacks of chapter 13 (dlcourse.saliency): FGSM is one signed-gradient step inside the
epsilon ball and [0, 1]; PGD stays projected; saliency maps have the image's shape; Grad-CAM equals a hand
computation; occlusion of a linear model equals the analytic answer; bad arguments are refused."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlcourse.saliency import (digits_cnn, fgsm, grad_cam, gradient_saliency, input_gradient, inside_fraction,
                               occlusion, pgd, shapes_cnn, smoothgrad, train_classifier)


@pytest.fixture(scope="module")
def model_and_data():
    torch.manual_seed(0)
    model = digits_cnn(channels=4).double().eval()
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.arange(6) % 10
    return model, x, y


def test_fgsm_is_a_sign_gradient_step_in_the_ball(model_and_data):
    model, x, y = model_and_data
    eps = 0.1
    x_adv = fgsm(model, x, y, eps)
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(xg), y), xg)
    assert torch.allclose(x_adv, (x + eps * g.sign()).clamp(0, 1))
    assert (x_adv - x).abs().max() <= eps + 1e-12 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y)
    assert torch.equal(fgsm(model, x, y, 0.0), x)
    assert all(p.grad is None for p in model.parameters())          # attacks leave the model untouched


def test_pgd_is_projected_and_at_least_as_strong(model_and_data):
    model, x, y = model_and_data
    eps = 0.05
    for random_start in (False, True):
        x_adv = pgd(model, x, y, eps, steps=7, random_start=random_start,
                    generator=torch.Generator().manual_seed(0))
        assert (x_adv - x).abs().max() <= eps + 1e-12 and x_adv.min() >= 0 and x_adv.max() <= 1
    one = pgd(model, x, y, eps, steps=1, step_size=eps)
    assert torch.allclose(one, fgsm(model, x, y, eps))             # one full step = FGSM
    assert F.cross_entropy(model(pgd(model, x, y, eps)), y) >= F.cross_entropy(model(fgsm(model, x, y, eps)), y) - 1e-9


def test_saliency_shapes_and_linear_model(model_and_data):
    model, x, y = model_and_data
    assert gradient_saliency(model, x, y).shape == (6, 8, 8)
    assert smoothgrad(model, x, y, n=3, generator=torch.Generator().manual_seed(0)).shape == (6, 8, 8)
    assert grad_cam(model, model[2], x, y).shape == (6, 8, 8)
    assert grad_cam(model, model[4], x, y, upsample=False).shape == (6, 4, 4)
    assert torch.allclose(smoothgrad(model, x, y, n=2, sigma=0.0), gradient_saliency(model, x, y))
    lin = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).double()
    g = input_gradient(lin, x, y)
    assert torch.allclose(g.reshape(6, 64), lin[1].weight[y])        # saliency of a linear model = w
    s = shapes_cnn(channels=4).eval()
    assert grad_cam(s, s[8], torch.rand(2, 3, 32, 32), torch.tensor([0, 2])).shape == (2, 32, 32)


def test_grad_cam_equals_hand_computation():
    torch.manual_seed(0)
    conv, head = nn.Conv2d(2, 3, 3, padding=1).double(), nn.Linear(3, 4).double()
    model = nn.Sequential(conv, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)
    x, y = torch.randn(5, 2, 6, 6, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 1])
    A = conv(x).detach()                                             # (5, 3, 6, 6)
    alpha = head.weight.detach()[y] / 36                              # d score / d A is W[y, k] / (h w)
    expected = torch.relu((alpha[:, :, None, None] * A).sum(1))
    assert torch.allclose(grad_cam(model, conv, x, y, upsample=False), expected)


def test_occlusion_of_a_linear_model_is_analytic():
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(3, 2 * 6 * 6)), rng.normal(size=3)
    x, t = rng.random((4, 2, 6, 6)), np.array([0, 1, 2, 0])
    predict = lambda a: a.reshape(len(a), -1) @ W.T + b
    w_t = W[t].reshape(4, 2, 6, 6)
    assert np.allclose(occlusion(predict, x, t, patch=1, stride=1), (w_t * x).sum(1))
    heat = occlusion(predict, x, t, patch=3, stride=3, baseline=0.5)        # non-overlapping patches
    for i in (0, 3):
        for j in (0, 3):
            drop = (w_t * (x - 0.5))[:, :, i:i + 3, j:j + 3].sum((1, 2, 3))
            assert np.allclose(heat[:, i:i + 3, j:j + 3], drop[:, None, None])
    heat = occlusion(predict, x, t, patch=4, stride=4)                       # pixels never covered get 0
    assert np.all(heat[:, 4:, :] == 0) and np.all(heat[:, :, 4:] == 0)


def test_inside_fraction():
    heat = np.zeros((2, 4, 4)); heat[0, :2, :2] = 1; heat[1] = -1            # absolute values count
    mask = np.zeros((2, 4, 4), bool); mask[:, :2, :2] = True
    assert np.allclose(inside_fraction(heat, mask), [1.0, 0.25])


def test_training_learns_and_attack_training_runs():
    g = torch.Generator().manual_seed(0)
    X = torch.rand(64, 1, 8, 8, generator=g)
    y = (X[:, 0, :4].mean((1, 2)) > X[:, 0, 4:].mean((1, 2))).long()
    torch.manual_seed(0)
    model = digits_cnn(channels=4)
    before = F.cross_entropy(model(X), y).item()
    model = train_classifier(model, X, y, epochs=30, lr=0.01, seed=0)
    assert not model.training and F.cross_entropy(model(X), y).item() < 0.5 * before
    train_classifier(digits_cnn(channels=4), X, y, epochs=1, seed=0, attack=fgsm, epsilon=0.1)
    kept = train_classifier(digits_cnn(channels=4), X, y, epochs=3, seed=0, val=(X, y))   # best epoch kept
    assert not kept.training


def test_errors(model_and_data):
    model, x, y = model_and_data
    with pytest.raises(ValueError, match="epsilon"):
        fgsm(model, x, y, -0.1)
    with pytest.raises(ValueError, match="epsilon"):
        pgd(model, x, y, -1.0)
    with pytest.raises(ValueError, match="steps"):
        pgd(model, x, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="target"):
        input_gradient(model, x, y[:2])
    with pytest.raises(ValueError, match="layer"):
        grad_cam(model, nn.Conv2d(1, 1, 1), x, y)
    with pytest.raises(ValueError, match="x"):
        occlusion(lambda a: a, np.zeros((2, 8, 8)), np.zeros(2, int))
    with pytest.raises(ValueError, match="patch"):
        occlusion(lambda a: a.reshape(len(a), -1), np.zeros((2, 1, 4, 4)), np.zeros(2, int), patch=5)
    with pytest.raises(ValueError, match="mask"):
        inside_fraction(np.zeros((2, 4, 4)), np.zeros((2, 3, 3)))
