"""Chapter 07 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/07_resnet.py, see checks_harness.py)."""
import numpy as np
import pytest

from checks_harness import assert_fails, check_tests, solution
from dlcourse.checks import CheckFailed, resnet as check

RIGHT = solution("07_resnet")
forward_right, backward_right, count_right = RIGHT.residual_forward, RIGHT.residual_backward, RIGHT.resnet_num_parameters


def forward_no_shortcut(x, W1, b1, W2, b2, P=None):
    return np.maximum(x @ W1.T + b1, 0) @ W2.T + b2


def forward_relu_after_sum(x, W1, b1, W2, b2, P=None):
    return np.maximum(forward_right(x, W1, b1, W2, b2, P), 0)


def forward_ignores_projection(x, W1, b1, W2, b2, P=None):
    fx = np.maximum(x @ W1.T + b1, 0) @ W2.T + b2
    return fx + (x if x.shape == fx.shape else x @ P.T)


def backward_forgets_shortcut(x, W1, b1, W2, b2, P, G):
    gx, *rest = backward_right(x, W1, b1, W2, b2, P, G)
    return (gx - G @ P, *rest)


def backward_transposed_projection(x, W1, b1, W2, b2, P, G):
    gx, dW1, db1, dW2, db2, dP = backward_right(x, W1, b1, W2, b2, P, G)
    return gx, dW1, db1, dW2, db2, x.T @ G          # (D_in, D_out) instead of (D_out, D_in)


def count_no_bn(layers, widths, num_classes, in_channels=3):
    total = 49 * in_channels * widths[0]
    c_in = widths[0]
    for i, (n, c) in enumerate(zip(layers, widths)):
        for j in range(n):
            total += 9 * c_in * c + 9 * c * c
            if j == 0 and (i > 0 or c_in != c):
                total += c_in * c
            c_in = c
    return total + widths[-1] * num_classes + num_classes


def count_no_projection(layers, widths, num_classes, in_channels=3):
    total = 49 * in_channels * widths[0] + 2 * widths[0]
    c_in = widths[0]
    for n, c in zip(layers, widths):
        for _ in range(n):
            total += 9 * c_in * c + 9 * c * c + 4 * c
            c_in = c
    return total + widths[-1] * num_classes + num_classes


def count_with_running_stats(*args):
    n_bn_channels = (count_right(*args) - count_no_bn(*args)) // 2
    return count_right(*args) + 2 * n_bn_channels


WRONG = [
    ("residual_forward", forward_no_shortcut, "shortcut"),
    ("residual_forward", forward_relu_after_sum, "no ReLU after"),
    ("residual_forward", forward_ignores_projection, "x @ P.T"),
    ("residual_backward", backward_forgets_shortcut, "BOTH paths"),
    ("residual_backward", backward_transposed_projection, "dP = G.T @ x"),
    ("resnet_num_parameters", count_no_bn, "2 per channel"),
    ("resnet_num_parameters", count_no_projection, "projection"),
    ("resnet_num_parameters", count_with_running_stats, "buffers, not parameters"),
]
test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, WRONG)


@pytest.mark.parametrize("task,wrong", [(task, wrong) for task, wrong, _ in WRONG])
def test_mistakes_are_reported_with_the_case_and_a_hint(task, wrong):
    message = assert_fails(getattr(check, task), wrong, "Test case")
    assert "Hint" in message


def test_float_count_rejected():
    with pytest.raises(CheckFailed, match="integer"):
        check.resnet_num_parameters(lambda *a: count_right(*a) + 0.5)
