"""The exercise-check framework's teaching features: one-line failures, tiered hints, the failing case
to re-run, named outputs, integer results, the size of tiny differences, missing helpers, outcome tasks."""
import numpy as np
import pytest

from dlcourse.checks import CheckFailed, check_outcome, compare, failing_case, hint, run_check


def test_a_failure_renders_as_its_message_without_a_traceback():
    with pytest.raises(CheckFailed) as excinfo:
        run_check("f", lambda x: x + 1, lambda x: x, [(np.zeros(2),)], hints=["nudge"])
    lines = excinfo.value._render_traceback_()
    assert "f: the result differs at index [0]" in lines[0] and "Traceback" not in "".join(lines)
    assert any("check.hint('f')" in line and "check.failing_case('f')" in line for line in lines)


def test_hints_come_one_level_at_a_time_and_never_run_out(capsys):
    with pytest.raises(CheckFailed):
        run_check("tiered", lambda x: x + 1, lambda x: x, [(np.zeros(2),)], hints=["a nudge", "a pointer"])
    hint("tiered")
    hint("tiered")
    hint("tiered")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Hint 1 for tiered: a nudge") and "hint 2 of 2" in out[0]
    assert out[1].startswith("Hint 2 for tiered: a pointer") and "last hint" in out[1]
    assert out[2] == out[1]
    hint("never-checked")
    assert "no hints for 'never-checked'" in capsys.readouterr().out


def test_failing_case_returns_fresh_copies_of_the_inputs():
    cases = [(np.zeros(2),), (np.arange(3.0),)]
    with pytest.raises(CheckFailed):
        run_check("second", lambda x: x if len(x) == 2 else x * 2, lambda x: x, cases)
    args = failing_case("second")
    np.testing.assert_array_equal(args[0], np.arange(3.0))
    args[0][0] = 99
    assert failing_case("second")[0][0] == 0
    with pytest.raises(KeyError, match="run its check cell first"):
        failing_case("nothing-failed-here")


def test_outputs_are_named_and_counts_must_be_ints():
    with pytest.raises(CheckFailed, match="grad_b differs at index"):
        run_check("g", lambda x: (x, 2 * x), lambda x: (x, 3 * x), [(np.ones(2),)], out_names=("grad_W", "grad_b"))
    assert "should be an int, got 47" in compare(47.0, 47)
    assert compare(np.int64(47), 47) is None


def test_values_that_print_alike_get_the_size_of_their_difference():
    assert "differ by 1.00e-07" in compare(1.0 + 1e-7, 1.0, rtol=1e-9, atol=0)
    assert "differ by" not in compare(2.0, 1.0)


def test_a_helper_that_is_not_implemented_is_named():
    def helper(x):
        raise NotImplementedError

    def student(x):
        return helper(x)

    with pytest.raises(CheckFailed, match="the helper `helper` you call is not implemented yet"):
        run_check("student", student, lambda x: x, [(np.zeros(2),)])


def test_an_exception_gets_the_first_hint():
    with pytest.raises(CheckFailed, match=r"raised ZeroDivisionError: division by zero\n  Hint: look at the sizes"):
        run_check("f", lambda x: 1 / 0, lambda x: x, [(np.zeros(2),)], hints=["look at the sizes", "more"])


def test_outcome_checks_name_the_value_and_the_target(capsys):
    with pytest.raises(CheckFailed, match="your validation accuracy is 0.8; the target is at least 0.9"):
        check_outcome("o", 0.8, 0.9)
    with pytest.raises(CheckFailed, match="the target is at most 0.1"):
        check_outcome("o", 0.5, 0.1, higher_is_better=False, what="loss")
    with pytest.raises(CheckFailed, match="no validation accuracy yet"):
        check_outcome("o", None, 0.9)
    with pytest.raises(CheckFailed, match="finite number"):
        check_outcome("o", float("nan"), 0.9)
    check_outcome("o", 0.95, 0.9)
    assert "reached validation accuracy 0.95 (target 0.9)" in capsys.readouterr().out


def every_check_module():
    import pkgutil

    import dlcourse.checks

    return [m.name for m in pkgutil.iter_modules(dlcourse.checks.__path__)]


@pytest.mark.parametrize("module", every_check_module())
def test_a_check_module_exports_checks_and_hints_but_no_reference_answers(module):
    import importlib

    check = importlib.import_module(f"dlcourse.checks.{module}")
    assert set(check.__all__) >= {"hint", "failing_case"}, f"dlcourse.checks.{module} must export hint and failing_case"
    assert not any(name.startswith("_") for name in check.__all__), f"dlcourse.checks.{module} exports private names"
    assert all(callable(getattr(check, name)) for name in check.__all__)


def test_a_network_among_the_inputs_is_described_in_one_line():
    from torch import nn

    from dlcourse.checks import describe

    text = describe(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)))
    assert text == "Sequential with 23 parameters"
