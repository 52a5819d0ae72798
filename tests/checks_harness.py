"""The shared part of the exercise-check tests (tests/test_checks*.py).

Every check of `dlcourse.checks` must fail on a blank (``raise NotImplementedError``) and on typical wrong
answers with a message that says what is wrong, and pass on the worked solution. The right answers are
not retyped here: `solution(slug)` executes the solution cells (those with ``### BEGIN SOLUTION``) of
``solutions/<slug>.py`` in a fresh namespace, after the import lines of the cells before the first task.

A test module then writes only its typical wrong answers::

    RIGHT = solution("03_backprop")
    test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(
        check, RIGHT, [("linear_backward", linear_mean_bias, "value 2 of the result differs"), ...])
"""
from __future__ import annotations

import functools
import re
from types import SimpleNamespace

import jupytext
import numpy as np
import pytest

from conftest import ROOT
from dlcourse.checks import CheckFailed

IMPORT = re.compile(r"^(import|from)\s+\S+")
CHECK_CALL = re.compile(r"^check\.(\w+)\((\w+)\)", re.MULTILINE)


def blank(*args, **kwargs):
    """A task the student has not started: what the generated exercise contains."""
    raise NotImplementedError


@functools.cache
def solution(slug: str) -> SimpleNamespace:
    """The worked solutions of solutions/<slug>.py as attributes, plus ``tasks``: the names the check
    cells check, in order (``check.f(f)``)."""
    path = ROOT / "solutions" / f"{slug}.py"
    cells = [c for c in jupytext.read(path).cells if c.cell_type == "code"]
    first = next(i for i, c in enumerate(cells) if "### BEGIN SOLUTION" in c.source)
    namespace: dict = {}
    imports = [line for c in cells[:first] for line in c.source.splitlines() if IMPORT.match(line)]
    exec(compile("\n".join(imports), str(path), "exec"), namespace)
    for cell in cells:
        if "### BEGIN SOLUTION" in cell.source:
            exec(compile(cell.source, str(path), "exec"), namespace)
    tasks = [name for c in cells if "check" in c.metadata.get("tags", [])
             for name, arg in CHECK_CALL.findall(c.source) if name == arg]
    assert tasks, f"{path}: no check cell of the form check.f(f)"
    return SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith("__")}, tasks=tasks)


def assert_fails(checker, wrong, message):
    """checker(wrong) raises CheckFailed whose message contains `message`; returns the message."""
    with pytest.raises(CheckFailed) as excinfo, np.errstate(all="ignore"):
        checker(wrong)
    text = str(excinfo.value)
    assert message in text, text
    return text


def check_tests(check, right: SimpleNamespace, wrong: list[tuple[str, object, str]], extra_right=()):
    """The two parametrised tests of a chapter's checks:

    - every task fails on `blank` ("not implemented yet") and on each (task, wrong answer, words in the
      message) of `wrong`;
    - every task passes on the solution (and on each (task, other correct answer) of `extra_right`).
    """
    failing = [(task, blank, "not implemented yet") for task in right.tasks] + list(wrong)
    unknown = {task for task, _, _ in failing if task not in right.tasks}
    assert not unknown, f"wrong answers for tasks that have no check cell: {unknown}"

    @pytest.mark.parametrize("task,wrong_answer,message", failing,
                             ids=[f"{t}-{getattr(w, '__name__', 'lambda')}" for t, w, _ in failing])
    def test_checks_fail_on_blanks_and_wrong_answers(task, wrong_answer, message):
        assert_fails(getattr(check, task), wrong_answer, message)

    passing = [(task, getattr(right, task)) for task in right.tasks] + list(extra_right)

    @pytest.mark.parametrize("task,right_answer", passing,
                             ids=[f"{t}-{getattr(r, '__name__', 'lambda')}" for t, r in passing])
    def test_checks_pass_on_the_solutions(task, right_answer, capsys):
        getattr(check, task)(right_answer)
        assert "\u2714" in capsys.readouterr().out            # "✔ task: correct on N cases" / "reached ..."

    return test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions


def two_hints(check, task, capsys) -> str:
    """Fail ``task``'s check on a blank, ask for two hints and return what they printed (both levels shown)."""
    with pytest.raises(CheckFailed):
        getattr(check, task)(blank)
    check.hint(task)
    check.hint(task)
    text = capsys.readouterr().out
    assert "Hint 1" in text and "Hint 2" in text
    return text
