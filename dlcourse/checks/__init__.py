"""Exercise checks: run a student's function and a reference on random inputs, and explain the
first thing that differs (type, shape, dtype, which element, expected vs got) with a hint.

Usage in an exercise notebook::

    from dlcourse.checks import perceptron as check
    check.perceptron_update(perceptron_update)     # prints a success line or raises CheckFailed

A chapter's checks live in ``dlcourse/checks/<chapter>.py`` and are built with :func:`run_check`.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

import numpy as np

__all__ = ["CheckFailed", "run_check", "compare", "describe"]


class CheckFailed(AssertionError):
    """Raised by a check; its message says what is wrong and how to fix it."""


def describe(value) -> str:
    """A short description of a value for messages: ``array (3, 4) float64`` or ``0.5``."""
    if hasattr(value, "detach") and hasattr(value, "shape"):
        return f"torch tensor {tuple(value.shape)} {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, np.ndarray):
        return f"array {value.shape} {value.dtype}"
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__} of {len(value)}: (" + ", ".join(describe(v) for v in value) + ")"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return repr(value)


def _as_array(value):
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def compare(got, expected, rtol: float = 1e-6, atol: float = 1e-9, what: str = "the result") -> str | None:
    """Return ``None`` if ``got`` matches ``expected``, else one sentence saying the first difference.

    Tuples/lists are compared element by element; numbers and arrays by type, shape, dtype kind
    and value (``|got - expected| <= atol + rtol * |expected|``).
    """
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"{what} should be a {type(expected).__name__} of {len(expected)} values, got {describe(got)}"
        if len(got) != len(expected):
            return f"{what} should have {len(expected)} values, got {len(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            problem = compare(g, e, rtol, atol, what=f"value {i} of {what}")
            if problem:
                return problem
        return None
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
        if exp.ndim == 0:
            return f"{what} is {g64.item():.6g}, expected {e64.item():.6g}"
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        return (f"{what} differs at index {list(idx)}: got {g64[idx]:.6g}, expected {e64[idx]:.6g} "
                f"({int(bad.sum())} of {bad.size} elements differ)")
    return None


def _unchanged(before, after) -> bool:
    if isinstance(before, np.ndarray):
        return np.array_equal(before, after, equal_nan=True)
    return True


def run_check(name: str, student: Callable, reference: Callable, cases: Iterable[tuple],
              hint: str = "", rtol: float = 1e-6, atol: float = 1e-9, arg_names: tuple = (),
              quiet: bool = False) -> None:
    """Compare ``student(*args)`` with ``reference(*args)`` on every ``args`` in ``cases``.

    Raises :class:`CheckFailed` with a message naming the first problem: the function is still a
    blank (``NotImplementedError``), it raised, it changed an input array in place, or its output
    differs (see :func:`compare`). On success prints ``"<name>: correct on N random cases"``.

    Args:
        name: the exercise's function name, used in messages.
        cases: tuples of positional arguments; each is deep-copied before each call.
        hint: a sentence appended to value mismatches.
        arg_names: names of the positional arguments, for messages.
    """
    if not callable(student):
        raise CheckFailed(f"{name}: expected a function, got {type(student).__name__}")
    n = 0
    for i, args in enumerate(cases, start=1):
        names = list(arg_names) + [f"arg{j}" for j in range(len(arg_names), len(args))]
        inputs = ", ".join(f"{k}={describe(v)}" for k, v in zip(names, args))
        student_args = copy.deepcopy(args)
        try:
            got = student(*student_args)
        except NotImplementedError:
            raise CheckFailed(f"{name} is not implemented yet: replace `raise NotImplementedError` "
                              f"with your code.") from None
        except Exception as e:  # noqa: BLE001 - report any error in the student's code
            raise CheckFailed(f"{name}({inputs}) raised {type(e).__name__}: {e}") from e
        for k, before, after in zip(names, args, student_args):
            if not _unchanged(before, after):
                raise CheckFailed(f"{name} changed its input `{k}` in place; return a new array instead "
                                  f"(write `{k} + ...` or `{k}.copy()`, not `{k} += ...`).")
        expected = reference(*copy.deepcopy(args))
        problem = compare(got, expected, rtol=rtol, atol=atol)
        if problem:
            msg = f"{name}: {problem}.\n  Test case {i}: {inputs}."
            if hint:
                msg += f"\n  Hint: {hint}"
            raise CheckFailed(msg)
        n += 1
    if n == 0:
        raise ValueError("run_check needs at least one case")
    if not quiet:
        print(f"\u2714 {name}: correct on {n} random cases")
