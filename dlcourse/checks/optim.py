"""Checks for the exercises of chapter 04 (optimization): references computed by ``torch.optim`` and
``torch.optim.lr_scheduler``, in float64.

The optimizer checks call the student's one-step function repeatedly (feeding back what it returns), like a
training loop would, and compare the parameters after every step with PyTorch's; a mismatch names the step.
"""
from __future__ import annotations

import warnings

import numpy as np

from . import CheckFailed, describe, run_check

__all__ = ["sgd_momentum_step", "adam_step", "warmup_cosine_lr"]


def _torch_trajectory(make_optimizer, param0, grads):
    """The parameter after each of len(grads) steps of a torch optimizer, as an array (steps, *shape)."""
    import torch

    p = torch.tensor(param0, requires_grad=True)
    opt = make_optimizer([p])
    out = []
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


def _random_sequences(rng, n_cases):
    cases = []
    for k in range(n_cases):
        shape = [(3,), (2, 3), (1,), (4, 2)][k % 4]
        steps = int(rng.integers(3, 9))
        param0 = rng.normal(size=shape)
        grads = [rng.normal(size=shape) * float(rng.choice([0.1, 1.0, 5.0])) for _ in range(steps)]
        cases.append((param0, grads))
    return cases


def _returned(name, result, names, t, shape):
    """Check that a one-step function returned a tuple ``names`` whose first entry has the parameter's shape."""
    if not isinstance(result, tuple) or len(result) != len(names):
        raise CheckFailed(f"{name} should return a tuple ({', '.join(names)}), got {describe(result)}")
    if result[0] is None or np.shape(result[0]) != shape:
        raise CheckFailed(f"{name}: the {names[0]} returned at step {t} is {describe(result[0])}, "
                          f"expected an array of shape {shape}")
    return result


# ---- Task 1: SGD with momentum, dampening, Nesterov and weight decay ---------------------------------
def sgd_momentum_step(student, seed: int = 0) -> None:
    """Check ``sgd_momentum_step(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov)
    -> (new_param, new_buf)``, with ``buf = None`` before the first step, against torch.optim.SGD."""
    import torch

    rng = np.random.default_rng(seed)
    cases = []
    for k, (param0, grads) in enumerate(_random_sequences(rng, 24)):
        momentum = [0.0, 0.9, 0.5, 0.9][k % 4] if k % 6 else 0.0
        nesterov = bool(momentum > 0 and k % 3 == 1)
        dampening = 0.0 if nesterov or k % 3 != 2 else float(rng.choice([0.1, 0.5]))
        weight_decay = float(rng.choice([0.0, 0.01, 0.1])) if k % 2 else 0.0
        cases.append((param0, grads, float(rng.choice([0.01, 0.1, 0.5])), momentum, dampening, weight_decay, nesterov))

    def reference(param0, grads, lr, momentum, dampening, weight_decay, nesterov):
        return _torch_trajectory(lambda p: torch.optim.SGD(p, lr=lr, momentum=momentum, dampening=dampening,
                                                           weight_decay=weight_decay, nesterov=nesterov), param0, grads)

    def unrolled(param0, grads, lr, momentum, dampening, weight_decay, nesterov):
        param, buf, out = np.array(param0, dtype=float), None, []
        for t, g in enumerate(grads, start=1):
            result = student(param.copy(), np.array(g), None if buf is None else buf.copy(), lr, momentum, dampening,
                             weight_decay, nesterov)
            param, buf = _returned("sgd_momentum_step", result, ("new_param", "new_buf"), t, np.shape(param0))
            param = np.asarray(param, dtype=float)
            buf = None if buf is None else np.asarray(buf, dtype=float)
            out.append(param.copy())
        return np.array(out)

    run_check("sgd_momentum_step", unrolled, reference, cases, rtol=1e-9, atol=1e-12,
              arg_names=("param0", "grads", "lr", "momentum", "dampening", "weight_decay", "nesterov"),
              hint="the parameter after step k is row k-1 of the result. Order: g = grad + weight_decay * param; "
                   "if momentum: buf = g.copy() at the first step (buf is None), else buf = momentum * buf + "
                   "(1 - dampening) * g; then d = g + momentum * buf if nesterov else buf (d = g without "
                   "momentum); param - lr * d. Dampening is NOT applied at the first step.")


# ---- Task 2: Adam with bias correction ---------------------------------------------------------------
def adam_step(student, seed: int = 0) -> None:
    """Check ``adam_step(param, grad, m, v, t, lr, beta1, beta2, eps) -> (new_param, new_m, new_v)`` against
    torch.optim.Adam; t is the number of the step being taken (1 at the first step), m and v start at 0."""
    import torch

    rng = np.random.default_rng(seed)
    cases = []
    for k, (param0, grads) in enumerate(_random_sequences(rng, 20)):
        beta1, beta2 = [(0.9, 0.999), (0.8, 0.99), (0.0, 0.9), (0.95, 0.9999)][k % 4]
        eps = float(rng.choice([1e-8, 1e-3, 0.1])) if k % 3 == 2 else 1e-8
        cases.append((param0, grads, float(rng.choice([1e-3, 0.01, 0.1])), beta1, beta2, eps))

    def reference(param0, grads, lr, beta1, beta2, eps):
        return _torch_trajectory(lambda p: torch.optim.Adam(p, lr=lr, betas=(beta1, beta2), eps=eps), param0, grads)

    def unrolled(param0, grads, lr, beta1, beta2, eps):
        param = np.array(param0, dtype=float)
        m, v, out = np.zeros_like(param), np.zeros_like(param), []
        for t, g in enumerate(grads, start=1):
            result = student(param.copy(), np.array(g), m.copy(), v.copy(), t, lr, beta1, beta2, eps)
            param, m, v = (np.asarray(r, dtype=float) for r in
                           _returned("adam_step", result, ("new_param", "new_m", "new_v"), t, np.shape(param0)))
            out.append(param.copy())
        return np.array(out)

    run_check("adam_step", unrolled, reference, cases, rtol=1e-9, atol=1e-12,
              arg_names=("param0", "grads", "lr", "beta1", "beta2", "eps"),
              hint="the parameter after step t is row t-1 of the result. m = beta1 * m + (1 - beta1) * g; "
                   "v = beta2 * v + (1 - beta2) * g**2; m_hat = m / (1 - beta1**t); v_hat = v / (1 - beta2**t); "
                   "param - lr * m_hat / (sqrt(v_hat) + eps), with eps outside the square root and t = 1 at the "
                   "first step.")


# ---- Task 3: linear warm-up + cosine -----------------------------------------------------------------
def _torch_warmup_cosine(T, base_lr, warmup_steps, total_steps, start_factor, eta_min):
    import torch

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    S = torch.optim.lr_scheduler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sched = S.SequentialLR(opt, [S.LinearLR(opt, start_factor, total_iters=warmup_steps),
                                     S.CosineAnnealingLR(opt, total_steps - warmup_steps, eta_min)],
                               milestones=[warmup_steps])
        lrs = [opt.param_groups[0]["lr"]]
        for _ in range(T):
            opt.step()
            sched.step()
            lrs.append(opt.param_groups[0]["lr"])
    return np.array(lrs)


def warmup_cosine_lr(student, seed: int = 0) -> None:
    """Check ``warmup_cosine_lr(t, base_lr, warmup_steps, total_steps, start_factor, eta_min) -> float`` for
    every t in 0..total_steps against torch's SequentialLR(LinearLR, CosineAnnealingLR)."""
    rng = np.random.default_rng(seed)
    configs = [(0.1, 5, 50, 0.1, 0.0), (1.0, 1, 10, 0.5, 0.01), (0.01, 10, 11, 0.01, 0.0)]
    for _ in range(7):
        warm = int(rng.integers(1, 20))
        configs.append((float(rng.uniform(1e-3, 1.0)), warm, warm + int(rng.integers(1, 60)),
                        float(rng.uniform(0.01, 1.0)), float(rng.choice([0.0, 1e-4]))))
    cases = [(config,) for config in configs]

    def reference(config):
        base_lr, warm, total, start, eta_min = config
        return _torch_warmup_cosine(total, base_lr, warm, total, start, eta_min)

    def all_steps(config):
        base_lr, warm, total, start, eta_min = config
        out = []
        for t in range(total + 1):
            lr = student(t, base_lr, warm, total, start, eta_min)
            if not isinstance(lr, (float, int, np.floating, np.integer)) and np.ndim(lr) != 0:
                raise CheckFailed(f"warmup_cosine_lr should return one number, got {describe(lr)} at t = {t}")
            out.append(float(lr))
        return np.array(out)

    run_check("warmup_cosine_lr", all_steps, reference, cases, rtol=1e-9, atol=1e-15,
              arg_names=("(base_lr, warmup_steps, total_steps, start_factor, eta_min)",),
              hint="index t of the result is your lr at step t. For t < warmup_steps: base_lr * (start_factor + "
                   "(1 - start_factor) * t / warmup_steps) (so it starts at base_lr * start_factor, and t = "
                   "warmup_steps is the first cosine step); then with s = t - warmup_steps and T = total_steps - "
                   "warmup_steps: eta_min + (base_lr - eta_min) * (1 + cos(pi * s / T)) / 2.")
