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


# ---- layers and optimizers (dlcourse.numpy_nn, dlcourse.numpy_optim) ------------------------------
# The lesson code calls each of these in one line, so that a layer reads like the lesson while a bad
# argument still gets an error that names it.
def check_arg(name: str, value, ok: bool, rule: str) -> None:
    """Raise ``ValueError("<name> must be <rule>, got <value>")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name} must be {rule}, got {value!r}")


def check_input(layer, x, features: int) -> np.ndarray:
    """``x`` as an array of shape ``(*, features)``; ValueError naming the expected and the actual shape,
    TypeError when it is not numeric."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{layer!r} expects a numeric array, got dtype {x.dtype}")
    if x.ndim < 1 or x.shape[-1] != features:
        raise ValueError(f"{layer!r} expects input of shape (*, {features}), got {x.shape}")
    return x


def check_image_input(layer, x, channels: int | None = None) -> np.ndarray:
    """``x`` as a float array of shape ``(N, C, H, W)`` (``C == channels`` when given); ValueError naming
    the expected and the actual shape, TypeError when it is not numeric."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{layer!r} expects a numeric array, got dtype {x.dtype}")
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        raise ValueError(f"{layer!r} expects input of shape (N, {'C' if channels is None else channels}, H, W), "
                         f"got {x.shape}")
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def int_pair(value, name: str) -> tuple[int, int]:
    """An int or a pair of ints (PyTorch's convention for kernel_size, stride, padding) -> ``(int, int)``."""
    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)
    if is_int(value):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) for v in value):
        return int(value[0]), int(value[1])
    raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")


def padding_pairs(padding, kernel_size, stride) -> tuple[tuple[int, int], tuple[int, int]]:
    """padding as an int, a pair, "valid" or "same" -> ``((top, bottom), (left, right))``, as torch.nn.Conv2d."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"padding='same' is not supported for strided convolutions (stride={stride})")
            return tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel_size)   # extra pixel after
        raise ValueError(f"padding must be an int, a pair of ints, 'valid' or 'same', got {padding!r}")
    ph, pw = int_pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return (ph, ph), (pw, pw)


def check_window_fits(layer, x, kernel_size, pads) -> None:
    """ValueError naming the shapes when the padded input is smaller than the kernel."""
    (kh, kw), ((pt, pb), (pl, pr)) = kernel_size, pads
    H, W = x.shape[2] + pt + pb, x.shape[3] + pl + pr
    if H < kh or W < kw:
        raise ValueError(f"{layer!r}: input of shape {x.shape} is {H}x{W} after padding, smaller than the "
                         f"{kh}x{kw} kernel: expected (N, C, H, W) with H >= {kh - pt - pb} and W >= {kw - pl - pr}")


class ArgumentError(TypeError, ValueError):
    """An unknown keyword argument: a TypeError, as Python raises it, and a ValueError naming it."""


class KeywordChecked:
    """Base class that rejects unknown keyword arguments before ``__init__`` runs, suggesting the
    closest valid name (``SGD(params, momentm=0.9)`` -> "did you mean 'momentum'?")."""

    def __new__(cls, *args, **kwargs):
        import difflib
        import inspect

        valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        for key in kwargs:
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ArgumentError(f"{cls.__name__} got an unknown keyword argument {key!r}{hint} "
                                    f"(valid: {', '.join(valid)})")
        return super().__new__(cls)
