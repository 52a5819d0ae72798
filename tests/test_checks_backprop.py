"""Chapter 03 checks: fail on blanks and typical mistakes (with a useful message), pass on solutions."""
import numpy as np
import pytest

from dlcourse.checks import CheckFailed, backprop as check


def blank(*args):
    raise NotImplementedError


def linear_right(x, W, g):
    return g @ W, g.T @ x, g.sum(0)


def linear_mean_bias(x, W, g):
    return g @ W, g.T @ x, g.mean(0)


def linear_transposed(x, W, g):
    return g @ W, x.T @ g, g.sum(0)


def numgrad_right(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        fm = f(x)
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


def numgrad_forgets_restore(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        f0 = f(x)
        x[i] += h
        grad[i] = (f(x) - f0) / h
    return grad


def numgrad_wrong_scale(f, x, h=1e-5):
    return numgrad_right(f, x, h) / 2


def two_layer_right(X, y, W1, b1, W2, b2):
    A = X @ W1.T + b1
    H = np.maximum(A, 0)
    Z = H @ W2.T + b2
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    P[np.arange(len(X)), y] -= 1
    dZ = P / len(X)
    dA = (dZ @ W2) * (A > 0)
    return dA.T @ X, dA.sum(0), dZ.T @ H, dZ.sum(0)


def two_layer_no_mean(X, y, W1, b1, W2, b2):
    return tuple(g * len(X) for g in two_layer_right(X, y, W1, b1, W2, b2))


def two_layer_no_relu_mask(X, y, W1, b1, W2, b2):
    A = X @ W1.T + b1
    H = np.maximum(A, 0)
    Z = H @ W2.T + b2
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    P[np.arange(len(X)), y] -= 1
    dZ = P / len(X)
    dA = dZ @ W2
    return dA.T @ X, dA.sum(0), dZ.T @ H, dZ.sum(0)


@pytest.mark.parametrize("checker,wrong,message", [
    (check.linear_backward, blank, "not implemented yet"),
    (check.linear_backward, linear_mean_bias, "value 2 of the result differs"),
    (check.linear_backward, linear_transposed, "has shape"),
    (check.numerical_gradient, blank, "not implemented yet"),
    (check.numerical_gradient, numgrad_forgets_restore, "left x modified"),
    (check.numerical_gradient, numgrad_wrong_scale, "differs at index"),
    (check.two_layer_backward, blank, "not implemented yet"),
    (check.two_layer_backward, two_layer_no_mean, "Don't forget the 1/N"),
    (check.two_layer_backward, two_layer_no_relu_mask, "value 0 of the result"),
])
def test_checks_fail_on_blanks_and_wrong_answers(checker, wrong, message):
    with pytest.raises(CheckFailed) as excinfo:
        checker(wrong)
    assert message in str(excinfo.value)


@pytest.mark.parametrize("checker,right", [
    (check.linear_backward, linear_right), (check.numerical_gradient, numgrad_right),
    (check.two_layer_backward, two_layer_right)])
def test_checks_pass_on_solutions(checker, right, capsys):
    checker(right)
    assert "correct on" in capsys.readouterr().out
