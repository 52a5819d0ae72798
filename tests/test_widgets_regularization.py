"""The dropout explorer of chapter 05, driven as a student would: sliders moved by assigning .value. Each
move must retrain for real, change the history and the figure, and take at most a second; extreme
settings must produce a clear message, not an exception."""
import numpy as np
import pytest

from dlcourse.widgets import figure_png
from dlcourse.widgets.regularization import MAX_TRAIN, MIN_TRAIN, DropoutExplorer, dropout_message, dropout_run


@pytest.fixture(scope="module")
def explorer():
    return DropoutExplorer(p=0.5, width=256, n_train=200, seed=0)


def test_initial_state_shows_a_real_run(explorer):
    run = explorer.result
    assert (run.p, run.width, run.n_train) == (0.5, 256, 200)
    assert run.steps[-1] == 600 and len(run.steps) == len(run.train_loss) == len(run.test_acc) == 12
    assert run.train_acc[-1] > 0.95 and run.test_acc[-1] > 0.85          # it really trained
    assert "test loss - train loss" in explorer.status.value
    assert "loss: test - train" in explorer.ax_loss.get_title()


def test_each_slider_retrains_changes_the_figure_and_is_fast(explorer):
    times = []
    for name, value in [("p", 0.0), ("width", 64), ("n_train", 400)]:
        before_png, before_run = figure_png(explorer.fig), explorer.result
        explorer.controls[name].value = value
        run = explorer.result
        assert run is not before_run and getattr(run, name) == value
        assert not np.array_equal(run.test_loss, before_run.test_loss)
        assert figure_png(explorer.fig) != before_png
        line = explorer.lines["test", "loss"]
        assert np.array_equal(line.get_ydata(), run.test_loss)
        times.append(explorer.last_update_cpu_seconds)   # the work, not the machine's load
    # a fresh training run plus redraw; the median of three guards against one hiccup of a busy machine
    assert sorted(times)[1] <= 1.0, times
    assert max(times) <= 2.0, times
    explorer.controls["p"].value = 0.5
    explorer.controls["width"].value = 256
    explorer.controls["n_train"].value = 200


def test_dropout_shrinks_the_gap_in_the_widget(explorer):
    explorer.controls["p"].value = 0.0
    gap_without = explorer.result.loss_gap
    explorer.controls["p"].value = 0.5
    gap_with = explorer.result.loss_gap
    assert gap_with < gap_without
    assert f"{gap_with:.3f}" in explorer.ax_loss.get_title()


def test_returning_to_a_setting_uses_the_cached_real_run(explorer):
    explorer.controls["p"].value = 0.25
    first = explorer.result
    explorer.controls["p"].value = 0.5
    explorer.controls["p"].value = 0.25
    assert explorer.result is first
    assert explorer.last_update_cpu_seconds < 0.5


def test_extreme_dropout_gives_a_clear_message(explorer):
    explorer.controls["p"].value = 0.9
    assert explorer.result.p == 0.9
    assert "underfits" in explorer.status.value and "only 10% of the hidden units" in explorer.status.value
    assert np.isfinite(explorer.result.train_loss).all()
    explorer.controls["p"].value = 0.5


def test_smallest_training_set_gives_a_clear_message(explorer):
    explorer.controls["n_train"].value = explorer.controls["n_train"].min
    assert explorer.result.n_train == MIN_TRAIN
    assert f"Only {MIN_TRAIN} training images" in explorer.status.value
    assert "digit classes present" in explorer.status.value
    explorer.controls["n_train"].value = 200


def test_slider_ranges_match_the_experiment(explorer):
    p, width, n = (explorer.controls[k] for k in ("p", "width", "n_train"))
    assert (p.min, p.max) == (0.0, 0.9)
    assert (n.min, n.max) == (MIN_TRAIN, MAX_TRAIN)
    assert list(width.options) == list(DropoutExplorer.WIDTHS)


def test_dropout_run_is_deterministic_and_validates():
    a = dropout_run(p=0.5, width=32, n_train=50, seed=3, steps=100, eval_every=25)
    b = dropout_run(p=0.5, width=32, n_train=50, seed=3, steps=100, eval_every=25)
    assert np.array_equal(a.test_loss, b.test_loss) and list(a.steps) == [25, 50, 75, 100]
    c = dropout_run(p=0.5, width=32, n_train=50, seed=4, steps=100, eval_every=25)
    assert not np.array_equal(a.test_loss, c.test_loss)
    assert a.model.training is False
    acc = np.mean(a.model(np.asarray(_test_images()[0], np.float32)).argmax(1) == _test_images()[1])
    assert acc == pytest.approx(a.test_acc[-1])
    with pytest.raises(ValueError, match=r"p must be in \[0.0, 1.0\)"):
        dropout_run(p=1.0)
    with pytest.raises(ValueError, match=f"n_train must be >= {MIN_TRAIN}"):
        dropout_run(n_train=MIN_TRAIN - 1)
    with pytest.raises(ValueError, match=f"n_train must be <= {MAX_TRAIN}"):
        dropout_run(n_train=MAX_TRAIN + 1)
    with pytest.raises(ValueError, match="width must be one of"):
        DropoutExplorer(width=100)
    assert "p = 0.50" in dropout_message(a)


def _test_images():
    from dlcourse import data

    d = data.load_digits(val_size=0.2, seed=0)
    return d.X_test, d.y_test
