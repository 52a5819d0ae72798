"""Chapter 04 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/04_optimization.py, see checks_harness.py)."""
import math

import numpy as np

from checks_harness import assert_fails, check_tests, solution
from dlcourse.checks import optim as check

RIGHT = solution("04_optimization")
adamw_right, rprop_right, cycle_right = RIGHT.adamw_step, RIGHT.rprop_step, RIGHT.one_cycle_lr
DIFFERS = "the parameter after each step (row k: step k + 1) differs at index"


# ---- AdamW ---------------------------------------------------------------------------------------
def adamw_coupled_l2(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
    return adamw_right(param, grad + weight_decay * param, m, v, t, lr, beta1, beta2, eps, 0.0)   # Adam's L2


def adamw_decay_after_update(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
    new_param, m, v = adamw_right(param, grad, m, v, t, lr, beta1, beta2, eps, 0.0)
    return new_param * (1 - lr * weight_decay), m, v


def adamw_decay_without_lr(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
    new_param, m, v = adamw_right(param, grad, m, v, t, lr, beta1, beta2, eps, 0.0)
    return new_param - weight_decay * param, m, v


def adamw_skips_decay_without_momentum(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                                       weight_decay=1e-2):
    return adamw_right(param, grad, m, v, t, lr, beta1, beta2, eps, weight_decay if beta1 > 0 else 0.0)


def adamw_in_place(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
    m *= beta1                                                 # updates the caller's arrays
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * grad ** 2
    param *= 1 - lr * weight_decay
    param -= lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return param, m, v


def adamw_no_bias_correction(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    return param * (1 - lr * weight_decay) - lr * m / (np.sqrt(v) + eps), m, v


def adamw_returns_param_only(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
    return adamw_right(param, grad, m, v, t, lr, beta1, beta2, eps, weight_decay)[0]


# ---- Rprop ---------------------------------------------------------------------------------------
def rprop_uses_gradient_size(param, grad, prev, step_size, lr=1e-2, etaminus=0.5, etaplus=1.2, step_min=1e-6,
                             step_max=50.0):
    new_param, new_prev, new_step = rprop_right(param, grad, prev, step_size, lr, etaminus, etaplus, step_min, step_max)
    return param - new_step * np.where(new_prev == 0, 0.0, grad), new_prev, new_step


def rprop_moves_after_flip(param, grad, prev, step_size, lr=1e-2, etaminus=0.5, etaplus=1.2, step_min=1e-6,
                           step_max=50.0):
    prev = np.zeros_like(param) if prev is None else prev
    step_size = np.full_like(param, lr) if step_size is None else step_size
    same = np.sign(grad * prev)
    step_size = np.clip(step_size * np.where(same > 0, etaplus, np.where(same < 0, etaminus, 1.0)), step_min, step_max)
    return param - np.sign(grad) * step_size, grad.copy(), step_size          # no skip, no zeroing


def rprop_no_clip(param, grad, prev, step_size, lr=1e-2, etaminus=0.5, etaplus=1.2, step_min=1e-6, step_max=50.0):
    return rprop_right(param, grad, prev, step_size, lr, etaminus, etaplus, 0.0, np.inf)


def rprop_zero_step_sizes(param, grad, prev, step_size, lr=1e-2, etaminus=0.5, etaplus=1.2, step_min=1e-6,
                          step_max=50.0):
    step_size = np.zeros_like(param) if step_size is None else step_size        # a zero buffer, not lr
    return rprop_right(param, grad, prev, step_size, lr, etaminus, etaplus, step_min, step_max)


def rprop_in_place(param, grad, prev, step_size, lr=1e-2, etaminus=0.5, etaplus=1.2, step_min=1e-6, step_max=50.0):
    new_param, new_prev, new_step = rprop_right(param, grad, prev, step_size, lr, etaminus, etaplus, step_min, step_max)
    if step_size is not None:
        step_size[...] = new_step                              # writes into the caller's array
    return new_param, new_prev, new_step


def rprop_rejects_none(param, grad, prev, step_size, lr=1e-2, etaminus=0.5, etaplus=1.2, step_min=1e-6,
                       step_max=50.0):
    return rprop_right(param, grad, prev * 1.0, step_size, lr, etaminus, etaplus, step_min, step_max)


# ---- one-cycle -----------------------------------------------------------------------------------
def cycle_phase_end_off_by_one(t, max_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    def anneal(a, b, x):
        return b + (a - b) * (1 + math.cos(math.pi * x)) / 2
    w = pct_start * total_steps
    if t <= w:
        return anneal(max_lr / div_factor, max_lr, t / w)
    return anneal(max_lr, max_lr / div_factor / final_div_factor, (t - w) / (total_steps - 1 - w))


def cycle_linear(t, max_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    w, lo = pct_start * total_steps - 1, max_lr / div_factor
    if t <= w:
        return lo + (max_lr - lo) * t / w
    return max_lr + (lo / final_div_factor - max_lr) * (t - w) / (total_steps - 1 - w)


def cycle_wrong_minimum(t, max_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    return cycle_right(t, max_lr, total_steps, pct_start, div_factor, final_div_factor * div_factor / max_lr
                       if t > pct_start * total_steps - 1 else final_div_factor)


def cycle_returns_array(t, max_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    return np.array([cycle_right(t, max_lr, total_steps, pct_start, div_factor, final_div_factor)] * 2)


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("adamw_step", adamw_coupled_l2, DIFFERS),
    ("adamw_step", adamw_decay_after_update, DIFFERS),
    ("adamw_step", adamw_decay_without_lr, DIFFERS),
    ("adamw_step", adamw_skips_decay_without_momentum, DIFFERS),
    ("adamw_step", adamw_in_place, "changed its input `param` in place at step 1"),
    ("adamw_step", adamw_no_bias_correction, DIFFERS),
    ("adamw_step", adamw_returns_param_only, "should return a tuple (new_param, new_m, new_v)"),
    ("rprop_step", rprop_uses_gradient_size, DIFFERS),
    ("rprop_step", rprop_moves_after_flip, DIFFERS),
    ("rprop_step", rprop_no_clip, DIFFERS),
    ("rprop_step", rprop_zero_step_sizes, DIFFERS),
    ("rprop_step", rprop_in_place, "changed its input `step_size` in place at step 2"),
    ("rprop_step", rprop_rejects_none, "raised TypeError"),
    ("one_cycle_lr", cycle_phase_end_off_by_one, "the learning rate at each step (index t) differs at index"),
    ("one_cycle_lr", cycle_linear, "the learning rate at each step (index t) differs at index"),
    ("one_cycle_lr", cycle_wrong_minimum, "the learning rate at each step (index t) differs at index"),
    ("one_cycle_lr", cycle_returns_array, "should return one number"),
])


def test_hints_nudge_first_and_never_show_code(capsys):
    for task in RIGHT.tasks:
        assert_fails(getattr(check, task), lambda *a, **k: (_ for _ in ()).throw(ValueError("x")), "raised ValueError")
        check.hint(task)
        first = capsys.readouterr().out
        check.hint(task)
        second = capsys.readouterr().out
        assert first.startswith(f"Hint 1 for {task}") and second.startswith(f"Hint 2 for {task}")
        assert "return " not in first + second and " = np." not in first + second


def test_failing_case_can_be_rerun():
    assert_fails(check.rprop_step, rprop_no_clip, DIFFERS)
    param0, grads, *rest = check.failing_case("rprop_step")
    assert len(grads) >= 3 and np.shape(param0) == np.shape(grads[0]) and len(rest) == 5


def test_outcome_passes_on_the_solution_and_fails_on_an_untrained_model(capsys):
    check.digits_outcome(RIGHT.train_digits)
    assert "reached validation accuracy" in capsys.readouterr().out

    def untrained(X, y, seed=0):
        return lambda images: np.zeros((len(images), 10))

    assert_fails(check.digits_outcome, untrained, "the target is at least 0.95")
    assert_fails(check.digits_outcome, lambda X, y, seed=0: 0.97, "should return the trained model")
