"""The gridworld explorer of chapter 15: the discount factor and the exploration rate epsilon on a small
gridworld, showing value iteration's value map and greedy policy beside what tabular Q-learning learns.

:func:`gridworld_view` is the experiment (plain code, no widgets); :class:`GridworldExplorer` is the thin
shell that calls it when a slider moves (value iteration and 30,000 Q-learning steps: a few tenths of a
second).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..rl import MOVES, GridWorld, greedy_policy, gridworld, q_learning, value_iteration
from ..validate import check_float, check_int
from . import Explorer

__all__ = ["GridworldView", "gridworld_view", "GridworldExplorer", "EXPLORER_LAYOUT", "MAX_DISCOUNT"]

#: the explorer's world: '.' free, '#' wall, '+' goal (+1), '-' pit (-1); every move costs 0.04
EXPLORER_LAYOUT = ("....#+",
                   ".##...",
                   "...#.-",
                   ".#....")
#: largest discount the slider offers (value iteration converges for any discount below 1)
MAX_DISCOUNT = 0.99


@dataclass
class GridworldView:
    """Value iteration and Q-learning on one world. ``U`` (S,), ``policy`` (S,): value iteration's optimal
    values and greedy actions; ``Q_learned`` (S, A), ``policy_learned`` (S,): Q-learning's; ``disagree``
    (S,) bool: non-terminal states where the two greedy actions differ."""

    discount: float
    epsilon: float
    world: GridWorld
    U: np.ndarray
    policy: np.ndarray
    iterations: int
    Q_learned: np.ndarray
    policy_learned: np.ndarray
    disagree: np.ndarray

    @property
    def agreement(self) -> float:
        """Fraction of non-terminal states where Q-learning's greedy action is value iteration's."""
        free = ~self.world.terminal
        return 1.0 - self.disagree[free].mean()


def gridworld_view(discount: float, epsilon: float, layout=EXPLORER_LAYOUT, steps: int = 30_000,
                   seed: int = 0) -> GridworldView:
    """Solve ``layout`` by value iteration at ``discount`` and run ``steps`` steps of Q-learning with
    exploration rate ``epsilon`` (seeded: the same arguments give the same view)."""
    discount = check_float("discount", discount, 0.0, 1.0, high_open=True)
    epsilon = check_float("epsilon", epsilon, 0.0, 1.0)
    check_int("steps", steps, 1)
    world = gridworld(layout)
    U, Q, iterations = value_iteration(world.P, world.R, gamma=discount)
    Q_learned = q_learning(world, discount, steps, epsilon=epsilon, rng=np.random.default_rng(seed))
    policy, policy_learned = greedy_policy(Q), greedy_policy(Q_learned)
    top2 = np.sort(Q, 1)[:, -2:]
    tie = top2[:, 1] - top2[:, 0] < 1e-9                          # both actions optimal: no disagreement
    disagree = (policy != policy_learned) & ~world.terminal & ~tie
    return GridworldView(discount, epsilon, world, U, policy, iterations, Q_learned, policy_learned, disagree)


def gridworld_message(view: GridworldView) -> str:
    """One sentence on the current view (the widget's status line)."""
    free = ~view.world.terminal
    return (f"discount = {view.discount:.2f}: value iteration converged in {view.iterations} backups; "
            f"Q-learning with epsilon = {view.epsilon:.2f} agrees with its greedy action in "
            f"{int(free.sum() - view.disagree.sum())} of {int(free.sum())} states.")


def _draw_world(ax, world, U, policy, marked, title):
    from matplotlib.patches import Circle

    ax.imshow(world.to_grid(U), cmap="RdYlGn", vmin=-1, vmax=1)
    walls = np.array([[c == "#" for c in row] for row in world.layout], dtype=float)
    ax.imshow(np.where(walls > 0, 1.0, np.nan), cmap="Greys", vmin=0, vmax=1.2)
    for s, (i, j) in enumerate(world.cells):
        if world.terminal[s]:
            ax.text(j, i, world.layout[i][j], ha="center", va="center", fontsize=14, weight="bold")
            continue
        di, dj = MOVES[policy[s]] * 0.3
        ax.arrow(j - dj / 2, i - di / 2, dj, di, head_width=0.12, color="k")
        ax.text(j, i + 0.38, f"{U[s]:.2f}", ha="center", fontsize=6)
        if marked[s]:
            ax.add_patch(Circle((j, i), 0.45, fill=False, color="C3", lw=2))
    ax.set(xticks=[], yticks=[])
    ax.set_title(title, fontsize=9)


class GridworldExplorer(Explorer):
    """Sliders for the discount and epsilon; each change solves the gridworld by value iteration, runs
    Q-learning (:func:`gridworld_view`) and redraws both value maps with their greedy policies.

    Args:
        discount, epsilon: initial slider values.
        layout: the world drawn as strings (default :data:`EXPLORER_LAYOUT`).
        steps: Q-learning steps per update.
    """

    def __init__(self, discount: float = 0.9, epsilon: float = 0.2, layout=EXPLORER_LAYOUT, steps: int = 30_000):
        import ipywidgets as W

        check_float("discount", discount, 0.0, MAX_DISCOUNT)
        check_float("epsilon", epsilon, 0.0, 1.0)
        self.layout, self.steps = tuple(layout), check_int("steps", steps, 1)
        gridworld(self.layout)                                    # fail early on a bad drawing
        controls = {
            "discount": W.FloatSlider(value=discount, min=0.0, max=MAX_DISCOUNT, step=0.01, readout_format=".2f",
                                      description="discount", continuous_update=False),
            "epsilon": W.FloatSlider(value=epsilon, min=0.0, max=1.0, step=0.05, readout_format=".2f",
                                     description="epsilon", continuous_update=False),
        }
        super().__init__(controls, figsize=(9, 3.2))
        self.axes = self.fig.subplots(1, 2)
        self.fig.subplots_adjust(left=0.02, right=0.98, bottom=0.03, top=0.88, wspace=0.08)
        self.update()

    def compute(self, discount, epsilon):
        return gridworld_view(discount, epsilon, self.layout, self.steps)

    def draw(self, view: GridworldView) -> None:
        for ax in self.axes:
            ax.clear()
        none = np.zeros(len(view.U), bool)
        _draw_world(self.axes[0], view.world, view.U, view.policy, none,
                    f"value iteration: U* and greedy policy (discount {view.discount:.2f})")
        _draw_world(self.axes[1], view.world, view.Q_learned.max(1), view.policy_learned, view.disagree,
                    f"Q-learning, epsilon {view.epsilon:.2f}: {int(view.disagree.sum())} cells differ (circled)")
        self.status.value = gridworld_message(view)

    def alt_text(self, result: GridworldView) -> str:
        """What the current figure shows, with its values (for readers who cannot see it)."""
        free = ~result.world.terminal
        rows, cols = result.world.shape
        return (f"Two value maps of a {rows}x{cols} gridworld with a +1 goal and a -1 pit, arrows showing the "
                f"greedy action in each cell. Left, value iteration at discount {result.discount:.2f}: values "
                f"from {result.U[free].min():.2f} to {result.U[free].max():.2f}, highest next to the goal. "
                f"Right, Q-learning after {self.steps} steps with epsilon {result.epsilon:.2f}: its greedy action "
                f"differs from value iteration's in {int(result.disagree.sum())} of {int(free.sum())} cells.")
