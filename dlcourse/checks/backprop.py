"""Checks for the exercises of chapter 03 (backpropagation).

The backward passes are compared with ``torch.autograd`` in float64; the gradient check with a NumPy
reference on functions of a matrix, with right and planted-wrong gradients; the outcome task trains the
student's network on the digits and measures its validation accuracy. Batch size 1 is among the cases,
and so are logits in the thousands (an unstable softmax overflows there).
"""
from __future__ import annotations

import numpy as np

from . import call_student, check_outcome, CheckFailed, failing_case, hint, run_check

__all__ = ["linear_tanh_backward", "gradient_check", "two_layer_l2", "two_layer_outcome", "hint", "failing_case"]


# ---- Task 1: linear + tanh without bias -----------------------------------------------------------
def _torch_linear_tanh(x, W, grad_out):
    import torch

    xt, Wt = torch.tensor(x, requires_grad=True), torch.tensor(W, requires_grad=True)
    torch.tanh(xt @ Wt.T).backward(torch.tensor(grad_out))
    return xt.grad.numpy(), Wt.grad.numpy()


def linear_tanh_backward(student, seed: int = 0) -> None:
    """Check ``linear_tanh_backward(x, W, grad_out) -> (grad_x, grad_W)`` for Y = tanh(x W^T)."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(20):
        N = 1 if i % 4 == 0 else int(rng.integers(2, 9))
        din, dout = int(rng.integers(1, 8)), int(rng.integers(1, 8))
        if din == dout:
            dout += 1                                              # a transposed W cannot fit by accident
        scale = 0.3 if i % 2 else 1.5                              # near the linear part, and saturating
        cases.append((rng.normal(size=(N, din)), scale * rng.normal(size=(dout, din)), rng.normal(size=(N, dout))))
    run_check("linear_tanh_backward", student, _torch_linear_tanh, cases, rtol=1e-9, atol=1e-12,
              arg_names=("x", "W", "grad_out"), out_names=("grad_x", "grad_W"),
              hints=("Go through the pre-activation A = x W^T: first dL/dA, with A's shape (N, D_out), then the "
                     "two gradients of a product, each with the shape of its variable.",
                     "tanh's derivative at A is a function of the block's output Y = tanh(A); dL/dA multiplies "
                     "grad_out by it elementwise. Then dL/dx and dL/dW are the linear layer's formulas with "
                     "dL/dA in place of G."))


# ---- Task 2: a directional gradient check ---------------------------------------------------------
def _functions(rng, n, m):
    """(name, f, gradient) of functions of an (n, m) matrix, with fixed random data."""
    A, B, c = rng.normal(size=(m, 4)), rng.normal(size=(n, m)), rng.normal(size=n)
    return [
        ("sum(tanh(X A))", lambda X: float(np.sum(np.tanh(X @ A))),
         lambda X: (1 - np.tanh(X @ A) ** 2) @ A.T),
        ("log-sum-exp of X", lambda X: float(np.log(np.sum(np.exp(X)))),
         lambda X: np.exp(X) / np.sum(np.exp(X))),
        ("1000 sum(sin(X) * B)", lambda X: float(1000 * np.sum(np.sin(X) * B)),
         lambda X: 1000 * np.cos(X) * B),
        ("|X c'|^2 / 2 + sum(X^3)", lambda X: float(0.5 * np.sum((X.T @ c) ** 2) + np.sum(X ** 3)),
         lambda X: np.outer(c, X.T @ c) + 3 * X ** 2),
    ]


def _reference_gradient_check(f, grad, X, V, h, tol):
    numeric = (f(X + h * V) - f(X - h * V)) / (2 * h)
    analytic = float(np.sum(grad * V))
    denom = abs(numeric) + abs(analytic)
    error = abs(numeric - analytic) / denom if denom > 0 else 0.0
    return float(error), bool(error < tol)


def gradient_check(student, seed: int = 0) -> None:
    """Check ``gradient_check(f, grad, X, V, h, tol) -> (relative_error, passed)`` on right gradients and
    on gradients with planted bugs (scaled, one entry off, transposed sign)."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(16):
        n, m = int(rng.integers(1, 5)), int(rng.integers(2, 6))
        name, f, df = _functions(rng, n, m)[i % 4]
        X, V = rng.normal(size=(n, m)), rng.normal(size=(n, m))
        grad = df(X)
        bug = (i // 4) % 4                                         # 0: right; 1-3: planted bugs
        if bug == 1:
            grad = 2 * grad
        elif bug == 2:
            grad = grad.copy()
            grad[0, -1] += 1.0 + abs(grad[0, -1])
        elif bug == 3:
            grad = -grad
        cases.append((f, grad, X, V, 1e-6, 1e-6))
    cases.append((lambda X: 3.0, np.zeros((2, 2)), np.ones((2, 2)), np.ones((2, 2)), 1e-6, 1e-6))   # both 0
    run_check("gradient_check", student, _reference_gradient_check, cases, rtol=1e-4, atol=1e-8,
              arg_names=("f", "grad", "X", "V", "h", "tol"), out_names=("relative_error", "passed"),
              hints=("Both numbers are the derivative of t -> f(X + t V) at t = 0: one from two evaluations of f "
                     "(symmetric around X), one from the claimed gradient and V. Do not perturb X in place: build "
                     "new matrices.",
                     "The numerical one is a central difference of step h along V (its error is of order h^2; a "
                     "one-sided difference is of order h and fails this check); the other is the sum over all "
                     "entries of grad times V. The relative error divides by the sum of their absolute values, "
                     "and the verdict is a bool."))


# ---- Task 3: two-layer network with L2 ------------------------------------------------------------
def _torch_two_layer_l2(X, y, W1, b1, W2, b2, lam):
    import torch

    ts = [torch.tensor(a, requires_grad=True) for a in (W1, b1, W2, b2)]
    h = torch.relu(torch.tensor(X) @ ts[0].T + ts[1])
    loss = (torch.nn.functional.cross_entropy(h @ ts[2].T + ts[3], torch.tensor(y))
            + lam / 2 * (ts[0].square().sum() + ts[2].square().sum()))
    loss.backward()
    return (loss.item(), *(t.grad.numpy() for t in ts))


def two_layer_l2(student, seed: int = 0) -> None:
    """Check ``two_layer_l2(X, y, W1, b1, W2, b2, lam) -> (loss, dW1, db1, dW2, db2)``."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(18):
        N = 1 if i % 4 == 0 else int(rng.integers(2, 9))
        D, H, C = int(rng.integers(2, 7)), int(rng.integers(2, 7)), int(rng.integers(2, 6))
        lam = 0.0 if i % 6 == 5 else float(rng.choice([0.01, 0.3, 1.0]))
        big = 300.0 if i % 3 == 2 else 1.0                         # logits in the thousands
        cases.append((rng.normal(size=(N, D)), rng.integers(0, C, size=N), rng.normal(size=(H, D)),
                      rng.normal(size=H), big * rng.normal(size=(C, H)), rng.normal(size=C), lam))
    run_check("two_layer_l2", student, _torch_two_layer_l2, cases, rtol=1e-8, atol=1e-10,
              arg_names=("X", "y", "W1", "b1", "W2", "b2", "lam"), out_names=("loss", "dW1", "db1", "dW2", "db2"),
              hints=("Write the forward pass keeping A, H, Z; go backward from dL/dZ, which already holds the 1/N "
                     "of the mean; ReLU passes the gradient only where its input was positive. The penalty "
                     "touches the weights only, and its gradient is added to theirs.",
                     "Differentiate the penalty entry by entry: the 1/2 cancels the 2 of the square. Large logits "
                     "overflow exp: shift each row of Z by its maximum before exponentiating, and take the "
                     "log-probabilities from the shifted logits directly (log-sum-exp), not as the log of a "
                     "softmax that may have underflowed to 0."))


# ---- Task 4: the outcome ---------------------------------------------------------------------------
TWO_LAYER_TARGET = 0.95


def two_layer_outcome(student, seed: int = 0) -> None:
    """Train with ``student(X_train, y_train, seed) -> (W1, b1, W2, b2)`` on the digits (the chapter's
    split, val_size=0.2) and require the validation accuracy of the returned network to reach the target."""
    from .. import data
    from ..train import accuracy

    name = "train_two_layer"
    split = data.load_digits(val_size=0.2, seed=0)
    hints = ("Start the weights small and random (He: std sqrt(2 / fan_in)), the biases at 0; shuffle the "
             "examples every epoch and take minibatches of a few dozen.",
             "Step every parameter against its gradient from your two_layer_l2. If the training loss does not "
             "fall, try a learning rate ten times larger or smaller; a width of about 100 and a small lam "
             "(1e-4) are plenty.")
    params = call_student(name, student, split.X_train.astype(np.float64), split.y_train.copy(), seed)
    if not isinstance(params, (tuple, list)) or len(params) != 4:
        raise CheckFailed(f"{name} should return the tuple (W1, b1, W2, b2), got {type(params).__name__}"
                          + (f" of {len(params)}" if isinstance(params, (tuple, list)) else ""))
    W1, b1, W2, b2 = (np.asarray(p, dtype=np.float64) for p in params)
    try:
        scores = np.maximum(split.X_val @ W1.T + b1, 0) @ W2.T + b2
    except ValueError as e:
        raise CheckFailed(f"{name}: the returned arrays do not make a 64 -> H -> 10 network: {e}") from None
    if scores.shape != (len(split.X_val), 10):
        raise CheckFailed(f"{name}: the network maps the images to scores of shape {scores.shape[1:]}, "
                          f"expected 10 per image")
    check_outcome(name, accuracy(scores, split.y_val), TWO_LAYER_TARGET, what="validation accuracy", hints=hints)
