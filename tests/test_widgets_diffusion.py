"""The forward-process explorer of chapter 10, driven as a student would: the slider "t" is moved by
assigning .value. Each move must change the noised digit, the figure and the SNR shown, and take at most a
second; a bad t gives a clear error."""
import numpy as np
import pytest

from dlcourse.diffusion import alpha_bar, linear_betas
from dlcourse.widgets import figure_png
from dlcourse.widgets.diffusion import DiffusionExplorer, noised_state


@pytest.fixture(scope="module")
def explorer():
    return DiffusionExplorer(t=1, T=100, seed=0)


def test_slider_is_labelled_t_and_starts_almost_clean(explorer):
    slider = explorer.controls["t"]
    assert slider.description == "t" and (slider.min, slider.max, slider.value) == (1, 100, 1)
    assert explorer.result.signal > 0.99 and explorer.result.snr > 100
    assert "SNR" in explorer.status.value


def test_moving_t_changes_the_picture_and_is_fast(explorer):
    times = []
    for t in (10, 50, 100):
        before_png, before = figure_png(explorer.fig), explorer.result
        explorer.controls["t"].value = t
        s = explorer.result
        assert s.t == t and s is not before
        assert not np.array_equal(s.digit, before.digit)
        assert figure_png(explorer.fig) != before_png
        np.testing.assert_array_equal(explorer.image.get_array(), s.digit)
        assert f"t = {t}" in explorer.status.value
        times.append(explorer.last_update_cpu_seconds)
    assert sorted(times)[1] <= 1.0, times
    explorer.controls["t"].value = 1


def test_state_follows_the_closed_form():
    ab = alpha_bar(linear_betas(100))
    snrs = [noised_state(t).snr for t in (1, 25, 50, 100)]
    assert all(a > b for a, b in zip(snrs, snrs[1:]))                    # SNR falls with t
    end = noised_state(100)
    assert end.signal == pytest.approx(np.sqrt(ab[-1])) and end.signal < 0.01
    assert abs(end.moons.mean()) < 0.15 and abs(end.moons.std() - 1) < 0.1   # x_T ~ N(0, I)


@pytest.mark.parametrize("t", [0, 101])
def test_bad_t_is_a_clear_error(t):
    with pytest.raises(ValueError, match="t must"):
        noised_state(t)
