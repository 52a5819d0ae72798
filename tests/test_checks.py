"""The exercise-check framework (compare, run_check), and the chapter 01 checks: every check fails on a
blank and on typical wrong answers with a message that says what is wrong, and passes on the solution
(loaded from solutions/01_perceptron.py, see checks_harness.py)."""
import numpy as np
import pytest

from checks_harness import blank, check_tests, solution
from dlcourse import perceptron as ref
from dlcourse.checks import CheckFailed, compare, perceptron as check, run_check


# ---- compare(): one sentence per kind of difference ------------------------------------------
@pytest.mark.parametrize("got,expected,message", [
    (np.zeros(3), np.zeros(4), "has shape (3,), expected (4,)"),
    (np.array([1.0, 2.0, 9.0]), np.array([1.0, 2.0, 3.0]), "differs at index [2]: got 9, expected 3"),
    (None, np.zeros(2), "is None — did you forget to `return` it?"),
    (np.array([True, False]), np.array([1.0, 0.0]), "has dtype bool, expected a float dtype"),
    (2.0, np.zeros(2), "should be an array of shape (2,), got the scalar 2"),
    ((1.0,), (1.0, 2.0), "should have 2 values, got 1"),
    (np.array([np.nan, 1.0]), np.array([0.0, 1.0]), "contains NaN (first at index [0])"),
    (0.25, 0.5, "is 0.25, expected 0.5"),
])
def test_compare_names_the_first_difference(got, expected, message):
    assert message in compare(got, expected)


def test_compare_accepts_equal_values():
    assert compare(np.arange(3.0), np.arange(3.0)) is None and compare((1, 2.0), (1, 2.0)) is None


# ---- run_check() -----------------------------------------------------------------------------
def test_run_check_reports_a_blank():
    with pytest.raises(CheckFailed, match="not implemented yet"):
        run_check("f", blank, np.sin, [(np.zeros(2),)])


def test_run_check_reports_an_exception_with_the_inputs():
    with pytest.raises(CheckFailed, match=r"f\(x=array \(2,\) float64\) raised ZeroDivisionError"):
        run_check("f", lambda x: 1 / 0, np.sin, [(np.zeros(2),)], arg_names=("x",))


def test_run_check_reports_in_place_modification():
    def sneaky(w):
        w += 1
        return w
    with pytest.raises(CheckFailed, match="changed its input `w` in place"):
        run_check("f", sneaky, lambda w: w + 1, [(np.zeros(2),)], arg_names=("w",))


def test_run_check_prints_success(capsys):
    run_check("f", np.sin, np.sin, [(np.zeros(2),), (np.ones(3),)])
    assert "f: correct on 2 random cases" in capsys.readouterr().out


# ---- the chapter 01 checks: blank, wrong and right -------------------------------------------
def update_never_on_boundary(w, x, y, lr=1.0):
    return w + lr * y * x if y * (w @ x) < 0 else w


def update_wrong_sign(w, x, y, lr=1.0):
    return w - lr * y * x if y * (w @ x) <= 0 else w


def margin_without_norm(w, X, y):
    return float(np.min(y * (X @ w)))


def margin_mean(w, X, y):
    return float(np.mean(y * (X @ w)) / np.linalg.norm(w))


def ovr_batched(W, X, y, lr=1.0):  # a full-batch update is not the online rule
    return ref.one_vs_rest_epoch(W, X, y, lr, batch_size=len(X))


def ovr_only_true_class(W, X, y, lr=1.0):
    W = np.array(W, float)
    for x_i, y_i in zip(X, y):
        if W[y_i] @ x_i <= 0:
            W[y_i] += lr * x_i
    return W


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(
    check, solution("01_perceptron"), [
        ("perceptron_update", update_never_on_boundary, "a point on the boundary counts as a mistake"),
        ("perceptron_update", update_wrong_sign, "differs at index"),
        ("geometric_margin", margin_without_norm, "divide by the norm of w"),
        ("geometric_margin", margin_mean, "expected"),
        ("one_vs_rest_epoch", ovr_batched, "before moving on to the next point"),
        ("one_vs_rest_epoch", ovr_only_true_class, "differs at index"),
    ],
    # the exported reference functions of chapter 01 solve the exercises too
    extra_right=[(name, getattr(ref, name)) for name in ("perceptron_update", "geometric_margin", "one_vs_rest_epoch")])
