"""Widgets driven as a student would: buttons clicked, sliders moved; the figure must change fast."""
import numpy as np
import pytest

from dlcourse import data
from dlcourse.widgets import PerceptronState, PerceptronStepper, figure_png


@pytest.fixture
def stepper():
    toy = data.make_toy("linear", n=200, seed=0)
    return PerceptronStepper(toy.X_train, toy.y_train, lr=1.0, seed=0)


def test_step_button_moves_the_boundary_and_redraws_quickly(stepper):
    before_png, before_w = figure_png(stepper.fig), stepper.state.w.copy()
    stepper.buttons["step"].click()
    assert stepper.state.updates == 1 and not np.array_equal(stepper.state.w, before_w)
    assert figure_png(stepper.fig) != before_png
    assert stepper.last_update_cpu_seconds <= 0.3, stepper.last_update_cpu_seconds
    stepper.buttons["step10"].click()
    assert stepper.state.updates > 1
    assert "updates" in stepper.ax.get_title()


def test_stepping_until_convergence_separates_the_data(stepper):
    for _ in range(100):
        stepper.buttons["step10"].click()
        if stepper.state.converged:
            break
    assert stepper.state.converged and not stepper.state.misclassified().any()
    assert "converged" in stepper.ax.get_title()
    assert stepper.last_update_cpu_seconds <= 0.3


def test_reset_and_learning_rate_slider_restart_from_zero(stepper):
    stepper.buttons["step10"].click()
    stepper.controls["lr"].value = 10.0
    assert stepper.state.updates == 0 and stepper.state.lr == 10.0 and not stepper.state.w.any()
    stepper.buttons["step"].click()
    stepper.buttons["reset"].click()
    assert stepper.state.updates == 0


def test_state_rejects_bad_input():
    with pytest.raises(ValueError, match=r"X must have shape \(N, 2\)"):
        PerceptronState(np.zeros((4, 3)), np.zeros(4, int))
    with pytest.raises(ValueError, match="y must contain labels 0 and 1"):
        PerceptronState(np.zeros((4, 2)), np.array([0, 1, 2, 1]))
    with pytest.raises(ValueError, match="lr must be in"):
        PerceptronState(np.zeros((4, 2)), np.array([0, 1, 0, 1]), lr=0)
