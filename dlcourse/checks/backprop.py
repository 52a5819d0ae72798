"""Checks for the exercises of chapter 03 (backpropagation): references computed by torch.autograd."""
from __future__ import annotations

import numpy as np

from . import run_check

__all__ = ["linear_backward", "numerical_gradient", "two_layer_backward"]


def _torch_linear_backward(x, W, grad_out):
    import torch

    xt, Wt = torch.tensor(x, requires_grad=True), torch.tensor(W, requires_grad=True)
    bt = torch.zeros(W.shape[0], dtype=torch.float64, requires_grad=True)
    (xt @ Wt.T + bt).backward(torch.tensor(grad_out))
    return xt.grad.numpy(), Wt.grad.numpy(), bt.grad.numpy()


def linear_backward(student, seed: int = 0) -> None:
    """Check ``linear_backward(x, W, grad_out) -> (grad_x, grad_W, grad_b)`` for y = x W^T + b."""
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(20):
        N, din, dout = int(rng.choice([1, int(rng.integers(2, 9))])), int(rng.integers(1, 8)), int(rng.integers(1, 8))
        cases.append((rng.normal(size=(N, din)), rng.normal(size=(dout, din)), rng.normal(size=(N, dout))))
    run_check("linear_backward", student, _torch_linear_backward, cases, arg_names=("x", "W", "grad_out"),
              rtol=1e-9, atol=1e-12,
              hint="grad_x = grad_out @ W (N, in); grad_W = grad_out.T @ x (out, in); grad_b = grad_out summed "
                   "over the batch axis (out,). Each gradient has the shape of its variable.")


_FUNCTIONS = [
    ("sum(sin(x) * x)", lambda x: float(np.sum(np.sin(x) * x)), lambda x: np.cos(x) * x + np.sin(x)),
    ("sum(x**3) / 3", lambda x: float(np.sum(x ** 3) / 3), lambda x: x ** 2),
    ("log(sum(exp(x)))", lambda x: float(np.log(np.sum(np.exp(x)))), lambda x: np.exp(x) / np.sum(np.exp(x))),
]


def numerical_gradient(student, seed: int = 0) -> None:
    """Check ``numerical_gradient(f, x, h) -> array like x`` (central differences; f takes x)."""
    rng = np.random.default_rng(seed)
    cases, refs = [], {}
    for k in range(12):
        name, f, df = _FUNCTIONS[k % len(_FUNCTIONS)]
        shape = [(3,), (2, 3), (1,), (4, 1)][k % 4]
        x = rng.normal(size=shape)
        refs[id(f), shape] = df
        cases.append((f, x, 1e-5))

    def reference(f, x, h):                       # the exact derivative: a correct central difference is within 1e-8
        return next(df for (fid, shape), df in refs.items() if fid == id(f) and shape == x.shape)(x)

    def student_unchanged(f, x, h):
        x_before = x.copy()
        grad = student(f, x, h)
        if not np.array_equal(x, x_before):
            raise ValueError("your function left x modified: restore each entry after perturbing it")
        return grad

    run_check("numerical_gradient", student_unchanged, reference, cases, arg_names=("f", "x", "h"),
              rtol=1e-6, atol=1e-7,
              hint="for every index i (np.ndindex(x.shape)): remember x[i], set x[i] += h, evaluate f(x), set "
                   "x[i] = old - h, evaluate f(x), restore x[i] = old, and store (f_plus - f_minus) / (2 * h). "
                   "Use a float array for the result (np.zeros_like(x, dtype=float)).")


def _torch_two_layer(X, y, W1, b1, W2, b2):
    import torch

    ts = [torch.tensor(a, requires_grad=True) for a in (W1, b1, W2, b2)]
    h = torch.relu(torch.tensor(X) @ ts[0].T + ts[1])
    loss = torch.nn.functional.cross_entropy(h @ ts[2].T + ts[3], torch.tensor(y))
    loss.backward()
    return tuple(t.grad.numpy() for t in ts)


def two_layer_backward(student, seed: int = 0) -> None:
    """Check ``two_layer_backward(X, y, W1, b1, W2, b2) -> (dW1, db1, dW2, db2)``."""
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(15):
        N, D, H, C = int(rng.choice([1, int(rng.integers(2, 9))])), int(rng.integers(2, 7)), int(rng.integers(2, 7)), int(rng.integers(2, 6))
        cases.append((rng.normal(size=(N, D)), rng.integers(0, C, size=N), rng.normal(size=(H, D)), rng.normal(size=H),
                      rng.normal(size=(C, H)), rng.normal(size=C)))
    run_check("two_layer_backward", student, _torch_two_layer, cases, arg_names=("X", "y", "W1", "b1", "W2", "b2"),
              rtol=1e-8, atol=1e-10,
              hint="forward: A = X @ W1.T + b1, H = relu(A), Z = H @ W2.T + b2, P = softmax(Z). Backward: "
                   "dZ = (P - onehot(y)) / N; dW2 = dZ.T @ H; db2 = dZ.sum(0); dH = dZ @ W2; dA = dH * (A > 0); "
                   "dW1 = dA.T @ X; db1 = dA.sum(0). Don't forget the 1/N of the mean.")
