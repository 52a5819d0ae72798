"""The chapter 02 exercise checks: each fails on a blank and on typical wrong answers with a message that
says what is wrong, and passes on the solution (solutions/02_mlp.py, see checks_harness.py)."""
import numpy as np
import pytest

from checks_harness import assert_fails, blank, check_tests, solution, two_hints
from dlcourse import numpy_nn as nnp
from dlcourse.checks import CheckFailed, mlp as check

RIGHT = solution("02_mlp")


# ---- typical wrong answers -------------------------------------------------------------------------
def count_as_float(sizes):                          # right value, wrong type: 75.0 is not a count
    return float(RIGHT.count_dense_parameters(sizes))


def count_plain_mlp(sizes):                         # ignores the dense connections
    return sum(n_out * n_in + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def count_without_biases(sizes):
    return RIGHT.count_dense_parameters(sizes) - sum(sizes[1:])


def count_numpy_float(sizes):                       # np.sum of a float array: a float64 count
    seen = np.cumsum(np.array(sizes[:-1], dtype=float))
    return np.sum(np.array(sizes[1:]) * seen + np.array(sizes[1:]))


def forward_previous_layer_only(X, params, activation):      # a plain MLP: wrong shapes from layer 2 on
    z = X
    for l, (W, b) in enumerate(params, start=1):
        a = z @ W.T + b
        z = activation(a) if l < len(params) else a
    return z


def forward_reversed_order(X, params, activation):          # newest features first
    features = [X]
    for l, (W, b) in enumerate(params, start=1):
        a = np.concatenate(features[::-1], axis=1) @ W.T + b
        features.append(activation(a) if l < len(params) else a)
    return features[-1]


def forward_activation_on_output(X, params, activation):
    return activation(RIGHT.dense_mlp_forward(X, params, activation))


def gelu_exact_grad(x):                             # the derivative of the exact GELU, not of its approximation
    return nnp.gelu_grad(x)


def gelu_tanh_no_inner_derivative(x):               # forgets u'(x)
    c = np.sqrt(2 / np.pi)
    t = np.tanh(c * (x + 0.044715 * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c


def gelu_tanh_cosh(x):                              # 1 / cosh^2: cosh overflows to inf far out, 1 / inf = 0
    c = np.sqrt(2 / np.pi)
    u = c * (x + 0.044715 * x**3)
    with np.errstate(over="ignore"):                # the overflow is the point: 1 / inf = 0 is right here
        return 0.5 * (1 + np.tanh(u)) + 0.5 * x * c * (1 + 3 * 0.044715 * x**2) / np.cosh(u) ** 2


def masked_naive(z, mask):                          # no stability step
    e = np.where(mask, np.exp(z), 0.0)
    return np.log(e / e.sum(axis=-1, keepdims=True))


def masked_max_over_all(z, mask):                   # subtracts the maximum of all entries, masked ones included
    m = np.max(z, axis=-1, keepdims=True)
    e = np.where(mask, np.exp(z - m), 0.0)
    return z - m - np.log(e.sum(axis=-1, keepdims=True)) + np.where(mask, 0.0, -np.inf)


def masked_large_negative(z, mask):                 # -1e9 instead of -inf for the masked entries
    return nnp.log_softmax(np.where(mask, z, -1e9))


def masked_ignored(z, mask):
    return nnp.log_softmax(z)


def smoothed_other_classes_only(z, y, eps):         # eps / (C - 1) on the other classes, 1 - eps on the label
    N, C = z.shape
    q = np.full((N, C), eps / (C - 1))
    q[np.arange(N), y] = 1 - eps
    log_p = nnp.log_softmax(z)
    return float(-np.sum(q * log_p) / N), (np.exp(log_p) - q) / N


def smoothed_grad_ignores_eps(z, y, eps):           # right loss, gradient of the unsmoothed loss
    loss, _ = RIGHT.smoothed_cross_entropy(z, y, eps)
    _, grad = RIGHT.smoothed_cross_entropy(z, y, 0.0)
    return loss, grad


def smoothed_grad_not_averaged(z, y, eps):
    loss, grad = RIGHT.smoothed_cross_entropy(z, y, eps)
    return loss, grad * len(y)


def smoothed_naive_softmax(z, y, eps):              # softmax without the stability step
    N, C = z.shape
    p = np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)
    q = np.full((N, C), eps / C)
    q[np.arange(N), y] += 1 - eps
    return float(-np.sum(q * np.log(p)) / N), (p - q) / N


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("count_dense_parameters", count_as_float, "should be an int, got 75"),
    ("count_dense_parameters", count_numpy_float, "should be an int"),
    ("count_dense_parameters", count_plain_mlp, "is 47, expected 75"),
    ("count_dense_parameters", count_without_biases, "expected 75"),
    ("dense_mlp_forward", forward_previous_layer_only, "raised ValueError"),
    ("dense_mlp_forward", forward_reversed_order, "differs at index"),
    ("dense_mlp_forward", forward_activation_on_output, "differs at index"),
    ("gelu_tanh_grad", gelu_exact_grad, "differs at index"),
    ("gelu_tanh_grad", gelu_tanh_no_inner_derivative, "differs at index"),
    ("masked_log_softmax", masked_naive, "masked_log_softmax: the result"),
    ("masked_log_softmax", masked_max_over_all, "Test case 2: z=array (1, 4) float64"),
    ("masked_log_softmax", masked_large_negative, "differs at index [0, 1]: got -1"),
    ("masked_log_softmax", masked_ignored, "differs at index"),
    ("smoothed_cross_entropy", smoothed_other_classes_only, "smoothed_cross_entropy: loss is"),
    ("smoothed_cross_entropy", smoothed_grad_ignores_eps, "grad differs at index"),
    ("smoothed_cross_entropy", smoothed_grad_not_averaged, "grad differs at index"),
    ("smoothed_cross_entropy", smoothed_naive_softmax, "Test case 2: z=array (2, 3) float64"),
], extra_right=[("gelu_tanh_grad", gelu_tanh_cosh)])      # the cosh form is right (0 * finite far out)


def test_a_float_count_fails_even_when_its_value_is_right():
    with pytest.raises(CheckFailed, match=r"should be an int, got 75 \(float\)"):
        check.count_dense_parameters(count_as_float)


def test_hints_nudge_without_giving_the_code(capsys):
    for task in RIGHT.tasks:
        text = two_hints(check, task, capsys)
        assert "return " not in text and "np." not in text and "def " not in text


def test_failing_case_returns_the_inputs_of_the_failing_case():
    assert_fails(check.masked_log_softmax, masked_max_over_all, "Test case 2")
    z, mask = check.failing_case("masked_log_softmax")
    assert z[0, 0] == 1e4 and not mask[0, 0]


def test_reference_answers_are_not_importable_by_students():
    assert set(check.__all__) == {"count_dense_parameters", "dense_mlp_forward", "gelu_tanh_grad",
                                  "masked_log_softmax", "smoothed_cross_entropy", "softmax_regression_outcome",
                                  "hint", "failing_case"}


def test_the_first_count_case_is_the_lecture_network_made_dense():
    assert check._count_cases()[0] == ([6, 4, 3, 1],) and check._dense_count_reference([6, 4, 3, 1]) == 75


def train_without_bias_gradient(X, y, seed=0):      # b never moves, and only 5 steps: far from the target
    W, b = np.zeros((10, 64)), np.zeros(10)
    for _ in range(5):
        _, grad = RIGHT.smoothed_cross_entropy(X @ W.T + b, y, 0.1)
        W = W - 0.5 * grad.T @ X
    return W, b


@pytest.mark.parametrize("wrong,message", [
    (blank, "not implemented yet"),
    (lambda X, y, seed=0: (np.zeros((10, 64)), np.zeros(10)), "your validation accuracy is"),
    (train_without_bias_gradient, "the target is at least 0.92"),
    (lambda X, y, seed=0: (np.zeros((64, 10)), np.zeros(10)), "should return W of shape (10, 64)"),
    (lambda X, y, seed=0: np.zeros((10, 64)), "should return the pair (W, b)"),
])
def test_the_outcome_check_fails_on_a_blank_and_on_wrong_answers(wrong, message):
    assert_fails(check.softmax_regression_outcome, wrong, message)


def test_the_outcome_check_passes_on_the_solution(capsys):
    check.softmax_regression_outcome(RIGHT.train_softmax_regression)
    assert "reached validation accuracy" in capsys.readouterr().out
