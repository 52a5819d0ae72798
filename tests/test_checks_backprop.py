"""Chapter 03 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/03_backprop.py, see checks_harness.py)."""
import numpy as np
import pytest

from checks_harness import assert_fails, blank, check_tests, solution, two_hints
from dlcourse.checks import CheckFailed
from dlcourse.checks import backprop as check

RIGHT = solution("03_backprop")


# ---- Task 1: linear + tanh ----------------------------------------------------------------------
def tanh_no_derivative(x, W, g):
    return g @ W, g.T @ x


def tanh_derivative_of_output(x, W, g):            # tanh applied twice: 1 - tanh(Y)^2
    gA = g * (1 - np.tanh(np.tanh(x @ W.T)) ** 2)
    return gA @ W, gA.T @ x


def tanh_sigmoid_derivative(x, W, g):              # Y (1 - Y): the sigmoid's formula
    Y = np.tanh(x @ W.T)
    gA = g * Y * (1 - Y)
    return gA @ W, gA.T @ x


def tanh_transposed_grad_W(x, W, g):
    gA = g * (1 - np.tanh(x @ W.T) ** 2)
    return gA @ W, x.T @ gA


# ---- Task 2: gradient check -----------------------------------------------------------------------
def check_forward_difference(f, grad, X, V, h=1e-6, tol=1e-6):
    n, a = (f(X + h * V) - f(X)) / h, float(np.sum(grad * V))
    e = abs(n - a) / (abs(n) + abs(a)) if abs(n) + abs(a) > 0 else 0.0
    return e, e < tol


def check_perturbs_in_place(f, grad, X, V, h=1e-6, tol=1e-6):
    X += h * V
    f_plus = f(X)
    X -= 2 * h * V
    f_minus = f(X)
    X += h * V                                     # "restored", up to rounding
    n, a = (f_plus - f_minus) / (2 * h), float(np.sum(grad * V))
    e = abs(n - a) / (abs(n) + abs(a)) if abs(n) + abs(a) > 0 else 0.0
    return e, e < tol


def check_divides_by_h(f, grad, X, V, h=1e-6, tol=1e-6):
    n, a = (f(X + h * V) - f(X - h * V)) / h, float(np.sum(grad * V))
    e = abs(n - a) / (abs(n) + abs(a)) if abs(n) + abs(a) > 0 else 0.0
    return e, e < tol


def check_forgets_direction(f, grad, X, V, h=1e-6, tol=1e-6):
    n, a = (f(X + h * V) - f(X - h * V)) / (2 * h), float(np.sum(grad))
    e = abs(n - a) / (abs(n) + abs(a)) if abs(n) + abs(a) > 0 else 0.0
    return e, e < tol


def check_relative_to_analytic(f, grad, X, V, h=1e-6, tol=1e-6):
    n, a = (f(X + h * V) - f(X - h * V)) / (2 * h), float(np.sum(grad * V))
    e = abs(n - a) / abs(a) if a != 0 else 0.0
    return e, e < tol


def check_absolute_error(f, grad, X, V, h=1e-6, tol=1e-6):
    n, a = (f(X + h * V) - f(X - h * V)) / (2 * h), float(np.sum(grad * V))
    return abs(n - a), abs(n - a) < tol


# ---- Task 3: two-layer net with L2 ----------------------------------------------------------------
def _forward(X, W1, b1, W2, b2):
    A = X @ W1.T + b1
    H = np.maximum(A, 0)
    return A, H, H @ W2.T + b2


def l2_missing_from_loss(X, y, W1, b1, W2, b2, lam):
    loss, *grads = RIGHT.two_layer_l2(X, y, W1, b1, W2, b2, lam)
    return (loss - lam / 2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2)), *grads)


def l2_on_biases_too(X, y, W1, b1, W2, b2, lam):
    loss, dW1, db1, dW2, db2 = RIGHT.two_layer_l2(X, y, W1, b1, W2, b2, lam)
    return loss + lam / 2 * (np.sum(b1 ** 2) + np.sum(b2 ** 2)), dW1, db1 + lam * b1, dW2, db2 + lam * b2


def l2_without_half(X, y, W1, b1, W2, b2, lam):    # penalty lam |W|^2 but gradient lam W
    loss, *grads = RIGHT.two_layer_l2(X, y, W1, b1, W2, b2, lam)
    return (loss + lam / 2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2)), *grads)


def l2_gradient_forgotten(X, y, W1, b1, W2, b2, lam):
    loss, dW1, db1, dW2, db2 = RIGHT.two_layer_l2(X, y, W1, b1, W2, b2, lam)
    return loss, dW1 - lam * W1, db1, dW2 - lam * W2, db2


def l2_no_mean(X, y, W1, b1, W2, b2, lam):
    loss, dW1, db1, dW2, db2 = RIGHT.two_layer_l2(X, y, W1, b1, W2, b2, 0.0)
    n = len(X)
    return (RIGHT.two_layer_l2(X, y, W1, b1, W2, b2, lam)[0], n * dW1 + lam * W1, n * db1, n * dW2 + lam * W2,
            n * db2)


def l2_no_relu_mask(X, y, W1, b1, W2, b2, lam):
    A, H, Z = _forward(X, W1, b1, W2, b2)
    loss = RIGHT.two_layer_l2(X, y, W1, b1, W2, b2, lam)[0]
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    P[np.arange(len(X)), y] -= 1
    dZ = P / len(X)
    dA = dZ @ W2
    return loss, dA.T @ X + lam * W1, dA.sum(0), dZ.T @ H + lam * W2, dZ.sum(0)


def l2_unstable_softmax(X, y, W1, b1, W2, b2, lam):
    A, H, Z = _forward(X, W1, b1, W2, b2)
    P = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    loss = -np.log(P[np.arange(len(X)), y]).mean() + lam / 2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    return (float(loss), *RIGHT.two_layer_l2(X, y, W1, b1, W2, b2, lam)[1:])


def l2_log_of_softmax(X, y, W1, b1, W2, b2, lam):  # shifted, but log(P) underflows to log(0)
    A, H, Z = _forward(X, W1, b1, W2, b2)
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    loss = -np.log(P[np.arange(len(X)), y]).mean() + lam / 2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    return (float(loss), *RIGHT.two_layer_l2(X, y, W1, b1, W2, b2, lam)[1:])


# ---- Task 4: the outcome ------------------------------------------------------------------------
def train_one_short_epoch(X, y, seed=0):
    rng = np.random.default_rng(seed)
    W1, W2 = rng.normal(0, 0.1, size=(32, 64)), rng.normal(0, 0.1, size=(10, 32))
    b1, b2 = np.zeros(32), np.zeros(10)
    for start in range(0, 320, 32):
        _, dW1, db1, dW2, db2 = RIGHT.two_layer_l2(X[start:start + 32], y[start:start + 32], W1, b1, W2, b2, 0.0)
        W1, b1, W2, b2 = W1 - 0.01 * dW1, b1 - 0.01 * db1, W2 - 0.01 * dW2, b2 - 0.01 * db2
    return W1, b1, W2, b2


def train_returns_wrong_order(X, y, seed=0):
    W1, b1, W2, b2 = RIGHT.train_two_layer(X[:64], y[:64], seed)
    return W1, W2, b1, b2


def _unwritten_two_layer_l2(*args):
    raise NotImplementedError


def train_with_unwritten_helper(X, y, seed=0):
    return _unwritten_two_layer_l2(X, y)


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("linear_tanh_backward", tanh_no_derivative, "grad_x differs at index"),
    ("linear_tanh_backward", tanh_derivative_of_output, "grad_x differs at index"),
    ("linear_tanh_backward", tanh_sigmoid_derivative, "grad_x differs at index"),
    ("linear_tanh_backward", tanh_transposed_grad_W, "grad_W has shape"),
    ("gradient_check", check_forward_difference, "relative_error is"),
    ("gradient_check", check_perturbs_in_place, "changed its input `X` in place"),
    ("gradient_check", check_divides_by_h, "relative_error is"),
    ("gradient_check", check_forgets_direction, "relative_error is"),
    ("gradient_check", check_relative_to_analytic, "relative_error is"),
    ("gradient_check", check_absolute_error, "relative_error is"),
    ("two_layer_l2", l2_missing_from_loss, "loss is"),
    ("two_layer_l2", l2_on_biases_too, "loss is"),
    ("two_layer_l2", l2_without_half, "loss is"),
    ("two_layer_l2", l2_gradient_forgotten, "dW1 differs"),
    ("two_layer_l2", l2_no_mean, "dW1 differs"),
    ("two_layer_l2", l2_no_relu_mask, "dW1 differs"),
    ("two_layer_l2", l2_unstable_softmax, "loss contains NaN"),
    ("two_layer_l2", l2_log_of_softmax, "loss is inf"),
])


@pytest.mark.parametrize("wrong,message", [
    (blank, "not implemented yet"),
    (train_one_short_epoch, "the target is at least 0.95"),
    (train_returns_wrong_order, "do not make a 64 -> H -> 10 network"),
    (train_with_unwritten_helper, "the helper `_unwritten_two_layer_l2` you call is not implemented yet"),
], ids=lambda v: getattr(v, "__name__", "message"))
def test_the_outcome_check_fails_on_a_blank_and_on_wrong_answers(wrong, message):
    assert_fails(check.two_layer_outcome, wrong, message)


def test_the_outcome_check_passes_on_the_solution(capsys):
    check.two_layer_outcome(RIGHT.train_two_layer)
    assert "reached validation accuracy" in capsys.readouterr().out


def test_hints_nudge_without_giving_the_code(capsys):
    for task in RIGHT.tasks:
        text = two_hints(check, task, capsys)
        assert "return " not in text and "np." not in text and "+=" not in text and " @ " not in text


def test_failing_case_reruns_the_case_that_failed():
    assert_fails(check.two_layer_l2, l2_unstable_softmax, "contains NaN")
    args = check.failing_case("two_layer_l2")
    with np.errstate(all="ignore"):
        assert np.isnan(l2_unstable_softmax(*args)[0]) and np.isfinite(RIGHT.two_layer_l2(*args)[0])


def test_reference_answers_are_not_importable_by_students():
    assert set(check.__all__) == {"linear_tanh_backward", "gradient_check", "two_layer_l2", "two_layer_outcome",
                                  "hint", "failing_case"}
