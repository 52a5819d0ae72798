"""The rest of ``torch.optim.lr_scheduler``: the schedulers chapter 04 lists in a table but does not teach.

Written by hand (not exported): it completes the chapter's schedulers (``LRScheduler``, ``LambdaLR``,
``ExponentialLR``, ``CosineAnnealingLR``, ``LinearLR``, ``SequentialLR`` in :mod:`.schedulers`) so that
every scheduler of ``torch.optim.lr_scheduler`` the course uses has a NumPy twin, with PyTorch's names,
arguments and defaults; ``tests/test_numpy_optim.py`` compares each with ``torch.optim.lr_scheduler`` step
by step. Like the chapter's, each one computes the closed form of its schedule in ``lr_at(t)``.
"""
from __future__ import annotations

import bisect
import math

from ..validate import KeywordChecked, check_arg
from .schedulers import LRScheduler

__all__ = ["StepLR", "MultiStepLR", "OneCycleLR", "CyclicLR", "ReduceLROnPlateau"]


class StepLR(LRScheduler):
    """lr_t = base_lr * gamma ** floor(t / step_size): multiply by gamma every step_size steps."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        check_arg("step_size", step_size, isinstance(step_size, int) and step_size >= 1, "an int >= 1")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** (t // self.step_size)


class MultiStepLR(LRScheduler):
    """lr_t = base_lr * gamma ** (number of milestones <= t): multiply by gamma at each milestone."""

    def __init__(self, optimizer, milestones, gamma=0.1):
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** bisect.bisect_right(self.milestones, t)


def _set_momentum(optimizer, momentum):
    """Set the 'momentum' of SGD/RMSprop, or beta1 of Adam(W), as OneCycleLR and CyclicLR cycle it."""
    if hasattr(optimizer, "betas"):
        optimizer.betas = (momentum, optimizer.betas[1])
    else:
        optimizer.momentum = momentum


def _check_momentum_optimizer(optimizer, cycle_momentum):
    if cycle_momentum and not hasattr(optimizer, "momentum") and not hasattr(optimizer, "betas"):
        raise ValueError(f"cycle_momentum=True needs an optimizer with momentum or betas, "
                         f"not {type(optimizer).__name__}; pass cycle_momentum=False")


class OneCycleLR(LRScheduler):
    """The one-cycle policy (Smith & Topin, 2019), as torch.optim.lr_scheduler.OneCycleLR.

    From initial = max_lr / div_factor up to max_lr during the first pct_start of total_steps, then down
    to initial / final_div_factor (three_phase: up, back down to initial, then down to the minimum).
    Phases end at steps pct_start * total_steps - 1 (2 * pct_start * total_steps - 2) and total_steps - 1;
    within a phase from a to b, at fraction p of it: cos: b + (a - b) (1 + cos(pi p)) / 2; linear:
    a + (b - a) p. With cycle_momentum, the momentum (beta1 for Adam) goes the opposite way,
    max_momentum -> base_momentum -> max_momentum.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR needs total_steps, or epochs and steps_per_epoch")
            check_arg("epochs", epochs, isinstance(epochs, int) and epochs > 0, "a positive int")
            check_arg("steps_per_epoch", steps_per_epoch, isinstance(steps_per_epoch, int) and steps_per_epoch > 0,
                   "a positive int")
            total_steps = epochs * steps_per_epoch
        check_arg("total_steps", total_steps, isinstance(total_steps, int) and total_steps > 0, "a positive int")
        check_arg("pct_start", pct_start, isinstance(pct_start, float) and 0 <= pct_start <= 1, "a float in [0, 1]")
        check_arg("anneal_strategy", anneal_strategy, anneal_strategy in ("cos", "linear"), "'cos' or 'linear'")
        _check_momentum_optimizer(optimizer, cycle_momentum)
        self.total_steps, self.anneal_strategy, self.cycle_momentum = total_steps, anneal_strategy, cycle_momentum
        initial = max_lr / div_factor
        lo, hi = initial / final_div_factor, max_lr
        if three_phase:
            self.phases = [(pct_start * total_steps - 1, initial, hi, max_momentum, base_momentum),
                           (2 * pct_start * total_steps - 2, hi, initial, base_momentum, max_momentum),
                           (total_steps - 1, initial, lo, max_momentum, max_momentum)]
        else:
            self.phases = [(pct_start * total_steps - 1, initial, hi, max_momentum, base_momentum),
                           (total_steps - 1, hi, lo, base_momentum, max_momentum)]
        optimizer.initial_lr = initial            # as PyTorch, which overwrites the base lr
        if cycle_momentum:
            _set_momentum(optimizer, max_momentum)
        super().__init__(optimizer)

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _lr_and_momentum(self, t):
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR was stepped {t} times but its total_steps is {self.total_steps}")
        start = 0.0
        for i, (end, lr_a, lr_b, m_a, m_b) in enumerate(self.phases):
            if t <= end or i == len(self.phases) - 1:
                pct = (t - start) / (end - start)
                return self._anneal(lr_a, lr_b, pct), self._anneal(m_a, m_b, pct)
            start = end

    def lr_at(self, t):
        return self._lr_and_momentum(t)[0]

    def step(self):
        super().step()
        if self.cycle_momentum:
            _set_momentum(self.optimizer, self._lr_and_momentum(self.last_epoch)[1])


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith, 2017), as torch.optim.lr_scheduler.CyclicLR.

    A triangle between base_lr and max_lr, step_size_up steps up and step_size_down (default: the
    same) down. mode 'triangular2' halves the height every cycle, 'exp_range' multiplies it by
    gamma ** t, or give your own scale_fn. With cycle_momentum, momentum goes the opposite way.

        cycle = floor(1 + t / (up + down)),  x = 1 + t / (up + down) - cycle      (position in the cycle)
        h = x / r if x <= r else (x - 1) / (r - 1),  with r = up / (up + down)
        lr_t = base_lr + (max_lr - base_lr) * h * scale_fn(cycle or t)
    """

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular",
                 gamma=1.0, scale_fn=None, scale_mode="cycle", cycle_momentum=True, base_momentum=0.8,
                 max_momentum=0.9):
        if scale_fn is None:
            check_arg("mode", mode, mode in ("triangular", "triangular2", "exp_range"),
                   "'triangular', 'triangular2' or 'exp_range'")
            scale_fn, scale_mode = {"triangular": (lambda x: 1.0, "cycle"),
                                    "triangular2": (lambda x: 1 / 2.0 ** (x - 1), "cycle"),
                                    "exp_range": (lambda x: gamma ** x, "iterations")}[mode]
        _check_momentum_optimizer(optimizer, cycle_momentum)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size, self.step_ratio = up + down, up / (up + down)
        self.max_lr, self.mode, self.gamma, self.scale_fn, self.scale_mode = max_lr, mode, gamma, scale_fn, scale_mode
        self.cycle_momentum, self.base_momentum, self.max_momentum = cycle_momentum, base_momentum, max_momentum
        optimizer.lr = base_lr
        if cycle_momentum:
            _set_momentum(optimizer, max_momentum)
        super().__init__(optimizer)
        self.base_lr = base_lr

    def _height(self, t):
        cycle = math.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle
        h = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        return h * self.scale_fn(cycle if self.scale_mode == "cycle" else t)

    def lr_at(self, t):
        return self.base_lr + (self.max_lr - self.base_lr) * self._height(t)

    def step(self):
        super().step()
        if self.cycle_momentum:
            m = self.max_momentum - (self.max_momentum - self.base_momentum) * self._height(self.last_epoch)
            _set_momentum(self.optimizer, m)


class ReduceLROnPlateau(KeywordChecked):
    """Multiply the lr by ``factor`` when a metric has stopped improving, as
    torch.optim.lr_scheduler.ReduceLROnPlateau. Call ``step(metrics)`` after each evaluation.

    "Improving" (mode 'min', threshold_mode 'rel'): metric < best * (1 - threshold); 'abs': metric <
    best - threshold; mode 'max' mirrors both. After more than ``patience`` steps without improvement the
    lr is reduced (never below ``min_lr``; changes smaller than ``eps`` are skipped), then ``cooldown``
    steps are ignored.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0, eps=1e-8):
        if not isinstance(getattr(optimizer, "params", None), dict):     # ours (not torch's), as LRScheduler
            raise TypeError(f"ReduceLROnPlateau needs a numpy_optim optimizer, got {type(optimizer).__name__}")
        check_arg("factor", factor, factor < 1.0, "< 1")
        check_arg("mode", mode, mode in ("min", "max"), "'min' or 'max'")
        check_arg("threshold_mode", threshold_mode, threshold_mode in ("rel", "abs"), "'rel' or 'abs'")
        self.optimizer, self.mode, self.factor, self.patience = optimizer, mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown, self.min_lr, self.eps = (
            threshold, threshold_mode, cooldown, min_lr, eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs, self.cooldown_counter, self.last_epoch = 0, 0, 0

    def is_better(self, a, best):
        if self.mode == "min":
            return a < best * (1 - self.threshold) if self.threshold_mode == "rel" else a < best - self.threshold
        return a > best * (1 + self.threshold) if self.threshold_mode == "rel" else a > best + self.threshold

    def step(self, metrics):
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:             # in cooldown: bad steps do not count
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new_lr = max(self.optimizer.lr * self.factor, self.min_lr)
            if self.optimizer.lr - new_lr > self.eps:
                self.optimizer.lr = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def get_last_lr(self):
        return [self.optimizer.lr]
