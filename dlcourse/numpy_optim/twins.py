"""Twin helpers of chapter 04: run one of our optimizers or schedules beside its ``torch.optim`` twin.

Written by hand (not exported): the chapter calls them in its "Check against PyTorch" section;
``tests/test_numpy_optim.py`` makes the same comparisons more thoroughly.
"""
from __future__ import annotations

import warnings

import numpy as np

from .optimizers import SGD

__all__ = ["optimizer_twin_error", "schedule_curve"]


def optimizer_twin_error(ours_cls, theirs_cls, kwargs, steps=60, seed=0):
    """Run ``ours_cls`` and ``theirs_cls`` (a torch.optim class) with ``kwargs`` on the same random float64
    parameters and gradients for ``steps`` steps; return the largest |ours - torch| / max |torch| over all
    parameters and steps."""
    import torch

    r = np.random.default_rng(seed)
    shapes = {"weight": (4, 3), "bias": (4,)}
    params = {k: r.normal(size=s) for k, s in shapes.items()}
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ours_opt, theirs_opt = ours_cls(params, **kwargs), theirs_cls(list(tensors.values()), **kwargs)
    err = 0.0
    for _ in range(steps):
        grads = {k: r.normal(size=s) for k, s in shapes.items()}
        ours_opt.step(grads)
        for k, t in tensors.items():
            t.grad = torch.from_numpy(grads[k])
        theirs_opt.step()
        for k, t in tensors.items():
            theirs = t.detach().numpy()
            err = max(err, np.abs(params[k] - theirs).max() / np.abs(theirs).max())
    return err


def schedule_curve(make_scheduler, M, steps=100, lr=0.1, metric=None):
    """The learning rate at steps 0..steps of ``make_scheduler(optimizer, M)`` on a dummy parameter, where M is
    a namespace of our schedulers or ``torch.optim.lr_scheduler`` (the optimizer is SGD, momentum 0.9, of
    each); ``metric(t)`` is passed to ``step`` (ReduceLROnPlateau)."""
    import torch

    if M is torch.optim.lr_scheduler:
        w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        w.grad = torch.zeros(1, dtype=torch.float64)
        opt = torch.optim.SGD([w], lr=lr, momentum=0.9)
        get_lr, opt_step = (lambda: opt.param_groups[0]["lr"]), (lambda: opt.step())
    else:
        opt = SGD({"w": np.zeros(1)}, lr=lr, momentum=0.9)
        get_lr, opt_step = (lambda: opt.lr), (lambda: opt.step({"w": np.zeros(1)}))
    with warnings.catch_warnings():               # PyTorch's SequentialLR warns spuriously when it is built
        warnings.simplefilter("ignore", UserWarning)
        sched = make_scheduler(opt, M)
    lrs = [get_lr()]
    for t in range(steps):
        opt_step()
        sched.step(metric(t)) if metric else sched.step()
        lrs.append(get_lr())
    return np.array(lrs)
