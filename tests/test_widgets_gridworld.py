"""The gridworld explorer of chapter 15, driven as a student would: the discount and epsilon sliders moved
by assigning .value. Each move must recompute, change the figure and take at most a second; value iteration's
policy must be what the plain function computes; without exploration Q-learning disagrees more."""
import time

import numpy as np
import pytest

from dlcourse.rl import gridworld, value_iteration
from dlcourse.widgets import figure_png
from dlcourse.widgets.gridworld import EXPLORER_LAYOUT, MAX_DISCOUNT, GridworldExplorer, gridworld_view


@pytest.fixture(scope="module")
def explorer():
    t0 = time.process_time()
    e = GridworldExplorer(discount=0.9, epsilon=0.2)
    assert time.process_time() - t0 < 5, "the explorer must build fast"
    return e


def test_gridworld_view():
    v = gridworld_view(0.9, 0.2)
    w = gridworld(EXPLORER_LAYOUT)
    U, _, _ = value_iteration(w.P, w.R, gamma=0.9)
    assert np.allclose(v.U, U) and v.Q_learned.shape == (len(w.cells), 4)
    assert v.agreement > 0.85                                   # enough exploration: nearly every state agrees
    lazy = gridworld_view(0.9, 0.0)
    assert lazy.disagree.sum() > v.disagree.sum()               # no exploration: it misses actions
    short = gridworld_view(0.1, 0.2)
    assert short.U.max() < v.U.max()                            # discounting shrinks the value of the goal
    with pytest.raises(ValueError, match="discount"):
        gridworld_view(1.0, 0.2)
    with pytest.raises(ValueError, match="epsilon"):
        gridworld_view(0.9, -0.1)


def test_sliders_change_the_figure_and_are_fast(explorer):
    discount, epsilon = explorer.controls["discount"], explorer.controls["epsilon"]
    assert discount.description == "discount" and epsilon.description == "epsilon"
    assert discount.max == MAX_DISCOUNT
    before = figure_png(explorer.fig)
    for value in (0.5, 0.99, 0.2):
        discount.value = value
        assert explorer.result.discount == pytest.approx(value)
        assert explorer.last_update_cpu_seconds < 1.0
    assert figure_png(explorer.fig) != before
    before = figure_png(explorer.fig)
    epsilon.value = 0.0
    assert explorer.result.epsilon == 0.0 and explorer.last_update_cpu_seconds < 1.0
    assert figure_png(explorer.fig) != before
    assert "discount = 0.20" in explorer.status.value and "epsilon = 0.00" in explorer.status.value


def test_alt_text_describes_the_values(explorer):
    explorer.controls["discount"].value = 0.9
    text = explorer.alt_text(explorer.result)
    assert "discount 0.90" in text and f"epsilon {explorer.result.epsilon:.2f}" in text
    assert f"{explorer.result.U[~explorer.result.world.terminal].max():.2f}" in text


def test_bad_arguments():
    with pytest.raises(ValueError, match="discount"):
        GridworldExplorer(discount=1.5)
    with pytest.raises(ValueError, match="epsilon"):
        GridworldExplorer(epsilon=2.0)
    with pytest.raises(ValueError, match="layout"):
        GridworldExplorer(layout=["..", "."])
