"""Checks for the exercises of chapter 05 (regularization): inverted dropout and batch normalization,
compared with PyTorch (autograd through the same computation, ``F.batch_norm``, ``nn.BatchNorm1d``)."""
from __future__ import annotations

import numpy as np

from . import run_check

__all__ = ["dropout_forward_backward", "batchnorm_forward", "batchnorm_backward", "update_running_stats"]


def _torch_dropout(x, grad_out, p, u):
    """Inverted dropout with the keep mask u >= p, through torch autograd."""
    import torch

    xt = torch.tensor(x, requires_grad=True)
    keep = torch.from_numpy(u >= p)
    y = torch.where(keep, xt / (1 - p), torch.zeros_like(xt))
    y.backward(torch.tensor(grad_out))
    return y.detach().numpy(), xt.grad.numpy()


def dropout_forward_backward(student, seed: int = 0) -> None:
    """Check ``dropout_forward_backward(x, grad_out, p, u) -> (y, grad_x)``: keep x where u >= p."""
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(16):
        shape = [(1, 5), (4, 7), (3, 2, 6), (8, 1)][k % 4]
        p = [0.5, 0.2, 0.8, 0.0][(k // 4) % 4] if k < 14 else float(rng.uniform(0.05, 0.95))
        cases.append((rng.normal(size=shape), rng.normal(size=shape), p, rng.random(shape)))
    run_check("dropout_forward_backward", student, _torch_dropout, cases, arg_names=("x", "grad_out", "p", "u"),
              rtol=1e-12, atol=1e-12,
              hint="keep = u >= p (each entry survives with probability 1 - p); y = x * keep / (1 - p), so that "
                   "E[y] = x; the backward pass uses the same mask and the same factor: grad_x = grad_out * keep "
                   "/ (1 - p). With p = 0 nothing is dropped.")


def _torch_bn_forward(x, gamma, beta, eps):
    import torch
    import torch.nn.functional as F

    return F.batch_norm(torch.tensor(x), None, None, torch.tensor(gamma), torch.tensor(beta),
                        training=True, eps=eps).numpy()


def _bn_cases(rng, n_cases=14):
    cases = []
    for k in range(n_cases):
        N, C = [(2, 1), (5, 3), (16, 4), (3, 7)][k % 4]
        x = rng.normal(loc=rng.normal(size=C) * 3, scale=rng.uniform(0.3, 4, size=C), size=(N, C))
        cases.append((x, rng.normal(size=C), rng.normal(size=C), float([1e-5, 1e-3, 0.1][k % 3])))
    return cases


def batchnorm_forward(student, seed: int = 0) -> None:
    """Check ``batchnorm_forward(x, gamma, beta, eps) -> y`` (training mode, x of shape (N, C))."""
    cases = _bn_cases(np.random.default_rng(seed))
    run_check("batchnorm_forward", student, _torch_bn_forward, cases, arg_names=("x", "gamma", "beta", "eps"),
              rtol=1e-9, atol=1e-10,
              hint="per channel (axis 0 is the batch): mu = x.mean(axis=0), var = x.var(axis=0) (the BIASED "
                   "variance, dividing by N), x_hat = (x - mu) / sqrt(var + eps), y = gamma * x_hat + beta.")


def _torch_bn_backward(x, gamma, grad_out, eps):
    import torch
    import torch.nn.functional as F

    xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(gamma, requires_grad=True)
    bt = torch.zeros_like(gt, requires_grad=True)
    F.batch_norm(xt, None, None, gt, bt, training=True, eps=eps).backward(torch.tensor(grad_out))
    return xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()


def batchnorm_backward(student, seed: int = 0) -> None:
    """Check ``batchnorm_backward(x, gamma, grad_out, eps) -> (grad_x, grad_gamma, grad_beta)``."""
    rng = np.random.default_rng(seed)
    cases = [(x, gamma, rng.normal(size=x.shape), eps) for x, gamma, _, eps in _bn_cases(rng)]
    run_check("batchnorm_backward", student, _torch_bn_backward, cases, arg_names=("x", "gamma", "grad_out", "eps"),
              rtol=1e-8, atol=1e-10,
              hint="with x_hat = (x - mu) / sqrt(var + eps) and G = grad_out: grad_beta = G.sum(0), grad_gamma = "
                   "(G * x_hat).sum(0); with Gh = G * gamma: grad_x = (Gh - Gh.mean(0) - x_hat * (Gh * "
                   "x_hat).mean(0)) / sqrt(var + eps). The mean and the variance depend on every example: "
                   "forgetting the two subtracted terms is the usual mistake.")


def _torch_running_stats(running_mean, running_var, x, momentum):
    import torch

    layer = torch.nn.BatchNorm1d(x.shape[1], momentum=momentum).double()
    layer.running_mean.copy_(torch.tensor(running_mean))
    layer.running_var.copy_(torch.tensor(running_var))
    layer.train()
    layer(torch.tensor(x))
    return layer.running_mean.numpy().copy(), layer.running_var.numpy().copy()


def update_running_stats(student, seed: int = 0) -> None:
    """Check ``update_running_stats(running_mean, running_var, x, momentum) -> (new_mean, new_var)``."""
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(12):
        N, C = [(4, 3), (2, 5), (10, 1), (6, 2)][k % 4]
        cases.append((rng.normal(size=C), rng.uniform(0.5, 2, size=C),
                      rng.normal(loc=2, scale=3, size=(N, C)), [0.1, 0.5, 0.01][k % 3]))
    run_check("update_running_stats", student, _torch_running_stats, cases,
              arg_names=("running_mean", "running_var", "x", "momentum"), rtol=1e-10, atol=1e-12,
              hint="PyTorch's convention weights the NEW batch by momentum: new = (1 - momentum) * old + "
                   "momentum * batch_statistic. The running variance uses the UNBIASED batch variance "
                   "x.var(axis=0, ddof=1). Return new arrays; do not modify the inputs.")
