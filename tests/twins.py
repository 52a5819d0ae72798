"""The twin tests' one toolkit: `dlcourse.parity.twin_errors` (copy torch's weights into the NumPy layer,
forward and backward both in float64, compare) plus the assertions every twin test makes."""
from __future__ import annotations

import warnings

import numpy as np
import torch

from dlcourse.parity import loss_twin_errors, twin_errors


def check_twin(ours, theirs, x, what="", *, rng=None, grad_out=None, rtol=1e-10, atol=1e-12) -> dict:
    """twin_errors(ours, theirs, x) and assert: every error (output, grad_input, grad_<param>) is at most
    atol + rtol * max(1, |x|, |grad_out|), and ours computed a gradient for exactly torch's parameters.
    The upstream gradient is `grad_out`, else drawn from `rng`. `what` names the configuration."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")              # e.g. torch warns about padding='same' with even kernels
        errors = twin_errors(ours, theirs, x, grad_out=grad_out, rng=rng)
    params = {name for name, _ in theirs.named_parameters()}
    assert set(ours.grads) == params, f"{what}: gradients for {sorted(ours.grads)}, torch has {sorted(params)}"
    scale = max(1.0, float(np.max(np.abs(x), initial=0)),
                0.0 if grad_out is None else float(np.max(np.abs(grad_out), initial=0)))
    bad = {k: v for k, v in errors.items() if not v <= atol + rtol * scale}
    assert not bad, f"{what}: differs from its PyTorch twin: " + ", ".join(f"{k} by {v:.1e}" for k, v in bad.items())
    return errors


def check_loss_twin(ours, theirs, z, y, what="", *, rtol=1e-10, atol=1e-12) -> dict:
    """loss_twin_errors(ours, theirs, z, y), asserted like check_twin."""
    errors = loss_twin_errors(ours, theirs, z, y)
    scale = max(1.0, float(np.max(np.abs(z), initial=0)))
    bad = {k: v for k, v in errors.items() if not v <= atol + rtol * scale}
    assert not bad, f"{what}: differs from its PyTorch twin: " + ", ".join(f"{k} by {v:.1e}" for k, v in bad.items())
    return errors


class Elementwise:
    """A NumPy function and its derivative as a layer, for twin_errors: f(x, **kwargs) forward,
    backward(g) = g * f_grad(x, **kwargs). No parameters."""

    def __init__(self, f, f_grad, **kwargs):
        self.f, self.f_grad, self.kwargs, self.grads = f, f_grad, kwargs, {}

    def load_state_dict(self, state):
        assert not state, state

    def __call__(self, x):
        self.x = x
        return self.f(x, **self.kwargs)

    def backward(self, grad_out):
        return grad_out * self.f_grad(self.x, **self.kwargs)

    def __repr__(self):
        return f"{self.f.__name__}({self.kwargs})"


class TorchFunction(torch.nn.Module):
    """A torch function as a module (the twin of an Elementwise): forward(t) = fn(t, **kwargs)."""

    def __init__(self, fn, **kwargs):
        super().__init__()
        self.fn, self.kwargs = fn, kwargs

    def forward(self, t):
        return self.fn(t, **self.kwargs)
