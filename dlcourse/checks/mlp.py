"""Checks for the exercises of chapter 02 (multilayer perceptrons).

Each check runs the student's function and PyTorch (``torch.nn``, ``torch.nn.functional`` and autograd, in
float64) on random inputs and raises :class:`~dlcourse.checks.CheckFailed` at the first difference, with a
hint. Checks with several phases (ordinary inputs first, then extreme ones) give the hint that fits the
phase that failed.
"""
from __future__ import annotations

import numpy as np

from . import run_check

__all__ = ["count_parameters", "mlp_forward", "silu_grad", "log_softmax", "softmax_cross_entropy"]


def _torch():
    import torch

    return torch


def _success(name: str, n: int) -> None:
    print(f"\u2714 {name}: correct on {n} random cases")


# ---- count_parameters ---------------------------------------------------------------------------
def _torch_mlp(sizes, activation="relu"):
    """nn.Sequential(Linear, act, ..., Linear) in float64 (PyTorch's own initialisation)."""
    torch = _torch()
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}[activation]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out, dtype=torch.float64), act()]
    return torch.nn.Sequential(*layers[:-1])


def _reference_count(sizes):
    return int(sum(p.numel() for p in _torch_mlp(list(sizes)).parameters()))


def _count_cases(seed=0, n=20):
    rng = np.random.default_rng(seed)
    cases = [([6, 4, 3, 1],), ([2, 1],), ([784, 100, 10],)]          # the lecture's net: 47 parameters
    for _ in range(n):
        cases.append(([int(v) for v in rng.integers(1, 60, size=int(rng.integers(2, 7)))],))
    return cases


def count_parameters(student, seed: int = 0) -> None:
    """Check ``count_parameters(sizes) -> int`` against ``sum(p.numel() for p in net.parameters())``."""
    _torch().manual_seed(seed)
    run_check("count_parameters", student, _reference_count, _count_cases(seed), arg_names=("sizes",),
              hint="a layer from n_in to n_out units has an (n_out, n_in) weight matrix and n_out biases; "
                   "sum n_out * n_in + n_out over the len(sizes) - 1 consecutive pairs of widths.")


# ---- mlp_forward --------------------------------------------------------------------------------
def _numpy_activation(name):
    from .. import numpy_nn

    return getattr(numpy_nn, name)


def _forward_reference(X, params, activation):
    """The same network as ``nn.Sequential(nn.Linear, act, ..., nn.Linear)`` with the weights of ``params``."""
    torch = _torch()
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}[activation.__name__]
    layers = []
    for W, b in params:
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear, act()]
    with torch.no_grad():
        return torch.nn.Sequential(*layers[:-1])(torch.from_numpy(X)).numpy()


def _forward_cases(seed=0, n=15):
    torch = _torch()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        depth, width = int(rng.integers(1, 5)), int(rng.integers(1, 9))
        sizes = [int(rng.integers(1, 9))] + [width if i % 2 else int(rng.integers(1, 9)) for _ in range(depth)]
        sizes.append(int(rng.integers(1, 5)))                         # odd cases: square hidden layers
        name = ["relu", "tanh", "sigmoid"][i % 3]
        params = [(m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy())
                  for m in _torch_mlp(sizes, name) if isinstance(m, torch.nn.Linear)]
        N = int(rng.choice([1, int(rng.integers(2, 12))]))
        cases.append((rng.normal(size=(N, sizes[0])), params, _numpy_activation(name)))
    return cases


def mlp_forward(student, seed: int = 0) -> None:
    """Check ``mlp_forward(X, params, activation) -> (N, n_L)`` against ``nn.Sequential`` with the same weights."""
    run_check("mlp_forward", student, _forward_reference, _forward_cases(seed),
              arg_names=("X", "params", "activation"), rtol=1e-9, atol=1e-12,
              hint="for each layer compute a = z @ W.T + b (W is (n_out, n_in), one row per unit, like "
                   "nn.Linear.weight); apply the activation after every layer except the last one, whose "
                   "pre-activation a_L is the output.")


# ---- silu_grad ----------------------------------------------------------------------------------
def _silu_grad_reference(x):
    torch = _torch()
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(torch.nn.functional.silu(t).sum(), t)
    return g.numpy()


def _elementwise_cases(seed=0, n=20, scale=4.0):
    rng = np.random.default_rng(seed)
    cases = [(np.array([0.0]),), (np.array([-50.0, -20.0, -1.0, 0.0, 1.0, 20.0, 50.0]),)]
    for _ in range(n):
        shape = tuple(int(s) for s in rng.integers(1, 6, size=int(rng.integers(1, 4))))
        x = rng.normal(size=shape) * scale
        x.flat[0] = rng.choice([-50.0, 0.0, 50.0])
        cases.append((x,))
    return cases


def silu_grad(student, seed: int = 0) -> None:
    """Check ``silu_grad(x)``, the derivative of x * sigmoid(x) at x, against autograd."""
    run_check("silu_grad", student, _silu_grad_reference, _elementwise_cases(seed), arg_names=("x",),
              rtol=1e-9, atol=1e-12,
              hint="SiLU is a product, x * s(x) with s = sigmoid: by the product rule its derivative is "
                   "s(x) + x * s(x) * (1 - s(x)). Keep the input's shape; work elementwise.")


# ---- log_softmax --------------------------------------------------------------------------------
def _log_softmax_reference(z):
    torch = _torch()
    return torch.nn.functional.log_softmax(torch.from_numpy(z), dim=-1).numpy()


def _logit_cases(seed=0, n=15, scale=3.0):
    rng = np.random.default_rng(seed)
    cases = [(np.array([[0.0, 0.0]]),)]
    for _ in range(n):
        shape = (int(rng.choice([1, int(rng.integers(2, 9))])), int(rng.integers(1, 11)))
        if rng.random() < 0.3:
            shape = (int(rng.integers(1, 4)),) + shape                 # also (B, N, C): reduce the last axis
        cases.append((rng.normal(size=shape) * scale,))
    return cases


def log_softmax(student, seed: int = 0) -> None:
    """Check ``log_softmax(z)`` along the last axis against ``F.log_softmax``, then with logits up to 1e4."""
    ordinary = _logit_cases(seed)
    run_check("log_softmax", student, _log_softmax_reference, ordinary, arg_names=("z",),
              rtol=1e-9, atol=1e-12, quiet=True,
              hint="log softmax(z)_k = z_k - log(sum_j exp(z_j)), the sum running over the LAST axis "
                   "(axis=-1, keepdims=True so that it broadcasts against z).")
    rng = np.random.default_rng(seed + 1)
    extreme = [(np.array([[1000.0, 0.0, -1000.0]]),), (np.array([[-1000.0, -1000.0]]),)]
    extreme += [(rng.normal(size=(int(rng.integers(1, 6)), int(rng.integers(2, 8)))) * s,) for s in (1e2, 1e3, 1e4)]
    run_check("log_softmax", student, _log_softmax_reference, extreme, arg_names=("z",),
              rtol=1e-9, atol=1e-9, quiet=True,
              hint="with large logits exp overflows (exp(1000) = inf) or underflows to 0 (log 0 = -inf). "
                   "Subtract m = max_j z_j first: log sum_j exp(z_j) = m + log sum_j exp(z_j - m).")
    _success("log_softmax", len(ordinary) + len(extreme))


# ---- softmax_cross_entropy ----------------------------------------------------------------------
def _cross_entropy_reference(z, y):
    torch = _torch()
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(zt, torch.as_tensor(y, dtype=torch.int64))
    (grad,) = torch.autograd.grad(loss, zt)
    return float(loss.item()), grad.numpy()


def _ce_cases(seed=0, n=15, scale=3.0):
    rng = np.random.default_rng(seed)
    cases = [(np.array([[2.0, 1.0, 0.1]]), np.array([0]))]
    for _ in range(n):
        N, C = int(rng.choice([1, int(rng.integers(2, 17))])), int(rng.integers(2, 11))
        cases.append((rng.normal(size=(N, C)) * scale, rng.integers(0, C, size=N)))
    return cases


def softmax_cross_entropy(student, seed: int = 0) -> None:
    """Check ``softmax_cross_entropy(z, y) -> (loss, dloss/dz)`` against ``F.cross_entropy`` and autograd."""
    ordinary = _ce_cases(seed)
    run_check("softmax_cross_entropy", student, _cross_entropy_reference, ordinary, arg_names=("z", "y"),
              rtol=1e-9, atol=1e-12, quiet=True,
              hint="value 0 is the loss, the MEAN over the batch of logsumexp(z_i) - z_i[y_i]; value 1 is its "
                   "gradient (softmax(z) - onehot(y)) / N, with the 1/N that comes from the mean.")
    rng = np.random.default_rng(seed + 1)
    extreme = [(np.array([[1000.0, 0.0, -1000.0]]), np.array([2])), (np.array([[-1000.0, -1000.0]]), np.array([1]))]
    for s in (1e2, 1e3, 1e4):
        N, C = int(rng.integers(1, 6)), int(rng.integers(2, 8))
        extreme.append((rng.normal(size=(N, C)) * s, rng.integers(0, C, size=N)))
    run_check("softmax_cross_entropy", student, _cross_entropy_reference, extreme, arg_names=("z", "y"),
              rtol=1e-9, atol=1e-9, quiet=True,
              hint="with large logits exp overflows or underflows: compute log softmax as z - m - "
                   "log(sum(exp(z - m))) with m the row's maximum, and the softmax as exp(z - m) / sum(exp(z - m)).")
    _success("softmax_cross_entropy", len(ordinary) + len(extreme))
