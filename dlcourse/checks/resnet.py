"""Checks for the exercises of chapter 07 (residual networks): references from PyTorch."""
from __future__ import annotations

import numpy as np

from . import CheckFailed, run_check

__all__ = ["residual_forward", "residual_backward", "resnet_num_parameters"]


def _torch_residual(x, W1, b1, W2, b2, P, grad_out=None):
    """h = s(x) + relu(x W1^T + b1) W2^T + b2 with s(x) = x (P None) or x P^T; with grad_out also the grads."""
    import torch

    ts = [torch.tensor(a, requires_grad=True) for a in (x, W1, b1, W2, b2)]
    xt, W1t, b1t, W2t, b2t = ts
    Pt = None if P is None else torch.tensor(P, requires_grad=True)
    fx = torch.relu(xt @ W1t.T + b1t) @ W2t.T + b2t
    h = fx + (xt if Pt is None else xt @ Pt.T)
    if grad_out is None:
        return h.detach().numpy()
    h.backward(torch.tensor(grad_out))
    return tuple(t.grad.numpy() for t in ts + [Pt])


def _block_case(rng, projection: bool):
    N = int(rng.choice([1, int(rng.integers(2, 7))]))
    d_in, d_hidden = int(rng.integers(1, 7)), int(rng.integers(1, 7))
    d_out = int(rng.integers(1, 7)) if projection else d_in
    if projection and d_out == d_in and rng.random() < 0.7:
        d_out = d_in + 1                                  # mostly a real change of width
    x, W1, b1 = rng.normal(size=(N, d_in)), rng.normal(size=(d_hidden, d_in)), rng.normal(size=d_hidden)
    W2, b2 = rng.normal(size=(d_out, d_hidden)), rng.normal(size=d_out)
    P = rng.normal(size=(d_out, d_in)) if projection else None
    return N, d_out, (x, W1, b1, W2, b2, P)


def residual_forward(student, seed: int = 0) -> None:
    """Check ``residual_forward(x, W1, b1, W2, b2, P) -> h`` (P None: identity shortcut)."""
    rng = np.random.default_rng(seed)
    cases = [_block_case(rng, projection=k % 2 == 1)[2] for k in range(20)]
    run_check("residual_forward", student, _torch_residual, cases, arg_names=("x", "W1", "b1", "W2", "b2", "P"),
              rtol=1e-9, atol=1e-12,
              hint="F(x) = relu(x @ W1.T + b1) @ W2.T + b2 (no ReLU after the second layer); the shortcut is "
                   "x itself when P is None, else x @ P.T; return shortcut + F(x).")


def residual_backward(student, seed: int = 0) -> None:
    """Check ``residual_backward(x, W1, b1, W2, b2, P, grad_out) -> (grad_x, dW1, db1, dW2, db2, dP)``."""
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(20):
        N, d_out, args = _block_case(rng, projection=True)
        cases.append(args + (rng.normal(size=(N, d_out)),))
    run_check("residual_backward", student, _torch_residual, cases,
              arg_names=("x", "W1", "b1", "W2", "b2", "P", "grad_out"), rtol=1e-9, atol=1e-12,
              hint="with A = x @ W1.T + b1, H = relu(A) and G = grad_out: dW2 = G.T @ H, db2 = G.sum(0), "
                   "dA = (G @ W2) * (A > 0), dW1 = dA.T @ x, db1 = dA.sum(0), dP = G.T @ x, and grad_x gets "
                   "BOTH paths: grad_x = dA @ W1 + G @ P.")


def _reference_count(layers, widths, num_classes, in_channels):
    from ..resnet import ResNet

    return sum(p.numel() for p in ResNet(list(layers), tuple(widths), num_classes, in_channels).parameters())


def resnet_num_parameters(student, seed: int = 0) -> None:
    """Check ``resnet_num_parameters(layers, widths, num_classes, in_channels) -> int`` (torchvision layout)."""
    rng = np.random.default_rng(seed)
    cases = [((2, 2, 2, 2), (64, 128, 256, 512), 1000, 3),          # ResNet-18 for ImageNet: 11,689,512
             ((3, 4, 6, 3), (64, 128, 256, 512), 10, 3)]            # ResNet-34
    for _ in range(10):
        stages = int(rng.integers(1, 5))
        layers = tuple(int(v) for v in rng.integers(1, 4, size=stages))
        widths = tuple(int(v) for v in np.sort(rng.integers(1, 17, size=stages)))
        cases.append((layers, widths, int(rng.integers(1, 12)), int(rng.integers(1, 4))))

    def student_int(*args):
        got = student(*args)
        if isinstance(got, float) and not float(got).is_integer():
            raise CheckFailed(f"resnet_num_parameters{args} returned {got}: a parameter count is an integer")
        return got

    run_check("resnet_num_parameters", student_int, _reference_count, cases,
              arg_names=("layers", "widths", "num_classes", "in_channels"), rtol=0, atol=0,
              hint="count torchvision's layout: stem conv 7*7*in_channels*widths[0] (no bias) + its BN "
                   "(2 per channel: weight and bias; running statistics are buffers, not parameters); every "
                   "BasicBlock: two 3x3 convs (9*c_in*c_out and 9*c_out*c_out, no bias) and two BNs; the first "
                   "block of a stage gets a projection (1x1 conv c_in*c_out + BN) when it changes the stride "
                   "(every stage but the first) or the width; the classifier widths[-1]*num_classes + num_classes.")
