"""The detection explorer of chapter 08, driven as a student would: sliders moved by assigning .value.
Each move re-thresholds stored detector outputs (no retraining), changes the result and the figure and
takes well under a second; the plain function agrees with dlcourse.detection; bad arguments are refused.

The outputs are made from the true targets of the test shapes (noisy objectness, a lower-scored copy of
some boxes in the next cell) so that the test needs no training."""
import numpy as np
import pytest
import torch

from dlcourse import data
from dlcourse.detection import GridDetector, detect, encode_grid, precision_recall
from dlcourse.widgets import figure_png
from dlcourse.widgets.detection import CONF_MIN, DetectionExplorer, detection_figure, detection_view


@pytest.fixture(scope="module")
def shapes_test():
    return data.shapes(n=500, seed=2)


@pytest.fixture(scope="module")
def outputs(shapes_test):
    t, _ = encode_grid(shapes_test.boxes, shapes_test.labels)
    p = t.clamp(1e-4, 1 - 1e-4)
    out = torch.log(p / (1 - p))                                     # logits that decode to the targets
    g = torch.Generator().manual_seed(0)
    out[:, 0] = torch.where(t[:, 0] == 1, 2.0, -4.5) + 1.2 * torch.randn(out[:, 0].shape, generator=g)
    out[:, 5:] = 5 * t[:, 5:] + torch.randn(out[:, 5:].shape, generator=g)
    dup = (t[:, 0, :, :-1] == 1) & (t[:, 0, :, 1:] == 0)               # a duplicate in the empty cell to the right
    right = out[:, :, :, 1:]
    for c in range(out.shape[1]):
        right[:, c][dup] = out[:, c, :, :-1][dup]
    right[:, 1][dup] = -4.0                                          # its centre at that cell's left edge
    right[:, 0][dup] -= 1.0                                          # and a lower score
    return out


@pytest.fixture(scope="module")
def explorer(outputs, shapes_test):
    return DetectionExplorer(outputs, shapes_test, conf_threshold=0.5, iou_threshold=0.5)


def test_initial_state_measures_the_stored_outputs(explorer, outputs, shapes_test):
    view = explorer.result
    assert (view.conf_threshold, view.iou_threshold) == (0.5, 0.5) and len(view.shown) == 4
    p, r = precision_recall(detect(outputs, 0.5, 0.5), shapes_test.boxes, 0.5, 0.5, shapes_test.labels)
    assert (view.precision, view.recall) == (pytest.approx(p), pytest.approx(r))
    assert view.n_detections == sum(len(b) for b, _, _ in detect(outputs, 0.5, 0.5))
    assert 0.5 < view.precision < 1 and 0.5 < view.recall < 1 and 0.4 < view.ap < 1
    assert f"precision {view.precision:.2f}" in explorer.status.value
    assert np.all(np.diff(view.curve_scores) <= 0) and view.curve_scores.min() >= CONF_MIN


def test_each_slider_changes_the_result_and_the_figure_quickly(explorer):
    times = []
    for name, value in [("conf_threshold", 0.2), ("iou_threshold", 0.9), ("conf_threshold", 0.8),
                        ("iou_threshold", 0.3)]:
        before_png, before = figure_png(explorer.fig), explorer.result
        explorer.controls[name].value = value
        view = explorer.result
        assert view is not before and getattr(view, name) == pytest.approx(value)
        measured = (view.precision, view.recall, view.n_detections)
        assert measured != (before.precision, before.recall, before.n_detections)
        assert figure_png(explorer.fig) != before_png
        times.append(explorer.last_update_cpu_seconds)   # the work, not the machine's load
    assert sorted(times)[len(times) // 2] <= 1.0, times
    assert max(times) <= 2.0, times
    explorer.controls["conf_threshold"].value = 0.5
    explorer.controls["iou_threshold"].value = 0.5


def test_thresholds_move_precision_and_recall_the_expected_way(explorer):
    views = {}
    for conf in (0.1, 0.5, 0.9):
        explorer.controls["conf_threshold"].value = conf
        views[conf] = explorer.result
    assert views[0.1].recall > views[0.5].recall > views[0.9].recall
    assert views[0.1].precision < views[0.9].precision
    assert views[0.1].n_detections > views[0.5].n_detections > views[0.9].n_detections
    explorer.controls["conf_threshold"].value = 0.5
    explorer.controls["iou_threshold"].value = 1.0                   # no suppression: duplicates come back
    no_nms = explorer.result
    explorer.controls["iou_threshold"].value = 0.5
    assert no_nms.n_detections > explorer.result.n_detections and no_nms.precision < explorer.result.precision


def test_returning_to_an_iou_threshold_reuses_its_nms(explorer):
    explorer.controls["iou_threshold"].value = 0.7
    explorer.controls["iou_threshold"].value = 0.5
    assert explorer.last_update_cpu_seconds < 0.5
    assert 0.7 in explorer._by_iou and 0.5 in explorer._by_iou


def test_plain_function_and_static_figure_agree_with_the_widget(explorer, outputs, shapes_test):
    explorer.controls["conf_threshold"].value = 0.3
    view = detection_view(outputs, shapes_test, conf_threshold=0.3, iou_threshold=0.5)
    assert (view.precision, view.recall, view.ap, view.n_detections) == (
        explorer.result.precision, explorer.result.recall, explorer.result.ap, explorer.result.n_detections)
    for (b1, s1, l1), (b2, s2, l2) in zip(view.shown, explorer.result.shown):
        assert torch.equal(b1, b2) and torch.equal(s1, s2) and torch.equal(l1, l2)
    assert (view.shown[0][1] >= 0.3).all()
    fig = detection_figure(outputs, shapes_test, conf_threshold=0.3)
    assert len(fig.axes) == 5 and "P " in fig.axes[-1].get_title()
    explorer.controls["conf_threshold"].value = 0.5


def test_a_model_is_run_once_on_the_images(shapes_test):
    torch.manual_seed(0)
    small = shapes_test[:20]
    widget = DetectionExplorer(GridDetector(), small, n_show=2)        # untrained: many weak boxes, no error
    assert len(widget.result.shown) == 2 and widget.result.n_detections >= 0
    widget.controls["conf_threshold"].value = 0.3
    assert widget.last_update_cpu_seconds <= 2.0


def test_bad_arguments_are_refused(outputs, shapes_test):
    with pytest.raises(ValueError, match="conf_threshold must be in"):
        detection_view(outputs, shapes_test, conf_threshold=0.0)
    with pytest.raises(ValueError, match="iou_threshold must be in"):
        detection_view(outputs, shapes_test, iou_threshold=1.5)
    with pytest.raises(ValueError, match=r"outputs must be of shape \(N, 5 \+ K, S, S\) with N = 500"):
        detection_view(outputs[:10], shapes_test)
    with pytest.raises(ValueError, match="outputs must be of shape"):
        DetectionExplorer(outputs[:, :4], shapes_test)
    with pytest.raises(ValueError, match="n_show must be >= 1"):
        DetectionExplorer(outputs, shapes_test, n_show=0)
    with pytest.raises(ValueError, match="conf_threshold must be in"):
        DetectionExplorer(outputs, shapes_test, conf_threshold=0.99)
