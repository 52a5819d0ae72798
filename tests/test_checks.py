"""The exercise-check framework (compare, run_check), and the chapter 01 checks: every check fails on a
blank and on typical wrong answers with a message that says what is wrong, and passes on the solution
(loaded from solutions/01_perceptron.py, see checks_harness.py)."""
import numpy as np
import pytest

from checks_harness import blank, check_tests, solution, two_hints
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
from checks_harness import assert_fails  # noqa: E402  (the chapter 01 part of this file)

RIGHT_01 = solution("01_perceptron")


def dual_stale_scores(alpha, K, y):              # all scores from the alpha of the start of the epoch
    alpha = np.array(alpha)
    wrong = y * ((alpha * y) @ K) <= 0
    return alpha + wrong


def dual_without_labels(alpha, K, y):            # forgets y_j inside the sum
    alpha = np.array(alpha)
    for i in range(len(y)):
        if y[i] * np.sum(alpha * K[:, i]) <= 0:
            alpha[i] += 1
    return alpha


def dual_strict(alpha, K, y):                    # a score of 0 is not counted as a mistake
    alpha = np.array(alpha)
    for i in range(len(y)):
        if y[i] * np.sum(alpha * y * K[:, i]) < 0:
            alpha[i] += 1
    return alpha


def dual_in_place(alpha, K, y):
    for i in range(len(y)):
        if y[i] * np.sum(alpha * y * K[:, i]) <= 0:
            alpha[i] += 1
    return alpha


def averaged_over_updates_only(X, y, epochs):    # the mean of the trajectory, not of every visit
    w, ws = np.zeros(X.shape[1]), []
    for _ in range(epochs):
        for x_i, y_i in zip(X, y):
            if y_i * (w @ x_i) <= 0:
                w = w + y_i * x_i
                ws.append(w)
    return w, np.mean(ws, axis=0) if ws else w


def averaged_final_twice(X, y, epochs):          # no averaging at all
    w, _ = RIGHT_01.averaged_perceptron(X, y, epochs)
    return w, w


def averaged_with_initial_zero(X, y, epochs):    # counts w0 = 0 as one more vector
    w, w_avg = RIGHT_01.averaged_perceptron(X, y, epochs)
    n = epochs * len(X)
    return w, w_avg * n / (n + 1)


def multiclass_argmax_all(W, X, y):              # predicted class among all classes: ties at W = 0 missed
    W = np.array(W, dtype=float)
    for x_i, y_i in zip(X, y):
        pred = int(np.argmax(W @ x_i))
        if pred != y_i:
            W[y_i] += x_i
            W[pred] -= x_i
    return W


def multiclass_true_row_only(W, X, y):           # only the true class moves
    W = np.array(W, dtype=float)
    for x_i, y_i in zip(X, y):
        scores = W @ x_i
        rival = int(np.argmax(np.where(np.arange(len(W)) == y_i, -np.inf, scores)))
        if scores[rival] >= scores[y_i]:
            W[y_i] += x_i
    return W


def multiclass_batched(W, X, y):                 # all points scored with the W of the start of the epoch
    W = np.array(W, dtype=float)
    W0 = W.copy()
    for x_i, y_i in zip(X, y):
        scores = W0 @ x_i
        rival = int(np.argmax(np.where(np.arange(len(W)) == y_i, -np.inf, scores)))
        if scores[rival] >= scores[y_i]:
            W[y_i] += x_i
            W[rival] -= x_i
    return W


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(
    check, RIGHT_01, [
        ("dual_perceptron_epoch", dual_stale_scores, "dual_perceptron_epoch: the result differs at index"),
        ("dual_perceptron_epoch", dual_without_labels, "differs at index"),
        ("dual_perceptron_epoch", dual_strict, "Test case 1: alpha=array (3,) int64"),
        ("dual_perceptron_epoch", dual_in_place, "changed its input `alpha` in place"),
        ("averaged_perceptron", averaged_over_updates_only, "w_avg differs at index"),
        ("averaged_perceptron", averaged_final_twice, "w_avg differs at index"),
        ("averaged_perceptron", averaged_with_initial_zero, "w_avg differs"),
        ("multiclass_perceptron_epoch", multiclass_argmax_all, "Test case 1: W=array (3, 2) float64"),
        ("multiclass_perceptron_epoch", multiclass_true_row_only, "differs at index"),
        ("multiclass_perceptron_epoch", multiclass_batched, "differs at index"),
    ])


def test_chapter_01_hints_nudge_without_giving_the_code(capsys):
    for task in RIGHT_01.tasks:
        text = two_hints(check, task, capsys)
        assert "return " not in text and "np." not in text and "+=" not in text


def test_chapter_01_failing_case_reruns_the_case_that_failed():
    assert_fails(check.dual_perceptron_epoch, dual_strict, "differs")
    alpha, K, y = check.failing_case("dual_perceptron_epoch")
    assert not np.array_equal(dual_strict(alpha, K, y), RIGHT_01.dual_perceptron_epoch(alpha, K, y))


def test_chapter_01_reference_answers_are_not_importable_by_students():
    assert set(check.__all__) == {"dual_perceptron_epoch", "averaged_perceptron", "multiclass_perceptron_epoch",
                                  "digits_outcome", "hint", "failing_case"}
    assert not any(callable(getattr(check, n)) and n.endswith("reference") for n in check.__all__)


def digits_one_vs_rest_final(X, y, seed=0):      # the chapter's rule, two epochs, no validation: too weak
    W = np.zeros((10, X.shape[1]))
    for _ in range(2):
        W = ref.one_vs_rest_epoch(W, X, y)
    return W


@pytest.mark.parametrize("wrong,message", [
    (blank, "not implemented yet"),
    (lambda X, y, seed=0: np.zeros((10, X.shape[1])), "your validation accuracy is"),
    (digits_one_vs_rest_final, "the target is at least 0.93"),
    (lambda X, y, seed=0: np.zeros((10, 64)), "should return W of shape (10, 65)"),
])
def test_the_chapter_01_outcome_check_fails_on_a_blank_and_on_wrong_answers(wrong, message):
    assert_fails(check.digits_outcome, wrong, message)


def test_the_chapter_01_outcome_check_passes_on_the_solution(capsys):
    check.digits_outcome(RIGHT_01.train_digits_perceptron)
    assert "reached validation accuracy" in capsys.readouterr().out
