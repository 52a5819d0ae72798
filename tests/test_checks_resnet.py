"""Chapter 07 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/07_resnet.py, see checks_harness.py)."""
import numpy as np
import pytest

from checks_harness import assert_fails, blank, check_tests, solution
from dlcourse.checks import resnet as check

RIGHT = solution("07_resnet")
forward_right, backward_right, count_right = RIGHT.residual_forward, RIGHT.residual_backward, RIGHT.resnet_num_parameters


# ---- Task 1: forward ----------------------------------------------------------------------------
def forward_no_shortcut(x, W1, b1, W2, b2, P=None):
    return np.maximum(x @ W1.T + b1, 0) @ W2.T + b2


def forward_relu_after_sum(x, W1, b1, W2, b2, P=None):
    return np.maximum(forward_right(x, W1, b1, W2, b2, P), 0)


def forward_ignores_projection(x, W1, b1, W2, b2, P=None):
    fx = np.maximum(x @ W1.T + b1, 0) @ W2.T + b2
    return fx + (x if x.shape == fx.shape else x @ P.T)


def forward_relu_on_both_layers(x, W1, b1, W2, b2, P=None):
    fx = np.maximum(np.maximum(x @ W1.T + b1, 0) @ W2.T + b2, 0)
    return fx + (x if P is None else x @ P.T)


# ---- Task 2: backward ---------------------------------------------------------------------------
def backward_forgets_shortcut(x, W1, b1, W2, b2, P, G):
    gx, *rest = backward_right(x, W1, b1, W2, b2, P, G)
    return (gx - G @ P, *rest)


def backward_identity_shortcut_gradient(x, W1, b1, W2, b2, P, G):
    gx, *rest = backward_right(x, W1, b1, W2, b2, P, G)    # adds G as if the shortcut were the identity
    return (gx - G @ P + (G if G.shape == x.shape else G @ P), *rest)


def backward_transposed_projection(x, W1, b1, W2, b2, P, G):
    gx, dW1, db1, dW2, db2, dP = backward_right(x, W1, b1, W2, b2, P, G)
    return gx, dW1, db1, dW2, db2, x.T @ G          # (D_in, D_out) instead of (D_out, D_in)


def backward_relu_mask_on_output(x, W1, b1, W2, b2, P, G):
    A = x @ W1.T + b1
    H = np.maximum(A, 0)
    grad_A = G @ W2                                  # forgets the ReLU's mask
    return (grad_A @ W1 + G @ P, grad_A.T @ x, grad_A.sum(0), G.T @ H, G.sum(0), G.T @ x)


# ---- Task 3: parameter count --------------------------------------------------------------------
def count_no_bn(layers, widths, num_classes, in_channels=3, bottleneck=False):
    e = 4 if bottleneck else 1
    total, c_in = 49 * in_channels * widths[0], widths[0]
    for i, (n, c) in enumerate(zip(layers, widths)):
        for j in range(n):
            total += (c_in * c + 9 * c * c + c * e * c) if bottleneck else (9 * c_in * c + 9 * c * c)
            if j == 0 and (i > 0 or c_in != e * c):
                total += c_in * e * c
            c_in = e * c
    return total + c_in * num_classes + num_classes


def count_no_projection(layers, widths, num_classes, in_channels=3, bottleneck=False):
    total = count_right(layers, widths, num_classes, in_channels, bottleneck)
    e, c_in = (4 if bottleneck else 1), widths[0]
    for i, c in enumerate(widths):
        if i > 0 or c_in != e * c:
            total -= c_in * e * c + 2 * e * c
        c_in = e * c
    return total


def count_with_running_stats(*args):
    n_bn_channels = (count_right(*args) - count_no_bn(*args)) // 2
    return count_right(*args) + 2 * n_bn_channels


def count_bottleneck_no_stage1_projection(layers, widths, num_classes, in_channels=3, bottleneck=False):
    """Projection only where the stride is 2 (every stage but the first), as for basic blocks."""
    total = count_right(layers, widths, num_classes, in_channels, bottleneck)
    if bottleneck:
        total -= widths[0] * 4 * widths[0] + 2 * 4 * widths[0]
    return total


def count_classifier_without_expansion(layers, widths, num_classes, in_channels=3, bottleneck=False):
    total = count_right(layers, widths, num_classes, in_channels, bottleneck)
    e = 4 if bottleneck else 1
    return total - e * widths[-1] * num_classes + widths[-1] * num_classes


def count_as_float(*args):
    return float(count_right(*args))


# ---- Task 4: outcome ----------------------------------------------------------------------------
def shallow_net(X, y, seed=0):
    import torch
    from dlcourse.resnet import cifar_resnet
    torch.manual_seed(seed)
    return cifar_resnet(8, (8, 16, 32)).eval()                # 8 layers deep: too shallow


def untrained_resnet20(X, y, seed=0):
    import torch
    from dlcourse.resnet import cifar_resnet
    torch.manual_seed(seed)
    return cifar_resnet(20, (8, 16, 32)).eval()               # deep enough, never trained


def returns_accuracy(X, y, seed=0):
    return 0.97


WRONG = [
    ("residual_forward", forward_no_shortcut, "differs"),
    ("residual_forward", forward_relu_after_sum, "differs"),
    ("residual_forward", forward_ignores_projection, "differs"),
    ("residual_forward", forward_relu_on_both_layers, "differs"),
    ("residual_backward", backward_forgets_shortcut, "grad_x differs"),
    ("residual_backward", backward_identity_shortcut_gradient, "grad_x"),
    ("residual_backward", backward_transposed_projection, "grad_P"),
    ("residual_backward", backward_relu_mask_on_output, "grad_x differs"),
    ("resnet_num_parameters", count_no_bn, "expected"),
    ("resnet_num_parameters", count_no_projection, "expected"),
    ("resnet_num_parameters", count_with_running_stats, "expected"),
    ("resnet_num_parameters", count_bottleneck_no_stage1_projection, "expected 25557032"),
    ("resnet_num_parameters", count_classifier_without_expansion, "expected 25557032"),
    ("resnet_num_parameters", count_as_float, "should be an int"),
]
test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, WRONG)

OUTCOME_WRONG = [
    (blank, "not implemented yet"),
    (shallow_net, "8 layers deep"),
    (untrained_resnet20, "the target is at least 0.95"),
    (returns_accuracy, "torch.nn.Module"),
]


@pytest.mark.parametrize("wrong,message", OUTCOME_WRONG, ids=[w.__name__ for w, _ in OUTCOME_WRONG])
def test_outcome_fails_on_blank_and_wrong_answers(wrong, message):
    assert_fails(check.digits_resnet_outcome, wrong, message)


def test_outcome_passes_on_the_solution(capsys):
    check.digits_resnet_outcome(RIGHT.train_digits_resnet)
    assert "reached validation accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("task,wrong", [(t, w) for t, w, _ in WRONG])
def test_mistakes_name_the_case_and_point_to_hints(task, wrong):
    message = assert_fails(getattr(check, task), wrong, "Test case")
    assert f"check.hint({task!r})" in message


@pytest.mark.parametrize("task", ["residual_forward", "residual_backward", "resnet_num_parameters"])
def test_hints_nudge_without_code(task, capsys):
    """Two levels of hints; none writes the answer as code."""
    check.hint(task)
    check.hint(task)
    text = capsys.readouterr().out
    assert "Hint 1" in text and "Hint 2" in text
    for code in ("@ W1.T", "@ P.T", "G.T @", "9 * c", "np.maximum"):
        assert code not in text, code


def test_reference_answers_are_not_exported():
    assert set(check.__all__) == {"residual_forward", "residual_backward", "resnet_num_parameters",
                                  "digits_resnet_outcome", "hint", "failing_case"}
