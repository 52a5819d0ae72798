"""Rprop (Riedmiller & Braun, 1993) as ``torch.optim.Rprop``: the sign-based optimizer of chapter 04.

Written by hand (not exported): chapter 04 shows the idea (steps that depend on the sign of the gradient,
not its size) with sign-SGD in a few lines and uses this class; its exercises ask for Rprop's step as a
function. ``tests/test_numpy_optim.py`` compares it with ``torch.optim.Rprop`` step by step.
"""
from __future__ import annotations

import numpy as np

from ..validate import check_arg
from .optimizers import Optimizer

__all__ = ["Rprop"]


class Rprop(Optimizer):
    r"""Rprop as torch.optim.Rprop: every coordinate has its own step size s (lr at the start). When the
    gradient keeps its sign, s *= etaplus; when it flips, s *= etaminus and this step is skipped (the stored
    gradient is set to 0, so the next step counts as "no sign information"); s is clipped to step_sizes.
    theta <- theta - sign(g) * s: the size of the gradient never enters the step."""

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, maximize=False):
        super().__init__(params, lr)
        check_arg("etas", etas, isinstance(etas, (tuple, list)) and len(etas) == 2 and 0 < etas[0] < 1 < etas[1],
                  "a pair (etaminus, etaplus) with 0 < etaminus < 1 < etaplus")
        check_arg("step_sizes", step_sizes, isinstance(step_sizes, (tuple, list)) and len(step_sizes) == 2
                  and 0 <= step_sizes[0] <= step_sizes[1], "a pair (min, max) with 0 <= min <= max")
        self.etas, self.step_sizes, self.maximize = tuple(etas), tuple(step_sizes), maximize

    def _update(self, p, g, state):
        etaminus, etaplus = self.etas
        prev = state.setdefault("prev", np.zeros_like(p))
        step_size = state.setdefault("step_size", np.full_like(p, self.lr))
        same = np.sign(g * prev)                                  # +1 kept its sign, -1 flipped, 0 unknown
        factor = np.where(same > 0, etaplus, np.where(same < 0, etaminus, 1.0))
        step_size *= factor
        np.clip(step_size, *self.step_sizes, out=step_size)
        g = np.where(factor == etaminus, 0.0, g)                  # after a sign flip: no step this time
        p -= np.sign(g) * step_size
        prev[...] = g
