"""Chapter 04 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/04_optimization.py, see checks_harness.py)."""
import math

import numpy as np

from checks_harness import assert_fails, check_tests, solution
from dlcourse.checks import optim as check

RIGHT = solution("04_optimization")
sgd_right, adam_right, sched_right = RIGHT.sgd_momentum_step, RIGHT.adam_step, RIGHT.warmup_cosine_lr


# ---- SGD -----------------------------------------------------------------------------------------
def sgd_dampened_first_step(param, grad, buf, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    g = grad + weight_decay * param
    if momentum == 0:
        return param - lr * g, None
    buf = (1 - dampening) * g if buf is None else momentum * buf + (1 - dampening) * g   # EMA from zero
    return param - lr * (g + momentum * buf if nesterov else buf), buf


def sgd_ignores_nesterov(param, grad, buf, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    return sgd_right(param, grad, buf, lr, momentum, dampening, weight_decay, False)


def sgd_decay_outside_momentum(param, grad, buf, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    new_param, buf = sgd_right(param, grad, buf, lr, momentum, dampening, 0.0, nesterov)
    return new_param - lr * weight_decay * param, buf


def sgd_returns_param_only(param, grad, buf, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    return sgd_right(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov)[0]


# ---- Adam ----------------------------------------------------------------------------------------
def adam_no_bias_correction(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    return param - lr * m / (np.sqrt(v) + eps), m, v


def adam_eps_inside_sqrt(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    return param - lr * (m / (1 - beta1 ** t)) / np.sqrt(v / (1 - beta2 ** t) + eps), m, v


def adam_t_off_by_one(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return adam_right(param, grad, m, v, t + 1, lr, beta1, beta2, eps)


def adam_forgets_state(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    new_param, _, _ = adam_right(param, grad, m, v, t, lr, beta1, beta2, eps)
    return new_param, m, v                                   # returns the old moments


# ---- warm-up + cosine ----------------------------------------------------------------------------
def sched_cosine_over_total(t, base_lr, warmup_steps, total_steps, start_factor=0.1, eta_min=0.0):
    if t < warmup_steps:
        return base_lr * (start_factor + (1 - start_factor) * t / warmup_steps)
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * t / total_steps)) / 2


def sched_no_eta_min(t, base_lr, warmup_steps, total_steps, start_factor=0.1, eta_min=0.0):
    return sched_right(t, base_lr, warmup_steps, total_steps, start_factor, 0.0)


def sched_warmup_from_zero(t, base_lr, warmup_steps, total_steps, start_factor=0.1, eta_min=0.0):
    if t < warmup_steps:
        return base_lr * t / warmup_steps
    return sched_right(t, base_lr, warmup_steps, total_steps, start_factor, eta_min)


def sched_returns_array(t, base_lr, warmup_steps, total_steps, start_factor=0.1, eta_min=0.0):
    return np.array([sched_right(t, base_lr, warmup_steps, total_steps, start_factor, eta_min)] * 2)


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("sgd_momentum_step", sgd_dampened_first_step, "Dampening is NOT applied at the first step"),
    ("sgd_momentum_step", sgd_ignores_nesterov, "sgd_momentum_step: the result differs at index"),
    ("sgd_momentum_step", sgd_decay_outside_momentum, "g = grad + weight_decay * param"),
    ("sgd_momentum_step", sgd_returns_param_only, "should return a tuple (new_param, new_buf)"),
    ("adam_step", adam_no_bias_correction, "m_hat = m / (1 - beta1**t)"),
    ("adam_step", adam_eps_inside_sqrt, "eps outside the square root"),
    ("adam_step", adam_t_off_by_one, "t = 1 at the first step"),
    ("adam_step", adam_forgets_state, "adam_step: the result differs at index"),
    ("warmup_cosine_lr", sched_cosine_over_total, "T = total_steps - warmup_steps"),
    ("warmup_cosine_lr", sched_no_eta_min, "eta_min + (base_lr - eta_min)"),
    ("warmup_cosine_lr", sched_warmup_from_zero, "starts at base_lr * start_factor"),
    ("warmup_cosine_lr", sched_returns_array, "should return one number"),
])


def test_failure_message_names_the_step():
    text = assert_fails(check.adam_step, adam_no_bias_correction, "row t-1 of the result")
    assert "differs at index [0" in text                      # already the first step is wrong
