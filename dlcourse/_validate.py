"""Small argument checks shared by the package: each raises an error that names the argument."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``; return it."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of: {', '.join(map(repr, choices))}")
    return value


def check_int(name: str, value, minimum: int | None = None) -> int:
    """Raise ``TypeError`` unless ``value`` is an integer, ``ValueError`` if below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(name: str, value, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """Raise unless ``value`` is a real number in the given interval; return it as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    lo_ok = low is None or (value > low if low_open else value >= low)
    hi_ok = high is None or (value < high if high_open else value <= high)
    if not (lo_ok and hi_ok):
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        interval = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return value


def check_array(name: str, value, ndim: int | None = None, shape: tuple | None = None,
                dtype_kind: str | None = None) -> np.ndarray:
    """Convert ``value`` to an array and check its rank, shape and dtype kind.

    ``shape`` may contain ``None`` for "any size". ``dtype_kind`` is a string of allowed
    NumPy kinds, e.g. ``"f"`` (float), ``"iu"`` (integers), ``"fiu"`` (numbers).
    """
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got an array of Python objects")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if dtype_kind is not None and arr.dtype.kind not in dtype_kind:
        kinds = {"f": "float", "i": "int", "u": "unsigned int", "b": "bool"}
        want = " or ".join(kinds.get(k, k) for k in dtype_kind)
        raise TypeError(f"{name} must have a {want} dtype, got {arr.dtype}")
    return arr


def check_same_length(name_a: str, a, name_b: str, b) -> None:
    """Raise ``ValueError`` unless ``len(a) == len(b)``."""
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} must have the same length, got {len(a)} and {len(b)}")
