"""Checks for the exercises of chapter 02 (multilayer perceptrons).

The tasks ask for what the chapter does not print: the parameter count and the forward pass of a
densely connected MLP (every layer sees the input and all earlier hidden layers), the derivative of the
tanh approximation of GELU, a masked log-softmax and label-smoothed cross-entropy with its gradient, then
an outcome (a validation accuracy on the digits reached with the student's own gradient). Each check
compares the student's function with PyTorch (``torch.nn``, ``torch.nn.functional`` and autograd, float64)
on random inputs (batches of one, logits up to 1e4 included) and raises
:class:`~dlcourse.checks.CheckFailed` at the first difference; ``hint(name)`` gives a nudge.
"""
from __future__ import annotations

import numpy as np

from . import call_student, check_outcome, CheckFailed, failing_case, hint, run_check

__all__ = ["count_dense_parameters", "dense_mlp_forward", "gelu_tanh_grad", "masked_log_softmax",
           "smoothed_cross_entropy", "softmax_regression_outcome", "hint", "failing_case"]


def _torch():
    import torch

    return torch


# ---- Tasks 1 and 2: a densely connected MLP ---------------------------------------------------------
def _dense_layers(sizes):
    """One float64 nn.Linear per layer; layer l takes the concatenation of the widths sizes[0..l-1]."""
    torch = _torch()
    return [torch.nn.Linear(sum(sizes[:l]), sizes[l], dtype=torch.float64) for l in range(1, len(sizes))]


def _dense_count_reference(sizes):
    return int(sum(p.numel() for layer in _dense_layers(list(sizes)) for p in layer.parameters()))


def _count_cases(seed=0, n=20):
    rng = np.random.default_rng(seed)
    cases = [([6, 4, 3, 1],), ([2, 1],), ([64, 32, 32, 10],)]
    for _ in range(n):
        cases.append(([int(v) for v in rng.integers(1, 60, size=int(rng.integers(2, 7)))],))
    return cases


def count_dense_parameters(student, seed: int = 0) -> None:
    """Check ``count_dense_parameters(sizes) -> int`` against PyTorch's count of the same layers."""
    _torch().manual_seed(seed)
    run_check("count_dense_parameters", student, _dense_count_reference, _count_cases(seed), arg_names=("sizes",),
              hints=("Layer l has one weight per (unit of layer l, input it sees) and one bias per unit. "
                     "How many inputs does layer l see, now that it receives every earlier layer?",
                     "Layer l sees n_0 + n_1 + ... + n_{l-1} inputs: a running sum of the widths. A count is an "
                     "int: build it from ints (no averaging, no division), or convert at the end."))


_TORCH_ACT = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}


def _dense_forward_reference(X, params, activation):
    torch = _torch()
    act = getattr(torch, _TORCH_ACT[activation.__name__])
    layers = []
    for W, b in params:
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
    with torch.no_grad():
        features = [torch.from_numpy(X)]
        for l, linear in enumerate(layers, start=1):
            a = linear(torch.cat(features, dim=-1))
            features.append(act(a) if l < len(layers) else a)
    return features[-1].numpy()


def _forward_cases(seed=0, n=15):
    from .. import numpy_nn

    torch = _torch()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        depth = int(rng.integers(1, 5))
        sizes = [int(rng.integers(1, 9)) for _ in range(depth + 1)] + [int(rng.integers(1, 5))]
        params = [(m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()) for m in _dense_layers(sizes)]
        N = int(rng.choice([1, int(rng.integers(2, 12))]))
        cases.append((rng.normal(size=(N, sizes[0])), params, getattr(numpy_nn, ["relu", "tanh", "sigmoid"][i % 3])))
    cases.sort(key=lambda case: -len(case[1]))          # the deepest networks first: they show most mistakes
    return cases


def dense_mlp_forward(student, seed: int = 0) -> None:
    """Check ``dense_mlp_forward(X, params, activation) -> (N, n_L)`` against PyTorch with the same weights."""
    run_check("dense_mlp_forward", student, _dense_forward_reference, _forward_cases(seed),
              arg_names=("X", "params", "activation"), rtol=1e-9, atol=1e-12,
              hints=("Keep a list of everything computed so far, starting with X; each layer reads all of it, "
                     "glued together along the feature axis, in the order it was computed.",
                     "Look at W's shape: its columns are [inputs of z_0, then z_1, ..., then z_{l-1}]. The last "
                     "layer is linear (no activation), like every MLP of the chapter."))


# ---- Task 3: the derivative of the tanh approximation of GELU ---------------------------------------
def _gelu_tanh_grad_reference(x):
    torch = _torch()
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(torch.nn.functional.gelu(t, approximate="tanh").sum(), t)
    return grad.numpy()


def _gelu_cases(seed=0, n=15):
    rng = np.random.default_rng(seed)
    cases = [(np.array([-3.0, -1.0, 0.0, 0.5, 1.0, 3.0]),),
             (np.array([-1000.0, -50.0, -10.0, 10.0, 50.0, 1000.0]),)]
    for _ in range(n):
        shape = tuple(int(v) for v in rng.integers(1, 6, size=int(rng.integers(1, 4))))
        cases.append((rng.normal(size=shape) * rng.choice([1.0, 3.0]),))
    return cases


def gelu_tanh_grad(student, seed: int = 0) -> None:
    """Check ``gelu_tanh_grad(x)`` against autograd of ``F.gelu(x, approximate="tanh")``."""
    run_check("gelu_tanh_grad", student, _gelu_tanh_grad_reference, _gelu_cases(seed), arg_names=("x",),
              rtol=1e-9, atol=1e-12,
              hints=("It is a product, (x / 2) times (1 + tanh(u(x))): use the product rule, and the chain "
                     "rule for tanh(u(x)). This is the derivative of the approximation, not of the exact GELU.",
                     "tanh' = 1 - tanh^2, and u(x) = sqrt(2 / pi) (x + 0.044715 x^3) has its own derivative, "
                     "(differentiate the cubic term too). Avoid 1 / cosh(u)^2: cosh overflows for large |u|."))


# ---- Task 4: masked log-softmax -----------------------------------------------------------------
def _masked_reference(z, mask):
    torch = _torch()
    zt = torch.from_numpy(np.asarray(z, dtype=np.float64)).masked_fill(~torch.from_numpy(mask), float("-inf"))
    return torch.nn.functional.log_softmax(zt, dim=-1).numpy()


def _masked_cases(seed=0, n=12):
    rng = np.random.default_rng(seed)
    cases = [(np.array([[1.0, 2.0, 3.0]]), np.array([[True, False, True]])),
             (np.array([[1e4, 0.0, -3.0, 1.0]]), np.array([[False, True, True, True]])),   # a masked giant
             (np.array([[1000.0, 0.0, -1000.0]]), np.array([[True, True, True]]))]
    for i in range(n):
        shape = (int(rng.integers(1, 6)), int(rng.integers(2, 8)))
        if i % 3 == 2:
            shape = (int(rng.integers(1, 4)),) + shape                # (B, N, C)
        mask = rng.random(shape) < 0.6
        mask[..., int(rng.integers(shape[-1]))] = True               # every row keeps at least one entry
        cases.append((rng.normal(size=shape) * rng.choice([1.0, 1e2, 1e4]), mask))
    return cases


def masked_log_softmax(student, seed: int = 0) -> None:
    """Check ``masked_log_softmax(z, mask)`` against ``F.log_softmax`` of z with the masked entries at -inf."""
    run_check("masked_log_softmax", student, _masked_reference, _masked_cases(seed), arg_names=("z", "mask"),
              rtol=1e-9, atol=1e-9,
              hints=("A masked entry has probability exactly 0: what is its log? The other entries form an "
                     "ordinary softmax over the kept entries of their row (last axis).",
                     "The stability step subtracts a maximum: over which entries? A masked entry can be huge, "
                     "and exp of (kept entry - huge) is 0 for every kept entry. NumPy's where and an infinite "
                     "value help."))


# ---- Task 5: label-smoothed cross-entropy -------------------------------------------------------
def _smoothed_reference(z, y, eps):
    torch = _torch()
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(zt, torch.as_tensor(y, dtype=torch.int64), label_smoothing=eps)
    (grad,) = torch.autograd.grad(loss, zt)
    return float(loss.item()), grad.numpy()


def _smoothed_cases(seed=0, n=15):
    rng = np.random.default_rng(seed)
    cases = [(np.array([[2.0, 1.0, 0.1]]), np.array([0]), 0.1),
             (np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, 5.0]]), np.array([2, 0]), 0.2)]
    for i in range(n):
        N, C = int(rng.choice([1, int(rng.integers(2, 17))])), int(rng.integers(2, 11))
        scale = [3.0, 3.0, 1e3][i % 3]
        cases.append((rng.normal(size=(N, C)) * scale, rng.integers(0, C, size=N), float(rng.choice([0.0, 0.1, 0.3]))))
    return cases


def smoothed_cross_entropy(student, seed: int = 0) -> None:
    """Check ``smoothed_cross_entropy(z, y, eps) -> (loss, dloss/dz)`` against ``F.cross_entropy(...,
    label_smoothing=eps)`` and autograd."""
    run_check("smoothed_cross_entropy", student, _smoothed_reference, _smoothed_cases(seed),
              arg_names=("z", "y", "eps"), out_names=("loss", "grad"), rtol=1e-9, atol=1e-9,
              hints=("The loss is the cross-entropy between a target distribution q and softmax(z): q puts "
                     "1 - eps + eps / C on the label and eps / C on every class (the label included), and the "
                     "loss is averaged over the batch.",
                     "Write the loss with log_softmax (stable: subtract each row's maximum); for the gradient, "
                     "differentiate logsumexp(z_i) - sum_k q_ik z_ik with respect to z_i; remember that the q_ik "
                     "sum to 1 and the 1/N of the mean."))


# ---- Task 6: the outcome -------------------------------------------------------------------------
SOFTMAX_REGRESSION_TARGET = 0.92


def softmax_regression_outcome(student, seed: int = 0) -> None:
    """Train with ``student(X_train, y_train, seed) -> (W, b)`` on the digits (the chapter's split,
    val_size=0.2) and require the validation accuracy of argmax(X W^T + b) to reach the target."""
    from .. import data
    from ..train import accuracy

    name = "train_softmax_regression"
    split = data.load_digits(val_size=0.2, seed=0)
    hints = ("Start from W = 0 and b = 0 and take full-batch gradient steps with your "
             "smoothed_cross_entropy; print the loss every 50 steps: it must fall.",
             "z = X W^T + b: use the linear layer's backward formulas from chapter 03 for dW and db. If the "
             "loss falls too slowly, try a step ten times larger.")
    params = call_student(name, student, split.X_train.astype(np.float64), split.y_train.copy(), seed)
    if not isinstance(params, (tuple, list)) or len(params) != 2:
        raise CheckFailed(f"{name} should return the pair (W, b), got {type(params).__name__}")
    W, b = (np.asarray(p, dtype=np.float64) for p in params)
    if W.shape != (10, 64) or b.shape != (10,):
        raise CheckFailed(f"{name} should return W of shape (10, 64) and b of shape (10,), got {W.shape} and "
                          f"{b.shape}")
    check_outcome(name, accuracy(split.X_val @ W.T + b, split.y_val), SOFTMAX_REGRESSION_TARGET,
                  what="validation accuracy", hints=hints)
