"""Chapter 03 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/03_backprop.py, see checks_harness.py)."""
import numpy as np

from checks_harness import check_tests, solution
from dlcourse.checks import backprop as check

RIGHT = solution("03_backprop")


def linear_mean_bias(x, W, g):
    return g @ W, g.T @ x, g.mean(0)


def linear_transposed(x, W, g):
    return g @ W, x.T @ g, g.sum(0)


def numgrad_forgets_restore(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        f0 = f(x)
        x[i] += h
        grad[i] = (f(x) - f0) / h
    return grad


def numgrad_wrong_scale(f, x, h=1e-5):
    return RIGHT.numerical_gradient(f, x, h) / 2


def two_layer_no_mean(X, y, W1, b1, W2, b2):
    return tuple(g * len(X) for g in RIGHT.two_layer_backward(X, y, W1, b1, W2, b2))


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


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("linear_backward", linear_mean_bias, "value 2 of the result differs"),
    ("linear_backward", linear_transposed, "has shape"),
    ("numerical_gradient", numgrad_forgets_restore, "left x modified"),
    ("numerical_gradient", numgrad_wrong_scale, "differs at index"),
    ("two_layer_backward", two_layer_no_mean, "Don't forget the 1/N"),
    ("two_layer_backward", two_layer_no_relu_mask, "value 0 of the result"),
])
