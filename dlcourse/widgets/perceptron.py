"""The perceptron stepper of chapter 01: Rosenblatt's rule, one update at a time."""
from __future__ import annotations

import time

import numpy as np

from ..validate import check_array, check_float, check_int, check_same_length
from . import Explorer


class PerceptronState:
    """Rosenblatt's rule, one update at a time (the plain code behind :class:`PerceptronStepper`).

    Args:
        X: points (N, 2); y: labels (N,) in {0, 1}; lr: learning rate; seed: visiting order.

    Attributes:
        w: current weights (3,) = (w1, w2, bias); starts at zero.
        updates: number of updates so far; last: index of the point that caused the last update.
        converged: True once a whole pass over the data made no update.
    """

    def __init__(self, X, y, lr: float = 1.0, seed: int = 0):
        from ..perceptron import add_bias, to_signed

        X = check_array("X", X, shape=(None, 2), dtype_kind="fiu")
        y = check_array("y", y, ndim=1, dtype_kind="iub")
        check_same_length("X", X, "y", y)
        if not set(np.unique(y)) <= {0, 1}:
            raise ValueError(f"y must contain labels 0 and 1, got {sorted(set(np.unique(y)))}")
        self.X = X.astype(float)
        self.Xb = add_bias(self.X)                    # (N, 3)
        self.y = to_signed(y)                         # (N,) in {-1, +1}
        self.lr = check_float("lr", lr, 0.0, low_open=True)
        self.seed = check_int("seed", seed, 0)
        self.reset()

    def reset(self) -> None:
        self.w = np.zeros(3)
        self.updates, self.last, self.converged = 0, None, False
        self._rng = np.random.default_rng(self.seed)
        self._order, self._pos, self._clean_streak = self._rng.permutation(len(self.X)), 0, 0

    def misclassified(self) -> np.ndarray:
        """Boolean mask (N,) of the points with y * w.x <= 0."""
        return self.y * (self.Xb @ self.w) <= 0

    def step(self) -> bool:
        """Visit points in order until one update happens; return False if already converged."""
        from ..perceptron import perceptron_update

        while not self.converged:
            i = self._order[self._pos]
            self._pos += 1
            if self._pos == len(self._order):
                self._order, self._pos = self._rng.permutation(len(self.X)), 0
            w_new = perceptron_update(self.w, self.Xb[i], self.y[i], self.lr)
            if w_new is not self.w:
                self.w, self.updates, self.last, self._clean_streak = w_new, self.updates + 1, i, 0
                return True
            self._clean_streak += 1
            self.converged = self._clean_streak >= len(self.X)
        return False


class PerceptronStepper(Explorer):
    """Step through the perceptron rule: buttons *step*, *10 steps*, *reset*; a learning-rate slider.

    The figure shows the points, the current boundary w.x = 0, the misclassified points (circled) and
    the point of the last update (star).

    Args:
        X: points (N, 2); y: labels (N,) in {0, 1}; lr: initial learning rate; seed: visiting order.
    """

    def __init__(self, X, y, lr: float = 1.0, seed: int = 0):
        import ipywidgets as W

        self.state = PerceptronState(X, y, lr=lr, seed=seed)
        lr_slider = W.FloatLogSlider(value=lr, base=10, min=-3, max=2, step=0.25, description="lr",
                                     continuous_update=False)
        buttons = {"step": W.Button(description="step"), "step10": W.Button(description="10 steps"),
                   "reset": W.Button(description="reset")}
        super().__init__({"lr": lr_slider}, figsize=(4.8, 4.2), buttons=buttons)
        buttons["step"].on_click(lambda _: self.advance(1))
        buttons["step10"].on_click(lambda _: self.advance(10))
        buttons["reset"].on_click(lambda _: self.restart())
        self._setup_axes()
        self.result = self.state
        self.refresh()

    # the experiment -------------------------------------------------------------------------
    def compute(self, lr):
        """A learning-rate change restarts the rule from w = 0 with the new rate."""
        self.state.lr = lr
        self.state.reset()
        return self.state

    def advance(self, k: int = 1) -> None:
        """Perform up to ``k`` updates and redraw."""
        t0 = time.perf_counter()
        for _ in range(k):
            if not self.state.step():
                break
        self.result = self.state
        self.refresh(t0)

    def restart(self) -> None:
        self.update()

    # the precomputed explorer: the number of updates is a grid control too -----------------------
    def grid_controls(self) -> dict:
        from types import SimpleNamespace

        return {**self.controls, "updates": SimpleNamespace(description="updates", min=0, max=100_000)}

    def grid_values(self) -> dict:
        return {**self.values(), "updates": self.state.updates}

    def frame(self, lr=None, updates=None):
        """A copy of the state restarted at ``lr`` and advanced by ``updates`` updates (default: as now)."""
        import copy

        state = copy.copy(self.state)
        state.lr = self.state.lr if lr is None else float(lr)
        state.reset()
        for _ in range(self.state.updates if updates is None else int(updates)):
            if not state.step():
                break
        if not state.converged and not state.misclassified().any():
            state.step()                       # one clean pass (no update): the frame says "converged"
        return state

    # the picture ----------------------------------------------------------------------------
    def _setup_axes(self):
        from ..plots import CLASS_COLORS

        s = self.state
        self.ax = ax = self.fig.add_subplot()
        pad = 0.5
        (x0, y0), (x1, y1) = s.X.min(0) - pad, s.X.max(0) + pad
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.scatter(s.X[:, 0], s.X[:, 1], c=[CLASS_COLORS[int(v > 0)] for v in s.y], s=14,
                   edgecolors="k", linewidths=0.3)
        self._wrong = ax.scatter([], [], s=90, facecolors="none", edgecolors="red", linewidths=1.2)
        self._last = ax.scatter([], [], s=220, marker="*", c="gold", edgecolors="k", zorder=5)
        (self._line,) = ax.plot([], [], "k-", lw=2)
        self._xs = np.linspace(x0, x1, 2)

    def alt_text(self, state) -> str:
        wrong, n = int(state.misclassified().sum()), len(state.X)
        if state.updates == 0:
            return (f"{n} points of two classes before any update (w = 0, no boundary yet), learning rate "
                    f"{state.lr:.3g}: every point counts as misclassified")
        verdict = ("converged: the line separates the two classes" if state.converged
                   else f"{wrong} of {n} points still misclassified (circled)")
        updates = f"{state.updates} update" + ("s" if state.updates != 1 else "")
        return (f"Perceptron boundary after {updates} at learning rate {state.lr:.3g}, the point "
                f"of the last update starred: {verdict}")

    def draw(self, state) -> None:
        s = state
        w1, w2, b = s.w
        if abs(w2) > 1e-12:
            self._line.set_data(self._xs, -(w1 * self._xs + b) / w2)
        elif abs(w1) > 1e-12:
            self._line.set_data([-b / w1] * 2, list(self.ax.get_ylim()))
        else:
            self._line.set_data([], [])
        wrong = s.misclassified()
        self._wrong.set_offsets(s.X[wrong] if wrong.any() else np.empty((0, 2)))
        self._last.set_offsets(s.X[[s.last]] if s.last is not None else np.empty((0, 2)))
        verdict = "converged!" if s.converged else f"{int(wrong.sum())} misclassified"
        self.ax.set_title(f"{s.updates} updates, lr={s.lr:.3g}: {verdict}", fontsize=10)
        self.status.value = (f"w = ({w1:.2f}, {w2:.2f}), bias {b:.2f}. "
                             "Star: the point of the last update; circles: misclassified points.")
