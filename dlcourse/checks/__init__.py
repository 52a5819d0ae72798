"""Exercise checks: run a student's function and a reference on random inputs, and explain the
first thing that differs (type, shape, dtype, which output, which element, expected vs got).

Usage in an exercise notebook::

    from dlcourse.checks import perceptron as check
    check.perceptron_update(perceptron_update)     # prints a success line or raises CheckFailed
    check.hint("perceptron_update")                 # a nudge; call again for a stronger one
    args = check.failing_case("perceptron_update")  # the inputs of the case that failed, to re-run

A failure shows as one line plus the failing case, without a traceback into this package. Hints come in
levels, from a nudge to a stronger pointer; none is the answer. A chapter's checks live in
``dlcourse/checks/<chapter>.py``, are built with :func:`run_check` (functions) and :func:`check_outcome`
(outcome tasks: reach a stated accuracy or loss), and re-export :func:`hint` and :func:`failing_case`.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

import numpy as np

__all__ = ["CheckFailed", "run_check", "call_student", "trained_model", "model_scores", "check_outcome", "compare", "describe", "hint", "failing_case"]

_HINTS: dict[str, list[str]] = {}       # exercise name -> hints, from a nudge to a stronger pointer
_HINTS_SHOWN: dict[str, int] = {}       # exercise name -> how many hints were shown
_FAILING: dict[str, tuple] = {}         # exercise name -> the inputs of the last failing case


class CheckFailed(AssertionError):
    """Raised by a check; its message says what is wrong and how to go on.

    In a notebook it is shown as its message alone (IPython's ``_render_traceback_``): the student's
    own code is not in this package, so a traceback through it would only hide the message.
    """

    def _render_traceback_(self):
        lines = str(self).splitlines() or [""]
        return ["\x1b[0;31m\u2718 " + lines[0] + "\x1b[0m"] + lines[1:]


def hint(name: str) -> None:
    """Print the next hint for exercise ``name`` (a nudge first; call again for a stronger one)."""
    hints = _HINTS.get(name)
    if not hints:
        known = ", ".join(sorted(_HINTS)) or "none yet: run the exercise's check cell first"
        print(f"no hints for {name!r}; exercises with hints: {known}")
        return
    level = min(_HINTS_SHOWN.get(name, 0), len(hints) - 1)
    _HINTS_SHOWN[name] = level + 1
    more = (f" (call again for hint {level + 2} of {len(hints)})" if level + 1 < len(hints)
            else " (that was the last hint: reread the chapter's section on it)")
    print(f"Hint {level + 1} for {name}: {hints[level]}{more}")


def failing_case(name: str) -> tuple:
    """The inputs of the last case on which the check of ``name`` failed (fresh copies), to call your
    function on: ``my_function(*check.failing_case("my_function"))``."""
    if name not in _FAILING:
        raise KeyError(f"no failing case recorded for {name!r}: run its check cell first")
    return copy.deepcopy(_FAILING[name])


def _pointer(name: str) -> str:
    return (f"\n  `check.hint({name!r})` gives a hint; `check.failing_case({name!r})` returns the inputs "
            f"of this case, to run your function on them.")


def describe(value) -> str:
    """A short description of a value for messages: ``array (3, 4) float64``, ``0.5`` or
    ``Sequential with 1,290 parameters`` (a network in one line, not its multi-line repr)."""
    if hasattr(value, "detach") and hasattr(value, "shape"):
        return f"torch tensor {tuple(value.shape)} {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, np.ndarray):
        return f"array {value.shape} {value.dtype}"
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__} of {len(value)}: (" + ", ".join(describe(v) for v in value) + ")"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if hasattr(value, "parameters") and hasattr(value, "named_modules"):       # a torch.nn.Module, in one line
        return f"{type(value).__name__} with {sum(p.numel() for p in value.parameters()):,d} parameters"
    return repr(value)


def _as_array(value):
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def compare(got, expected, rtol: float = 1e-6, atol: float = 1e-9, what: str = "the result",
            names: tuple = ()) -> str | None:
    """Return ``None`` if ``got`` matches ``expected``, else one sentence saying the first difference.

    Tuples/lists are compared element by element (``names`` names the elements, e.g. ``("grad_W",
    "grad_b")``); numbers and arrays by type, shape, dtype kind and value
    (``|got - expected| <= atol + rtol * |expected|``). Integer results must be integers: ``47.0``
    is not a count.
    """
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"{what} should be a {type(expected).__name__} of {len(expected)} values, got {describe(got)}"
        if len(got) != len(expected):
            return f"{what} should have {len(expected)} values, got {len(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            part = names[i] if i < len(names) else f"value {i} of {what}"
            problem = compare(g, e, rtol, atol, what=part)
            if problem:
                return problem
        return None
    if isinstance(expected, (int, np.integer)) and not isinstance(expected, bool):
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer)):
            return f"{what} should be an int, got {describe(got)} ({type(got).__name__})"
    if got is None:
        return f"{what} is None — did you forget to `return` it?"
    exp = _as_array(expected)
    if isinstance(expected, np.ndarray) and not isinstance(got, np.ndarray):
        if hasattr(got, "detach"):
            return f"{what} should be a NumPy array, got {describe(got)}; use NumPy, not torch, here"
        if np.ndim(got) == 0 and exp.ndim > 0:
            return f"{what} should be an array of shape {exp.shape}, got the scalar {describe(got)}"
    try:
        g = _as_array(got)
    except Exception:  # noqa: BLE001 - any unconvertible object
        return f"{what} should be {describe(expected)}, got {type(got).__name__}"
    if g.dtype == object:
        return f"{what} should be {describe(expected)}, got {describe(got)}"
    if g.shape != exp.shape:
        return f"{what} has shape {g.shape}, expected {exp.shape}"
    if exp.dtype.kind == "f" and g.dtype.kind not in "fiu":
        return f"{what} has dtype {g.dtype}, expected a float dtype"
    if exp.dtype.kind in "iu" and g.dtype.kind not in "iu":
        if g.dtype.kind == "f" and np.array_equal(g, np.round(g)):
            pass  # integral floats are fine for counts
        else:
            return f"{what} has dtype {g.dtype}, expected integers"
    if exp.dtype.kind == "b" and g.dtype.kind != "b":
        return f"{what} has dtype {g.dtype}, expected bool"
    g64, e64 = g.astype(np.float64), exp.astype(np.float64)
    if np.isnan(g64).any() and not np.isnan(e64).any():
        idx = tuple(int(i) for i in np.argwhere(np.isnan(g64))[0])
        return f"{what} contains NaN (first at index {list(idx)})"
    bad = ~np.isclose(g64, e64, rtol=rtol, atol=atol, equal_nan=True)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0]) if exp.ndim else ()
        g_i, e_i = g64[idx], e64[idx]
        def fmt(v):                       # counts print exactly (25557032, not 2.5557e+07)
            return f"{int(v)}" if np.isfinite(v) and abs(v) < 1e15 and v == int(v) else f"{v:.6g}"
        size = f" (they differ by {abs(g_i - e_i):.2e})" if fmt(g_i) == fmt(e_i) else ""
        if exp.ndim == 0:
            return f"{what} is {fmt(g_i)}, expected {fmt(e_i)}{size}"
        return (f"{what} differs at index {list(idx)}: got {fmt(g_i)}, expected {fmt(e_i)}{size} "
                f"({int(bad.sum())} of {bad.size} elements differ)")
    return None


def _unchanged(before, after) -> bool:
    if isinstance(before, np.ndarray):
        return np.array_equal(before, after, equal_nan=True)
    return True


def _missing_helper(exc: BaseException, name: str) -> str | None:
    """The name of the function that raised NotImplementedError, when it is not ``name`` itself."""
    tb, raised_in = exc.__traceback__, None
    while tb is not None:
        raised_in = tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return raised_in if raised_in not in (None, name, "<lambda>") else None


def _not_implemented(name: str, student: Callable, exc: NotImplementedError) -> CheckFailed:
    """The failure for a blank: the task itself, or a helper the student's code calls."""
    helper = _missing_helper(exc, getattr(student, "__name__", name))
    if helper:
        return CheckFailed(f"{name}: the helper `{helper}` you call is not implemented yet: write it first "
                           f"(or do without it).")
    return CheckFailed(f"{name} is not implemented yet: replace `raise NotImplementedError` with your code.")


def run_check(name: str, student: Callable, reference: Callable, cases: Iterable[tuple],
              hints: Iterable[str] = (), rtol: float = 1e-6, atol: float = 1e-9, arg_names: tuple = (),
              out_names: tuple = (), quiet: bool = False) -> None:
    """Compare ``student(*args)`` with ``reference(*args)`` on every ``args`` in ``cases``.

    Raises :class:`CheckFailed` with a message naming the first problem: the function is still a
    blank (``NotImplementedError``), a helper it calls is, it raised, it changed an input array in
    place, or its output differs (see :func:`compare`). On success prints
    ``"<name>: correct on N random cases"``.

    Args:
        name: the exercise's function name, used in messages and by :func:`hint`/:func:`failing_case`.
        cases: tuples of positional arguments; each is deep-copied before each call.
        hints: from a nudge to a stronger pointer, shown one at a time by ``hint(name)``; never the answer.
        arg_names: names of the positional arguments, for messages.
        out_names: names of the outputs when the function returns a tuple (``("grad_W", "grad_b")``).
    """
    _HINTS[name] = list(hints)
    if not callable(student):
        raise CheckFailed(f"{name}: expected a function, got {type(student).__name__}")
    n = 0
    for i, args in enumerate(cases, start=1):
        names = list(arg_names) + [f"arg{j}" for j in range(len(arg_names), len(args))]
        inputs = ", ".join(f"{k}={describe(v)}" for k, v in zip(names, args))
        student_args = copy.deepcopy(args)
        try:
            got = student(*student_args)
        except NotImplementedError as e:
            raise _not_implemented(name, student, e) from None
        except Exception as e:  # noqa: BLE001 - report any error in the student's code
            _FAILING[name] = copy.deepcopy(args)
            first = f"\n  Hint: {_HINTS[name][0]}" if _HINTS[name] else ""
            raise CheckFailed(f"{name}({inputs}) raised {type(e).__name__}: {e}{first}"
                              + _pointer(name)) from None
        for k, before, after in zip(names, args, student_args):
            if not _unchanged(before, after):
                _FAILING[name] = copy.deepcopy(args)
                raise CheckFailed(f"{name} changed its input `{k}` in place; return a new array instead "
                                  f"(write `{k} + ...` or `{k}.copy()`, not `{k} += ...`)." + _pointer(name))
        expected = reference(*copy.deepcopy(args))
        problem = compare(got, expected, rtol=rtol, atol=atol, names=tuple(out_names))
        if problem:
            _FAILING[name] = copy.deepcopy(args)
            raise CheckFailed(f"{name}: {problem}.\n  Test case {i}: {inputs}." + _pointer(name))
        n += 1
    if n == 0:
        raise ValueError("run_check needs at least one case")
    if not quiet:
        print(f"\u2714 {name}: correct on {n} random cases")


def call_student(name: str, student: Callable, *args):
    """``student(*args)`` for an outcome task, with a blank (or a blank helper it calls) reported as
    :class:`CheckFailed` instead of a traceback; any other exception propagates unchanged."""
    try:
        return student(*args)
    except NotImplementedError as e:
        raise _not_implemented(name, student, e) from None


def trained_model(name: str, student: Callable, *args, max_parameters: int | None = None):
    """An outcome task's model: ``call_student(name, student, *args)``, which must return a
    ``torch.nn.Module`` with at most ``max_parameters`` parameters (when given); else :class:`CheckFailed`."""
    import torch

    model = call_student(name, student, *args)
    if not isinstance(model, torch.nn.Module):
        raise CheckFailed(f"{name} should return the trained torch.nn.Module, got {type(model).__name__}")
    n_params = sum(p.numel() for p in model.parameters())
    if max_parameters is not None and n_params > max_parameters:
        raise CheckFailed(f"{name}: your model has {n_params:,d} parameters; the limit is {max_parameters:,d}.")
    return model


def model_scores(model, inputs):
    """The model's outputs on ``inputs`` (an array) in eval mode, without gradients, on the model's device."""
    import torch

    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        return model(torch.as_tensor(inputs, device=device))


def check_outcome(name: str, value, target: float, higher_is_better: bool = True,
                  what: str = "validation accuracy", hints: Iterable[str] = ()) -> None:
    """An outcome task: ``value`` (what the student's own code reached) must reach ``target``.

    Raises :class:`CheckFailed` naming the measured value and the target, prints a success line otherwise.
    """
    _HINTS[name] = list(hints)
    if value is None:
        raise CheckFailed(f"{name}: no {what} yet: store the value your code reached, then run this check.")
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise CheckFailed(f"{name}: the {what} should be a finite number, got {describe(value)}")
    ok = value >= target if higher_is_better else value <= target
    if not ok:
        word = "at least" if higher_is_better else "at most"
        raise CheckFailed(f"{name}: your {what} is {value:.4g}; the target is {word} {target:.4g}."
                          + (f"\n  `check.hint({name!r})` gives a hint." if _HINTS.get(name) else ""))
    print(f"\u2714 {name}: reached {what} {value:.4g} (target {target:.4g})")
