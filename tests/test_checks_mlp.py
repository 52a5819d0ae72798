"""The chapter 02 exercise checks: each fails on a blank and on typical wrong answers with a message that
says what is wrong, and passes on a correct solution."""
import numpy as np
import pytest

from dlcourse import numpy_nn as nnp
from dlcourse.checks import CheckFailed, mlp as check


def blank(*args):
    raise NotImplementedError


# ---- correct solutions ---------------------------------------------------------------------------
def count_parameters(sizes):
    return sum(n_out * n_in + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def mlp_forward(X, params, activation):
    z = X
    for l, (W, b) in enumerate(params, start=1):
        a = z @ W.T + b
        z = activation(a) if l < len(params) else a
    return z


def softmax_cross_entropy(z, y):
    N = len(y)
    loss = float(np.mean(-nnp.log_softmax(z)[np.arange(N), y]))
    return loss, (nnp.softmax(z) - np.eye(z.shape[1])[y]) / N


# ---- typical wrong answers -------------------------------------------------------------------------
def count_without_biases(sizes):
    return sum(n_out * n_in for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def count_one_bias_too_many(sizes):                 # also counts a bias for the input "layer"
    return count_parameters(sizes) + sizes[0]


def forward_activation_on_output(X, params, activation):
    return activation(mlp_forward(X, params, activation))


def forward_weights_not_transposed(X, params, activation):
    return mlp_forward(X, [(W.T, b) for W, b in params], activation)


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
    loss, grad = softmax_cross_entropy(z, y)
    return loss * len(y), grad


def ce_grad_not_averaged(z, y):
    loss, grad = softmax_cross_entropy(z, y)
    return loss, grad * len(y)


def ce_grad_without_onehot(z, y):
    loss, _ = softmax_cross_entropy(z, y)
    return loss, nnp.softmax(z) / len(y)


def ce_naive(z, y):
    p = np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)
    N = len(y)
    return float(-np.mean(np.log(p[np.arange(N), y]))), (p - np.eye(z.shape[1])[y]) / N


@pytest.mark.parametrize("checker,wrong,message", [
    (check.count_parameters, blank, "not implemented yet"),
    (check.count_parameters, count_without_biases, "is 39, expected 47"),
    (check.count_parameters, count_without_biases, "n_out biases"),
    (check.count_parameters, count_one_bias_too_many, "expected 47"),
    (check.mlp_forward, blank, "not implemented yet"),
    (check.mlp_forward, forward_activation_on_output, "except the last one"),
    (check.mlp_forward, forward_weights_not_transposed, "mlp_forward("),
    (check.silu_grad, blank, "not implemented yet"),
    (check.silu_grad, silu_grad_forgot_product_rule, "product rule"),
    (check.silu_grad, silu_grad_sign_error, "differs at index"),
    (check.log_softmax, blank, "not implemented yet"),
    (check.log_softmax, log_softmax_naive, "Subtract m = max_j z_j"),
    (check.log_softmax, log_softmax_wrong_axis, "LAST axis"),
    (check.log_softmax, log_softmax_no_keepdims, "log_softmax"),
    (check.softmax_cross_entropy, blank, "not implemented yet"),
    (check.softmax_cross_entropy, ce_summed, "value 0 of the result"),
    (check.softmax_cross_entropy, ce_summed, "the MEAN over the batch"),
    (check.softmax_cross_entropy, ce_grad_not_averaged, "value 1 of the result differs"),
    (check.softmax_cross_entropy, ce_grad_without_onehot, "onehot(y)"),
    (check.softmax_cross_entropy, ce_naive, "with large logits exp overflows"),
])
def test_checks_fail_on_blanks_and_wrong_answers(checker, wrong, message):
    with pytest.raises(CheckFailed) as excinfo, np.errstate(all="ignore"):
        checker(wrong)
    assert message in str(excinfo.value), str(excinfo.value)


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


@pytest.mark.parametrize("checker,right", [
    (check.count_parameters, count_parameters),
    (check.mlp_forward, mlp_forward),
    (check.silu_grad, nnp.silu_grad),
    (check.log_softmax, nnp.log_softmax),
    (check.softmax_cross_entropy, softmax_cross_entropy),
])
def test_checks_pass_on_a_correct_solution(checker, right, capsys):
    checker(right)
    assert "correct on" in capsys.readouterr().out


def test_the_lecture_network_is_the_first_case():
    assert check._count_cases()[0] == ([6, 4, 3, 1],) and check._reference_count([6, 4, 3, 1]) == 47
