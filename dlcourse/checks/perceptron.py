"""Checks for the exercises of chapter 01 (the perceptron).

Each check runs the student's function and the chapter's reference (:mod:`dlcourse.perceptron`)
on random inputs and raises :class:`~dlcourse.checks.CheckFailed` at the first difference.
"""
from __future__ import annotations

import numpy as np

from .. import perceptron as ref
from . import run_check

__all__ = ["perceptron_update", "geometric_margin", "one_vs_rest_epoch"]


def _update_cases(seed=0, n=30):
    rng = np.random.default_rng(seed)
    cases = [(np.zeros(3), np.array([1.0, 2.0, 1.0]), 1, 1.0),       # w = 0: on the boundary -> update
             (np.array([1.0, 0.0, 0.0]), np.array([1.0, 0.0, 1.0]), 1, 0.5)]   # correct -> no update
    for _ in range(n):
        D = int(rng.integers(2, 8))
        cases.append((rng.normal(size=D), rng.normal(size=D), int(rng.choice([-1, 1])),
                      float(rng.choice([0.1, 1.0, 2.5]))))
    return cases


def perceptron_update(student, seed: int = 0) -> None:
    """Check ``perceptron_update(w, x, y, lr) -> new w``."""
    run_check("perceptron_update", student, ref.perceptron_update, _update_cases(seed),
              arg_names=("w", "x", "y", "lr"),
              hint="update only when y * (w @ x) <= 0 (a point on the boundary counts as a mistake), "
                   "and then return w + lr * y * x; otherwise return w unchanged.")


def _margin_cases(seed=0, n=20):
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n):
        N, D = int(rng.integers(3, 40)), int(rng.integers(2, 6))
        X, w = rng.normal(size=(N, D)), rng.normal(size=D) * rng.choice([0.1, 1, 10])
        y = np.where(X @ w > 0, 1, -1)
        if rng.random() < 0.3:                   # some non-separating w: negative margins
            y[0] = -y[0]
        cases.append((w, X, y))
    return cases


def geometric_margin(student, seed: int = 0) -> None:
    """Check ``geometric_margin(w, X, y) -> float``."""
    run_check("geometric_margin", student, ref.geometric_margin, _margin_cases(seed),
              arg_names=("w", "X", "y"), rtol=1e-9,
              hint="the margin is min_i y_i (w . x_i) / ||w||: divide by the norm of w (np.linalg.norm), "
                   "and take the minimum over points, not the mean.")


def _ovr_cases(seed=0, n=10):
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n):
        N, D, C = int(rng.integers(5, 60)), int(rng.integers(2, 10)), int(rng.integers(2, 6))
        W = rng.normal(size=(C, D)) * rng.choice([0.0, 0.1])
        cases.append((W, rng.normal(size=(N, D)), rng.integers(0, C, size=N), float(rng.choice([0.5, 1.0]))))
    return cases


def one_vs_rest_epoch(student, seed: int = 0) -> None:
    """Check ``one_vs_rest_epoch(W, X, y, lr) -> new W`` (online rule, points in the given order)."""
    run_check("one_vs_rest_epoch", student, ref.one_vs_rest_epoch, _ovr_cases(seed),
              arg_names=("W", "X", "y", "lr"), rtol=1e-9,
              hint="visit the points in order; for point i, the target of row c is +1 if y[i] == c else -1; "
                   "every row whose target * (W[c] @ x_i) <= 0 gets W[c] += lr * target * x_i, before "
                   "moving on to the next point.")
