"""Checks for the exercises of chapter 04 (optimization).

The tasks ask for what the chapter does not print: AdamW's step as a function, Rprop's step (the chapter
only describes it), and the one-cycle schedule from its formula; then an outcome (a validation accuracy
on the digits reached with the student's own optimizer and schedule). The references are ``torch.optim``
and ``torch.optim.lr_scheduler``, in float64. The optimizer checks call the student's one-step function
repeatedly, feeding back what it returns as a training loop would, and compare the parameter after every
step; they also hold the student to the contract of a step function: return new arrays, never modify the
arrays passed in.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np

from . import _FAILING, _pointer, call_student, check_outcome, CheckFailed, describe, failing_case, hint, run_check

__all__ = ["adamw_step", "rprop_step", "one_cycle_lr", "digits_outcome", "hint", "failing_case"]

DIGITS_TARGET = 0.95        # validation accuracy of the outcome task
_PARAM_ROWS = "the parameter after each step (row k: step k + 1)"


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


def _sequences(rng, n_cases, scales=(0.1, 1.0, 5.0)):
    cases = []
    for k in range(n_cases):
        shape = [(3,), (2, 3), (1,), (4, 2)][k % 4]
        param0 = rng.normal(size=shape)
        drift = rng.normal(size=shape)                       # gradients that keep their sign for a while
        grads = [drift * float(rng.choice([0.5, 1.0])) + rng.normal(size=shape) * float(rng.choice(scales))
                 for _ in range(int(rng.integers(3, 12)))]
        cases.append((param0, grads))
    return cases


def _step(name, student, t, arrays, others, out_names, shape):
    """One call of a student's step function on copies of ``arrays`` (a dict name -> array or None), checked
    against the contract: no input changed in place, a tuple ``out_names`` back, the parameter's shape."""
    given = {k: None if v is None else v.copy() for k, v in arrays.items()}
    result = student(*given.values(), *others)
    for k, v in arrays.items():
        if v is not None and not np.array_equal(given[k], v):
            raise _Contract(f"{name} changed its input `{k}` in place at step {t}: a step function returns "
                            f"new arrays and leaves the ones it was given as they were (write `{k} = ...`, "
                            f"not `{k} *= ...`, `{k} += ...` or `{k}[...] = ...`).")
    if not isinstance(result, tuple) or len(result) != len(out_names):
        raise _Contract(f"{name} should return a tuple ({', '.join(out_names)}), got {describe(result)}")
    for k, v in zip(out_names, result):
        if v is None or np.shape(v) != shape:
            raise _Contract(f"{name}: the {k} returned at step {t} is {describe(v)}, expected an array of "
                            f"shape {shape}")
    return tuple(np.array(v, dtype=float) for v in result)      # copies: later steps cannot alias them


class _Contract(Exception):
    """A broken contract found while unrolling; re-raised as CheckFailed with the failing case."""


def _run(name, student, unrolled, reference, cases, hints, arg_names, what, rtol=1e-9, atol=1e-12):
    """run_check on the unrolled loop (its result named ``what``), with the contract failures found while
    unrolling reported as one clear line."""
    contract = {}

    def guarded(*args):
        try:
            return (unrolled(*args),)
        except _Contract as e:
            contract["message"], contract["args"] = str(e), args
            raise

    guarded.__name__ = getattr(student, "__name__", name)      # a blank is "not implemented", not a helper
    try:
        run_check(name, guarded, lambda *args: (reference(*args),), cases, hints=hints, rtol=rtol, atol=atol,
                  arg_names=arg_names, out_names=(what,))
    except CheckFailed:
        if "message" in contract:
            _FAILING[name] = copy.deepcopy(contract["args"])
            raise CheckFailed(contract["message"] + _pointer(name)) from None
        raise


# ---- Task 1: AdamW -----------------------------------------------------------------------------------
def adamw_step(student, seed: int = 0) -> None:
    """Check ``adamw_step(param, grad, m, v, t, lr, beta1, beta2, eps, weight_decay) -> (new_param, new_m,
    new_v)`` against torch.optim.AdamW; t is the number of the step being taken (1 at the first step)."""
    import torch

    rng = np.random.default_rng(seed)
    cases = []
    for k, (param0, grads) in enumerate(_sequences(rng, 20)):
        beta1, beta2 = [(0.9, 0.999), (0.8, 0.99), (0.0, 0.9), (0.95, 0.9999)][k % 4]
        eps = float(rng.choice([1e-8, 1e-3, 0.1])) if k % 3 == 2 else 1e-8
        weight_decay = [0.0, 0.01, 0.1, 0.5][k % 4] if k % 5 else 0.3
        cases.append((param0, grads, float(rng.choice([1e-3, 0.01, 0.1])), beta1, beta2, eps, weight_decay))

    def reference(param0, grads, lr, beta1, beta2, eps, weight_decay):
        return _torch_trajectory(lambda p: torch.optim.AdamW(p, lr=lr, betas=(beta1, beta2), eps=eps,
                                                             weight_decay=weight_decay), param0, grads)

    def unrolled(param0, grads, lr, beta1, beta2, eps, weight_decay):
        param = np.array(param0, dtype=float)
        m, v, out = np.zeros_like(param), np.zeros_like(param), []
        for t, g in enumerate(grads, start=1):
            param, m, v = _step("adamw_step", student, t, {"param": param, "grad": np.array(g), "m": m, "v": v},
                                (t, lr, beta1, beta2, eps, weight_decay), ("new_param", "new_m", "new_v"),
                                np.shape(param0))
            out.append(param.copy())
        return np.array(out)

    _run("adamw_step", student, unrolled, reference, cases, what=_PARAM_ROWS,
         arg_names=("param0", "grads", "lr", "beta1", "beta2", "eps", "weight_decay"),
         hints=("Compare the first case with weight_decay = 0 and the first with weight_decay > 0: if only the "
                "second fails, look at where the decay enters. AdamW never adds it to the gradient.",
                "The decay shrinks the parameter the optimizer was given, by a factor that involves the learning "
                "rate, before the Adam update of that step; the moments see only the raw gradient. Bias "
                "correction divides by 1 - beta**t with t = 1 at the first step, and eps stays outside the "
                "square root."))


# ---- Task 2: Rprop -----------------------------------------------------------------------------------
def rprop_step(student, seed: int = 0) -> None:
    """Check ``rprop_step(param, grad, prev, step_size, lr, etaminus, etaplus, step_min, step_max) ->
    (new_param, new_prev, new_step_size)`` against torch.optim.Rprop; prev and step_size are None before
    the first step."""
    import torch

    rng = np.random.default_rng(seed)
    cases = []
    for k, (param0, grads) in enumerate(_sequences(rng, 24, scales=(0.3, 1.0, 3.0))):
        etas = [(0.5, 1.2), (0.3, 1.5), (0.7, 1.1)][k % 3]
        step_sizes = [(1e-6, 50.0), (1e-3, 0.05), (0.005, 1.0), (1e-4, 0.2)][k % 4]
        if k % 6 == 5:
            for g in grads[1::3]:
                g.flat[0] = 0.0                               # a zero gradient: no sign information
        cases.append((param0, grads, float(rng.choice([1e-3, 0.01, 0.1])), *etas, *step_sizes))

    def reference(param0, grads, lr, etaminus, etaplus, step_min, step_max):
        return _torch_trajectory(lambda p: torch.optim.Rprop(p, lr=lr, etas=(etaminus, etaplus),
                                                             step_sizes=(step_min, step_max)), param0, grads)

    def unrolled(param0, grads, lr, etaminus, etaplus, step_min, step_max):
        param, prev, step_size, out = np.array(param0, dtype=float), None, None, []
        for t, g in enumerate(grads, start=1):
            param, prev, step_size = _step(
                "rprop_step", student, t, {"param": param, "grad": np.array(g), "prev": prev, "step_size": step_size},
                (lr, etaminus, etaplus, step_min, step_max), ("new_param", "new_prev", "new_step_size"),
                np.shape(param0))
            out.append(param.copy())
        return np.array(out)

    _run("rprop_step", student, unrolled, reference, cases, what=_PARAM_ROWS,
         arg_names=("param0", "grads", "lr", "etaminus", "etaplus", "step_min", "step_max"),
         hints=("Before the first step there is no previous gradient and every step size is lr. The size of "
                "the gradient never enters the update, only its sign (and a zero gradient does not move).",
                "Per coordinate: compare the sign of grad with prev; grow the step size, shrink it, or keep it; "
                "clip it to [step_min, step_max]. Where the sign flipped, skip the move this time and store 0 as "
                "the new prev, so that the next step counts as 'no information'."))


# ---- Task 3: the one-cycle schedule ------------------------------------------------------------------
def _torch_one_cycle(max_lr, total_steps, pct_start, div_factor, final_div_factor):
    import torch

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr, total_steps=total_steps, pct_start=pct_start,
                                                    div_factor=div_factor, final_div_factor=final_div_factor,
                                                    cycle_momentum=False)
        lrs = [opt.param_groups[0]["lr"]]
        for _ in range(total_steps - 1):
            opt.step()
            sched.step()
            lrs.append(opt.param_groups[0]["lr"])
    return np.array(lrs)


def one_cycle_lr(student, seed: int = 0) -> None:
    """Check ``one_cycle_lr(t, max_lr, total_steps, pct_start, div_factor, final_div_factor) -> float`` for
    every t in 0..total_steps - 1 against torch's OneCycleLR (cosine annealing, two phases)."""
    rng = np.random.default_rng(seed)
    configs = [(0.1, 100, 0.3, 25.0, 1e4), (1.0, 10, 0.25, 10.0, 100.0), (0.01, 7, 0.5, 5.0, 1e3)]
    for _ in range(9):
        configs.append((float(rng.uniform(1e-3, 1.0)), int(rng.integers(6, 120)), float(rng.uniform(0.1, 0.6)),
                        float(rng.choice([5.0, 25.0])), float(rng.choice([10.0, 1e4]))))
    cases = [(config,) for config in configs]

    def all_steps(config):
        max_lr, total, pct, div, final_div = config
        out = []
        for t in range(total):
            lr = student(t, max_lr, total, pct, div, final_div)
            if not isinstance(lr, (float, int, np.floating, np.integer)) and np.ndim(lr) != 0:
                raise _Contract(f"one_cycle_lr should return one number, got {describe(lr)} at t = {t}")
            out.append(float(lr))
        return np.array(out)

    _run("one_cycle_lr", student, all_steps, lambda config: _torch_one_cycle(*config), cases, rtol=1e-9, atol=1e-15,
         what="the learning rate at each step (index t)",
         arg_names=("(max_lr, total_steps, pct_start, div_factor, final_div_factor)",),
         hints=("Index t of the result is your lr at step t. Check three values by hand first: t = 0 "
                "(max_lr / div_factor), the end of the first phase (max_lr) and t = total_steps - 1 (the minimum).",
                "The first phase ends at the step pct_start * total_steps - 1, which need not be an integer; each "
                "phase's progress runs from 0 to 1 between its own start and end step, and both phases use the "
                "same cosine interpolation between their two rates. The minimum is the initial rate divided by "
                "final_div_factor."))


# ---- Task 4: the outcome -----------------------------------------------------------------------------
def digits_outcome(student, seed: int = 0) -> None:
    """Train with ``student(X_train, y_train, seed) -> model`` (a callable: images (N, 64) -> scores (N, 10))
    on the digits (the chapter's split, val_size=0.2) and require its validation accuracy to reach the
    target."""
    from .. import data
    from ..train import accuracy

    name = "train_digits"
    split = data.load_digits(val_size=0.2, seed=0)
    hints = ("Start from a learning rate that works with a constant schedule, then let one-cycle use it as "
             "its max_lr; count total_steps as epochs times minibatches per epoch.",
             "A hidden layer of 64 ReLUs, batches of 32 and about ten epochs are enough; a weight decay "
             "around 1e-2 does no harm. Write the new values into the model's own arrays (assign into the existing array, do not rebind the name).")
    model = call_student(name, student, split.X_train.astype(np.float64), split.y_train.copy(), seed)
    if not callable(model):
        raise CheckFailed(f"{name} should return the trained model (called on images, it gives scores), got "
                          f"{describe(model)}")
    scores = np.asarray(model(split.X_val.astype(np.float64)))
    if scores.shape != (len(split.y_val), 10):
        raise CheckFailed(f"{name}: the model's scores for {len(split.y_val)} images should have shape "
                          f"({len(split.y_val)}, 10), got {scores.shape}")
    check_outcome(name, accuracy(scores, split.y_val), DIGITS_TARGET, what="validation accuracy", hints=hints)

