"""Chapter 05 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/05_regularization.py, see checks_harness.py)."""
import numpy as np
import pytest

from checks_harness import assert_fails, blank, check_tests, solution
from dlcourse.checks import regularization as check

RIGHT = solution("05_regularization")


# ---- channel dropout -------------------------------------------------------------------------------
def d2_no_rescale(x, g, p, u):                            # "standard" dropout at training time
    mask = (u >= p)[:, :, None, None].astype(float)
    return x * mask, g * mask


def d2_keeps_below_p(x, g, p, u):                         # keep probability p instead of 1 - p
    mask = ((u < p) / (1 - p))[:, :, None, None]
    return x * mask, g * mask


def d2_backward_without_mask(x, g, p, u):
    mask = ((u >= p) / (1 - p))[:, :, None, None]
    return x * mask, g / (1 - p)


def d2_per_pixel(x, g, p, u):                             # one decision per pixel (the chapter's Dropout)
    keep = np.random.default_rng(0).random(x.shape) >= p
    return x * keep / (1 - p), g * keep / (1 - p)


def d2_without_broadcast(x, g, p, u):                     # (N, C) mask against (N, C, H, W): raises
    mask = (u >= p) / (1 - p)
    return x * mask, g * mask


# ---- layer norm ------------------------------------------------------------------------------------
def ln_batch_axis(x, gamma, beta, g, eps=1e-5):           # batch norm: statistics over the examples
    x_hat = (x - x.mean(0)) / np.sqrt(x.var(0) + eps)
    return (gamma * x_hat + beta, *RIGHT.layernorm_forward_backward(x, gamma, beta, g, eps)[1:])


def ln_unbiased(x, gamma, beta, g, eps=1e-5):
    inv_std = 1 / np.sqrt(x.var(1, ddof=1, keepdims=True) + eps)
    x_hat = (x - x.mean(1, keepdims=True)) * inv_std
    return (gamma * x_hat + beta, *RIGHT.layernorm_forward_backward(x, gamma, beta, g, eps)[1:])


def ln_constant_statistics(x, gamma, beta, g, eps=1e-5):   # mu and sigma treated as constants
    y, _, grad_gamma, grad_beta = RIGHT.layernorm_forward_backward(x, gamma, beta, g, eps)
    return y, g * gamma / np.sqrt(x.var(1, keepdims=True) + eps), grad_gamma, grad_beta


def ln_gamma_sum_over_features(x, gamma, beta, g, eps=1e-5):
    y, grad_x, _, _ = RIGHT.layernorm_forward_backward(x, gamma, beta, g, eps)
    x_hat = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + eps)
    return y, grad_x, (g * x_hat).sum(1), g.sum(1)


def ln_gamma_mean(x, gamma, beta, g, eps=1e-5):
    y, grad_x, grad_gamma, grad_beta = RIGHT.layernorm_forward_backward(x, gamma, beta, g, eps)
    return y, grad_x, grad_gamma / len(x), grad_beta / len(x)


def ln_batchnorm_backward(x, gamma, beta, g, eps=1e-5):   # the chapter's formula with the batch-axis means
    y, _, grad_gamma, grad_beta = RIGHT.layernorm_forward_backward(x, gamma, beta, g, eps)
    inv_std = 1 / np.sqrt(x.var(1, keepdims=True) + eps)
    x_hat = (x - x.mean(1, keepdims=True)) * inv_std
    gh = g * gamma
    return y, (gh - gh.mean(0) - x_hat * (gh * x_hat).mean(0)) * inv_std, grad_gamma, grad_beta


# ---- folding ---------------------------------------------------------------------------------------
def fold_columns(W, b, gamma, beta, mean, var, eps=1e-5):    # scale broadcast along the columns of W
    scale = gamma / np.sqrt(var + eps)
    return W * scale, (b - mean) * scale + beta


def fold_forgets_bias(W, b, gamma, beta, mean, var, eps=1e-5):
    scale = gamma / np.sqrt(var + eps)
    return W * scale[:, None], beta - mean * scale


def fold_without_eps(W, b, gamma, beta, mean, var, eps=1e-5):
    scale = gamma / np.sqrt(var)
    return W * scale[:, None], (b - mean) * scale + beta


def fold_divides_by_variance(W, b, gamma, beta, mean, var, eps=1e-5):
    scale = gamma / (var + eps)
    return W * scale[:, None], (b - mean) * scale + beta


def fold_in_place(W, b, gamma, beta, mean, var, eps=1e-5):
    scale = gamma / np.sqrt(var + eps)
    W *= scale[:, None]
    b -= mean
    b *= scale
    b += beta
    return W, b


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("dropout2d_forward_backward", d2_no_rescale, "y differs at index"),
    ("dropout2d_forward_backward", d2_keeps_below_p, "y differs at index"),
    ("dropout2d_forward_backward", d2_backward_without_mask, "grad_x differs at index"),
    ("dropout2d_forward_backward", d2_per_pixel, "y differs at index"),
    ("dropout2d_forward_backward", d2_without_broadcast, "raised ValueError"),
    ("layernorm_forward_backward", ln_batch_axis, "y differs at index"),
    ("layernorm_forward_backward", ln_unbiased, "y differs at index"),
    ("layernorm_forward_backward", ln_constant_statistics, "grad_x differs at index"),
    ("layernorm_forward_backward", ln_batchnorm_backward, "grad_x differs at index"),
    ("layernorm_forward_backward", ln_gamma_sum_over_features, "grad_gamma has shape"),
    ("layernorm_forward_backward", ln_gamma_mean, "grad_gamma differs"),
    ("fold_batchnorm", fold_columns, "raised ValueError"),
    ("fold_batchnorm", fold_forgets_bias, "b_folded differs at index"),
    ("fold_batchnorm", fold_without_eps, "W_folded differs at index"),
    ("fold_batchnorm", fold_divides_by_variance, "W_folded differs at index"),
    ("fold_batchnorm", fold_in_place, "changed its input `W` in place"),
])


def test_the_hints_nudge_without_the_answer():
    """Two hints per task, and none of them holds code that solves it."""
    from dlcourse.checks import _HINTS

    for task in RIGHT.tasks:
        with pytest.raises(Exception):
            getattr(check, task)(blank)
        assert len(_HINTS[task]) == 2, task
        for text in _HINTS[task]:
            assert "return " not in text and "(u >= p)" not in text and "/ np.sqrt" not in text, text


# ---- the outcome task ------------------------------------------------------------------------------
def train_plain_mlp(X, y, seed=0):                        # no regularization: over-confident, misses the target
    from dlcourse.widgets.regularization import dropout_run

    model = dropout_run(p=0.0, seed=seed, eval_every=600).model
    return lambda X_new: model(np.asarray(X_new, dtype=np.float32))


def train_returns_probabilities_shape(X, y, seed=0):
    return lambda X_new: np.full((len(X_new), 9), 0.1)


def train_with_unwritten_helper(X, y, seed=0):
    return _unwritten_augment(X, y)


def _unwritten_augment(X, y):
    raise NotImplementedError


def train_returns_model_output(X, y, seed=0):
    return np.zeros((len(X), 10))


@pytest.mark.parametrize("wrong,message", [
    (blank, "not implemented yet"),
    (train_plain_mlp, "the target is at most 0.22"),
    (train_returns_probabilities_shape, "expected (270, 10)"),
    (train_with_unwritten_helper, "the helper `_unwritten_augment` you call is not implemented yet"),
    (train_returns_model_output, "should return a function"),
], ids=lambda v: getattr(v, "__name__", "message"))
def test_the_outcome_check_fails_on_a_blank_and_on_wrong_answers(wrong, message):
    assert_fails(check.regularized_outcome, wrong, message)


@pytest.mark.slow
def test_the_outcome_check_passes_on_the_solution(capsys):
    check.regularized_outcome(RIGHT.train_regularized)
    assert "reached validation cross-entropy" in capsys.readouterr().out
