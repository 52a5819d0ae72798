"""The epsilon explorer of chapter 13, driven as a student would: the slider moved by assigning .value.
Each move must re-attack, change the figure and take at most a second; epsilon 0 changes nothing; a large
epsilon fools the network; the default model (a small digits CNN) trains and caches in a few seconds."""
import time

import numpy as np
import pytest
import torch

from dlcourse.widgets import figure_png
from dlcourse.widgets.adversarial import MAX_EPSILON, EpsilonExplorer, default_digits_model, epsilon_view


@pytest.fixture(scope="module")
def explorer():
    t0 = time.process_time()
    e = EpsilonExplorer(epsilon=0.0)
    assert time.process_time() - t0 < 5, "the default explorer must build fast"
    return e


def test_default_model_is_accurate_and_cached():
    model, images, labels = default_digits_model()
    assert default_digits_model()[0] is model
    assert images.shape[1:] == (1, 8, 8) and (model(images).argmax(1) == labels).float().mean() > 0.9


def test_epsilon_view():
    model, images, labels = default_digits_model()
    v0 = epsilon_view(model, images[0], labels[0], 0.0)
    assert np.array_equal(v0.attacked, v0.image) and np.allclose(v0.probs, v0.probs_clean) and not v0.fooled
    for method in ("fgsm", "pgd"):
        v = epsilon_view(model, images[0], labels[0], 0.1, method)
        assert np.abs(v.perturbation).max() <= 0.1 + 1e-6 and np.isclose(v.probs.sum(), 1, atol=1e-5)
    fooled = [epsilon_view(model, images[i], labels[i], 0.3, "pgd").fooled for i in range(20)]
    assert np.mean(fooled) > 0.8
    with pytest.raises(ValueError, match="method"):
        epsilon_view(model, images[0], labels[0], 0.1, "bim")
    with pytest.raises(ValueError, match="epsilon"):
        epsilon_view(model, images[0], labels[0], -0.1)


def test_slider_changes_the_figure_and_is_fast(explorer):
    slider = explorer.controls["epsilon"]
    assert slider.description == "epsilon" and slider.max == MAX_EPSILON
    before = figure_png(explorer.fig)
    for value in (0.05, 0.15, 0.3):
        slider.value = value
        assert explorer.result.epsilon == pytest.approx(value)
        assert explorer.last_update_cpu_seconds < 1.0
    assert figure_png(explorer.fig) != before
    assert "epsilon = 0.300" in explorer.status.value
    explorer.controls["method"].value = "pgd"
    assert explorer.result.method == "pgd" and explorer.last_update_cpu_seconds < 1.0
    explorer.controls["index"].value = 3
    assert explorer.result.label == int(default_digits_model()[2][3])


def test_bad_arguments():
    with pytest.raises(ValueError, match="index"):
        EpsilonExplorer(index=10_000)
    with pytest.raises(ValueError, match="epsilon"):
        EpsilonExplorer(epsilon=2.0)
