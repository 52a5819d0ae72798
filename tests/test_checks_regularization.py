"""Chapter 05 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/05_regularization.py, see checks_harness.py)."""
import numpy as np

from checks_harness import check_tests, solution
from dlcourse.checks import regularization as check

RIGHT = solution("05_regularization")


# ---- dropout --------------------------------------------------------------------------------------
def dropout_no_rescale(x, g, p, u):                      # "standard" dropout at training time
    mask = (u >= p).astype(float)
    return x * mask, g * mask


def dropout_keeps_below_p(x, g, p, u):                   # keep probability p instead of 1 - p
    mask = (u < p) / (1 - p)
    return x * mask, g * mask


def dropout_backward_without_mask(x, g, p, u):
    return x * (u >= p) / (1 - p), g / (1 - p)


# ---- batch norm forward ------------------------------------------------------------------------------
def bn_forward_unbiased(x, gamma, beta, eps=1e-5):
    return gamma * (x - x.mean(0)) / np.sqrt(x.var(0, ddof=1) + eps) + beta


def bn_forward_wrong_axis(x, gamma, beta, eps=1e-5):     # normalises each example instead of each channel
    return gamma * (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + eps) + beta


# ---- batch norm backward ---------------------------------------------------------------------------
def bn_backward_constant_statistics(x, gamma, g, eps=1e-5):     # treats mu and sigma as constants
    inv_std = 1 / np.sqrt(x.var(0) + eps)
    x_hat = (x - x.mean(0)) * inv_std
    return g * gamma * inv_std, (g * x_hat).sum(0), g.sum(0)


def bn_backward_mean_instead_of_sum(x, gamma, g, eps=1e-5):
    grad_x, grad_gamma, grad_beta = RIGHT.batchnorm_backward(x, gamma, g, eps)
    return grad_x, grad_gamma / len(x), grad_beta / len(x)


# ---- running statistics ----------------------------------------------------------------------------
def running_keras_convention(rm, rv, x, momentum=0.1):   # momentum weights the OLD value
    return momentum * rm + (1 - momentum) * x.mean(0), momentum * rv + (1 - momentum) * x.var(0, ddof=1)


def running_biased_variance(rm, rv, x, momentum=0.1):
    return (1 - momentum) * rm + momentum * x.mean(0), (1 - momentum) * rv + momentum * x.var(0)


def running_in_place(rm, rv, x, momentum=0.1):
    rm *= 1 - momentum
    rm += momentum * x.mean(0)
    rv *= 1 - momentum
    rv += momentum * x.var(0, ddof=1)
    return rm, rv


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("dropout_forward_backward", dropout_no_rescale, "E[y] = x"),
    ("dropout_forward_backward", dropout_keeps_below_p, "value 0 of the result differs"),
    ("dropout_forward_backward", dropout_backward_without_mask, "value 1 of the result differs"),
    ("batchnorm_forward", bn_forward_unbiased, "BIASED"),
    ("batchnorm_forward", bn_forward_wrong_axis, "differs at index"),
    ("batchnorm_backward", bn_backward_constant_statistics, "forgetting the two subtracted terms"),
    ("batchnorm_backward", bn_backward_mean_instead_of_sum, "value 1 of the result differs"),
    ("update_running_stats", running_keras_convention, "weights the NEW batch"),
    ("update_running_stats", running_biased_variance, "value 1 of the result differs"),
    ("update_running_stats", running_in_place, "changed its input `running_mean` in place"),
])


def test_checks_agree_with_the_chapter_layers():
    """The exported numpy_nn layers solve the exercises too (the checks and the chapter agree)."""
    from dlcourse import numpy_nn as nnp
    from dlcourse.parity import FixedUniforms

    def dropout_layer(x, g, p, u):
        layer = nnp.Dropout(p, rng=FixedUniforms(u))
        return layer(x), layer.backward(g)

    def bn_layer_backward(x, gamma, g, eps=1e-5):
        layer = nnp.BatchNorm1d(x.shape[1], eps=eps)
        layer.params["weight"] = gamma.copy()
        layer(x)
        grad_x = layer.backward(g)
        return grad_x, layer.grads["weight"], layer.grads["bias"]

    check.dropout_forward_backward(dropout_layer)
    check.batchnorm_backward(bn_layer_backward)
