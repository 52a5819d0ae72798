"""The NumPy perceptron (exported from chapter 01) against PyTorch and against the theory."""
import numpy as np
import pytest
import torch

from dlcourse import data
from dlcourse.perceptron import (add_bias, geometric_margin, novikoff_bound, one_vs_rest_epoch,
                                 perceptron_layer, perceptron_update, predict_one_vs_rest, to_signed,
                                 train_perceptron)


@pytest.mark.parametrize("seed", range(5))
def test_layer_equals_torch_linear_plus_heaviside(seed):
    rng = np.random.default_rng(seed)
    N, D, C = rng.integers(1, 30, size=3)
    X = rng.normal(size=(N, D))
    lin = torch.nn.Linear(D, C, dtype=torch.float64)
    expected = torch.heaviside(lin(torch.from_numpy(X)), torch.tensor(0.0, dtype=torch.float64))
    got = perceptron_layer(X, lin.weight.detach().numpy(), lin.bias.detach().numpy())
    assert got.shape == (N, C) and np.array_equal(got, expected.detach().numpy())


def _torch_ovr_epoch(W, X, y, lr, batch_size):
    W = W.clone()
    for s in range(0, len(X), batch_size):
        Xb, yb = X[s:s + batch_size], y[s:s + batch_size]
        T = torch.where(torch.arange(len(W)) == yb[:, None], 1.0, -1.0).double()
        W += lr * ((T * (Xb @ W.T) <= 0).double() * T).T @ Xb
    return W


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("batch_size", [1, 7])
def test_one_vs_rest_epoch_equals_torch(seed, batch_size):
    rng = np.random.default_rng(seed)
    N, D, C = rng.integers(5, 80), rng.integers(2, 20), rng.integers(2, 8)
    W, X, y = rng.normal(size=(C, D)) * 0.1, rng.normal(size=(N, D)), rng.integers(0, C, size=N)
    got = one_vs_rest_epoch(W, X, y, lr=0.3, batch_size=batch_size)
    expected = _torch_ovr_epoch(*map(torch.from_numpy, (W, X, y)), 0.3, batch_size)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-12, atol=1e-12)


def test_update_does_not_touch_its_input_and_updates_on_the_boundary():
    w, x = np.zeros(3), np.array([1.0, 2.0, 3.0])
    new = perceptron_update(w, x, -1, lr=2.0)
    assert np.array_equal(w, np.zeros(3)) and np.array_equal(new, -2 * x)


@pytest.mark.parametrize("seed", range(5))
def test_novikoff_bound_holds_on_random_separable_data(seed):
    rng = np.random.default_rng(seed)
    D = int(rng.integers(2, 6))
    w_star = rng.normal(size=D)
    X = rng.normal(size=(300, D))
    X = X[np.abs(X @ w_star) / np.linalg.norm(w_star) > 0.05]
    y = np.where(X @ w_star > 0, 1, -1)
    w, info = train_perceptron(X, y, seed=seed, max_epochs=10_000)
    assert info["converged"] and geometric_margin(w, X, y) > 0
    assert info["updates"] <= novikoff_bound(X, y, w_star)
    assert len(info["trajectory"]) == info["updates"] + 1


def test_novikoff_bound_refuses_a_non_separator():
    X, y = np.eye(2), np.array([1, -1])
    with pytest.raises(ValueError, match="does not separate the data"):
        novikoff_bound(X, y, np.array([-1.0, 1.0]))


def test_xor_is_never_learned():
    X = add_bias(np.array([[0, 0], [1, 1], [0, 1], [1, 0]], float))
    w, info = train_perceptron(X, np.array([-1, -1, 1, 1]), max_epochs=200)
    assert not info["converged"] and all(m > 0 for m in info["mistakes"])


def test_digits_one_vs_rest_reaches_the_chapter_threshold():
    d = data.load_digits(seed=0)
    X = add_bias(d.X_train.astype(float))
    W = np.zeros((10, X.shape[1]))
    for epoch in range(10):
        W = one_vs_rest_epoch(W, X, d.y_train)
    assert np.mean(predict_one_vs_rest(W, add_bias(d.X_test.astype(float))) == d.y_test) > 0.85


def test_to_signed():
    assert to_signed([0, 1, 1]).tolist() == [-1, 1, 1]
