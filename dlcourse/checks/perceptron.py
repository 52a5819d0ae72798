"""Checks for the exercises of chapter 01 (the perceptron).

The tasks ask for what the chapter does not print: the perceptron's dual form, the averaged perceptron
and a multiclass perceptron with one weight matrix, then an outcome (a validation accuracy on the digits
reached with the student's own code). Each check runs the student's function and a private reference on
random inputs (batches of one point, zero weights, points exactly on the boundary included) and raises
:class:`~dlcourse.checks.CheckFailed` at the first difference; ``hint(name)`` gives a nudge.
"""
from __future__ import annotations

import numpy as np

from . import call_student, check_outcome, CheckFailed, failing_case, hint, run_check

__all__ = ["dual_perceptron_epoch", "averaged_perceptron", "multiclass_perceptron_epoch",
           "digits_outcome", "hint", "failing_case"]


# ---- Task 1: the dual form ----------------------------------------------------------------------
def _dual_epoch_reference(alpha, K, y):
    alpha = np.array(alpha, dtype=np.int64)
    for i in range(len(y)):
        if y[i] * np.sum(alpha * y * K[:, i]) <= 0:
            alpha[i] += 1
    return alpha


def _dual_cases(seed=0, n=25):
    rng = np.random.default_rng(seed)
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    cases = [(np.zeros(3, np.int64), X @ X.T, np.array([1, -1, 1]))]      # alpha = 0: every score is 0
    for i in range(n):
        N, D = int(rng.choice([1, int(rng.integers(2, 30))])), int(rng.integers(1, 6))
        X = rng.normal(size=(N, D))
        K = X @ X.T if i % 3 else (1.0 + X @ X.T) ** 2                  # some cases: a polynomial kernel
        alpha = np.zeros(N, np.int64) if i % 2 else rng.integers(0, 4, size=N)
        cases.append((alpha, K, rng.choice([-1, 1], size=N)))
    return cases


def dual_perceptron_epoch(student, seed: int = 0) -> None:
    """Check ``dual_perceptron_epoch(alpha, K, y) -> new alpha`` (one epoch, points in order)."""
    run_check("dual_perceptron_epoch", student, _dual_epoch_reference, _dual_cases(seed),
              arg_names=("alpha", "K", "y"),
              hints=("The primal weights are w = sum_j alpha_j y_j x_j, so the score w . x_i is a sum over j "
                     "in which each term uses one entry of K. Which one, and which factors multiply it?",
                     "Compute point i's score from the current alpha just before you test point i: an update "
                     "of alpha_k changes the scores of every later point. A score of exactly 0 is a mistake."))


# ---- Task 2: the averaged perceptron ------------------------------------------------------------
def _averaged_reference(X, y, epochs):
    w, total = np.zeros(X.shape[1]), np.zeros(X.shape[1])
    for _ in range(epochs):
        for x_i, y_i in zip(X, y):
            if y_i * (w @ x_i) <= 0:
                w = w + y_i * x_i
            total += w
    return w, total / (epochs * len(X))


def _averaged_cases(seed=0, n=20):
    rng = np.random.default_rng(seed)
    cases = [(np.array([[1.0, 2.0, 1.0]]), np.array([1]), 1)]
    for i in range(n):
        N, D = int(rng.choice([1, int(rng.integers(2, 40))])), int(rng.integers(2, 6))
        X = np.c_[rng.normal(size=(N, D - 1)), np.ones(N)]                # bias column, as add_bias
        w_true = rng.normal(size=D)
        y = np.where(X @ w_true > 0, 1, -1) if i % 2 else rng.choice([-1, 1], size=N)   # separable or not
        cases.append((X, y, int(rng.integers(1, 6))))
    return cases


def averaged_perceptron(student, seed: int = 0) -> None:
    """Check ``averaged_perceptron(X, y, epochs) -> (w, w_avg)``."""
    run_check("averaged_perceptron", student, _averaged_reference, _averaged_cases(seed),
              arg_names=("X", "y", "epochs"), out_names=("w", "w_avg"), rtol=1e-9, atol=1e-12,
              hints=("w is the ordinary perceptron's final weight vector. The average runs over the weight "
                     "vectors held after every visit of a point, whether that visit changed w or not: "
                     "how many vectors is that?",
                     "Keep a running sum: add the current w once per visited point (after its update, if "
                     "any), and divide by the number of visits at the end. Do not count the initial w = 0."))


# ---- Task 3: a multiclass perceptron ------------------------------------------------------------
def _multiclass_reference(W, X, y):
    W = np.array(W, dtype=float)
    for x_i, y_i in zip(X, y):
        scores = W @ x_i
        others = np.where(np.arange(len(W)) == y_i, -np.inf, scores)
        rival = int(np.argmax(others))
        if scores[rival] >= scores[y_i]:
            W[y_i] += x_i
            W[rival] -= x_i
    return W


def _multiclass_cases(seed=0, n=20):
    rng = np.random.default_rng(seed)
    cases = [(np.zeros((3, 2)), np.array([[1.0, 1.0], [2.0, -1.0]]), np.array([0, 2]))]   # W = 0: ties
    for i in range(n):
        N, D, C = int(rng.choice([1, int(rng.integers(2, 40))])), int(rng.integers(2, 8)), int(rng.integers(2, 6))
        W = np.zeros((C, D)) if i % 3 == 0 else rng.normal(size=(C, D)) * rng.choice([0.1, 1.0])
        cases.append((W, rng.normal(size=(N, D)), rng.integers(0, C, size=N)))
    return cases


def multiclass_perceptron_epoch(student, seed: int = 0) -> None:
    """Check ``multiclass_perceptron_epoch(W, X, y) -> new W`` (one epoch, points in order)."""
    run_check("multiclass_perceptron_epoch", student, _multiclass_reference, _multiclass_cases(seed),
              arg_names=("W", "X", "y"), rtol=1e-9, atol=1e-12,
              hints=("The rival of point i is the best-scoring class other than y_i. A mistake is a rival "
                     "scoring at least as high as the true class: with W = 0 every point is a mistake.",
                     "On a mistake two rows change, in opposite directions, and no other row does; then move "
                     "on to the next point with the updated W."))


# ---- Task 4: the outcome -------------------------------------------------------------------------
DIGITS_TARGET = 0.93


def digits_outcome(student, seed: int = 0) -> None:
    """Train with ``student(X_train, y_train, seed) -> W`` (10, 65) on the digits (the chapter's split,
    val_size=0.2, bias column appended) and require the validation accuracy of argmax(X W^T) to reach
    the target."""
    from .. import data
    from ..perceptron import add_bias
    from ..train import accuracy

    name = "train_digits_perceptron"
    split = data.load_digits(val_size=0.2, seed=0)
    X_train, X_val = add_bias(split.X_train.astype(np.float64)), add_bias(split.X_val.astype(np.float64))
    hints = ("One epoch of your multiclass perceptron over a fresh permutation of the training points is a "
             "good start; the final W of a non-separable problem is noisy.",
             "Average W over every visited point, as in Task 2 (call your epoch function on one point at a "
             "time and keep a running sum); about ten epochs are enough.")
    W = call_student(name, student, X_train, split.y_train.copy(), seed)
    W = np.asarray(W, dtype=np.float64)
    if W.shape != (10, X_train.shape[1]):
        raise CheckFailed(f"{name} should return W of shape (10, {X_train.shape[1]}) (one row per class, "
                          f"bias column included), got shape {W.shape}")
    check_outcome(name, accuracy(X_val @ W.T, split.y_val), DIGITS_TARGET, what="validation accuracy",
                  hints=hints)
