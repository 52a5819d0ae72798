"""The chapter 02 exercise checks: each fails on a blank and on typical wrong answers with a message that
says what is wrong, and passes on the solution (solutions/02_mlp.py, see checks_harness.py)."""
import numpy as np
import pytest

from checks_harness import check_tests, solution
from dlcourse import numpy_nn as nnp
from dlcourse.checks import CheckFailed, mlp as check

RIGHT = solution("02_mlp")


# ---- typical wrong answers -------------------------------------------------------------------------
def count_without_biases(sizes):
    return sum(n_out * n_in for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def count_one_bias_too_many(sizes):                 # also counts a bias for the input "layer"
    return RIGHT.count_parameters(sizes) + sizes[0]


def forward_activation_on_output(X, params, activation):
    return activation(RIGHT.mlp_forward(X, params, activation))


def forward_weights_not_transposed(X, params, activation):
    return RIGHT.mlp_forward(X, [(W.T, b) for W, b in params], activation)


def silu_grad_forgot_product_rule(x):
    return nnp.sigmoid(x)


def silu_grad_sign_error(x):
    s = nnp.sigmoid(x)
    return s * (1 - x * (1 - s))


def log_softmax_naive(z):
    return np.log(np.exp(z) / np.sum(np.exp(z), axis=-1, keepdims=True))


def log_softmax_wrong_axis(z):
    return z - nnp.logsumexp(z, axis=0, keepdims=True)


def log_softmax_no_keepdims(z):                     # broadcasting goes wrong (or raises) without keepdims
    return z - nnp.logsumexp(z, axis=-1)


def ce_summed(z, y):
    loss, grad = RIGHT.softmax_cross_entropy(z, y)
    return loss * len(y), grad


def ce_grad_not_averaged(z, y):
    loss, grad = RIGHT.softmax_cross_entropy(z, y)
    return loss, grad * len(y)


def ce_grad_without_onehot(z, y):
    loss, _ = RIGHT.softmax_cross_entropy(z, y)
    return loss, nnp.softmax(z) / len(y)


def ce_naive(z, y):
    p = np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)
    N = len(y)
    return float(-np.mean(np.log(p[np.arange(N), y]))), (p - np.eye(z.shape[1])[y]) / N


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("count_parameters", count_without_biases, "is 39, expected 47"),
    ("count_parameters", count_without_biases, "n_out biases"),
    ("count_parameters", count_one_bias_too_many, "expected 47"),
    ("mlp_forward", forward_activation_on_output, "except the last one"),
    ("mlp_forward", forward_weights_not_transposed, "mlp_forward("),
    ("silu_grad", silu_grad_forgot_product_rule, "product rule"),
    ("silu_grad", silu_grad_sign_error, "differs at index"),
    ("log_softmax", log_softmax_naive, "Subtract m = max_j z_j"),
    ("log_softmax", log_softmax_wrong_axis, "LAST axis"),
    ("log_softmax", log_softmax_no_keepdims, "log_softmax"),
    ("softmax_cross_entropy", ce_summed, "value 0 of the result"),
    ("softmax_cross_entropy", ce_summed, "the MEAN over the batch"),
    ("softmax_cross_entropy", ce_grad_not_averaged, "value 1 of the result differs"),
    ("softmax_cross_entropy", ce_grad_without_onehot, "onehot(y)"),
    ("softmax_cross_entropy", ce_naive, "with large logits exp overflows"),
], extra_right=[("silu_grad", nnp.silu_grad), ("log_softmax", nnp.log_softmax)])   # the exported functions too


def test_naive_log_softmax_is_reported_as_nan_or_inf_with_the_input():
    with pytest.raises(CheckFailed) as excinfo, np.errstate(all="ignore"):
        check.log_softmax(log_softmax_naive)
    text = str(excinfo.value)
    assert "contains NaN" in text or "got -inf" in text or "got inf" in text
    assert "Test case 1: z=array (1, 3) float64" in text


def test_a_check_notices_in_place_modification():
    def in_place(x):
        x *= 0
        return nnp.silu_grad(x)
    with pytest.raises(CheckFailed, match="changed its input `x` in place"):
        check.silu_grad(in_place)


def test_the_lecture_network_is_the_first_case():
    assert check._count_cases()[0] == ([6, 4, 3, 1],) and check._reference_count([6, 4, 3, 1]) == 47
