"""The detection explorer of chapter 08: what the confidence threshold and the IoU threshold of
non-maximum suppression do to a grid detector's boxes and to its precision and recall.

Nothing is retrained when a slider moves: the detector's outputs on the test images are computed once,
then each update only re-thresholds them. :func:`detection_view` is the experiment (plain code, no
widgets); :func:`draw_detection_view` draws it; :func:`detection_figure` is the static figure shown
beside the widget in the book; :class:`DetectionExplorer` is the thin shell with two sliders.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validate import check_arg, check_float, check_int
from . import Explorer

__all__ = ["DetectionView", "detection_view", "draw_detection_view", "detection_figure", "DetectionExplorer",
           "CONF_MIN"]

#: lowest confidence threshold the widget offers (detections below it are never stored)
CONF_MIN = 0.05
_COLORS = {1: "tab:orange", 2: "tab:cyan", 3: "tab:pink"}


@dataclass
class DetectionView:
    """One setting of the two thresholds, measured on all the images.

    Attributes:
        conf_threshold, iou_threshold: the settings.
        precision, recall: at conf_threshold, detections matched to true boxes of their class at IoU >= 0.5.
        n_detections: detections kept over all images; ap: mAP@0.5 after NMS at iou_threshold.
        shown: per shown image (boxes (k, 4), scores (k,), labels (k,)) kept at these thresholds.
        curve_scores, curve_precision, curve_recall: the precision-recall curve of NMS at iou_threshold,
            one point per detection score >= CONF_MIN (decreasing score).
    """

    conf_threshold: float
    iou_threshold: float
    precision: float
    recall: float
    n_detections: int
    ap: float
    shown: list
    curve_scores: np.ndarray
    curve_precision: np.ndarray
    curve_recall: np.ndarray


def _check_outputs(outputs, data):
    import torch

    outputs = torch.as_tensor(outputs).detach().float()
    check_arg("outputs", tuple(outputs.shape), outputs.ndim == 4 and outputs.shape[1] > 5
              and len(outputs) == len(data), f"of shape (N, 5 + K, S, S) with N = {len(data)} images")
    return outputs


def _after_nms(decoded, data, iou_threshold):
    """NMS at iou_threshold on the stored detections: (kept per image, curve scores/precision/recall, mAP)."""
    from torchvision.ops import batched_nms

    from ..detection import _ap, _matched

    kept = [(b[k], s[k], lab[k]) for b, s, lab in decoded for k in [batched_nms(b, s, lab, iou_threshold)]]
    scores, hits, labels, n_true = _matched(kept, data.boxes, data.labels, 0.5)   # as pr_curve and
    tp = np.cumsum(hits)                                                           # average_precision
    curve = scores, tp / np.arange(1, len(hits) + 1), tp / max(sum(n_true.values()), 1)
    ap = float(np.mean([_ap(hits[labels == c], n) for c, n in n_true.items()]))
    return kept, curve, ap


def _view(kept, curve, ap, conf_threshold, iou_threshold, n_show) -> DetectionView:
    scores, precision, recall = curve
    n = int(np.sum(scores >= conf_threshold))             # scores decrease: the first n pass
    p, r = (float(precision[n - 1]), float(recall[n - 1])) if n else (1.0, 0.0)
    shown = [(b[s >= conf_threshold], s[s >= conf_threshold], lab[s >= conf_threshold]) for b, s, lab in kept[:n_show]]
    return DetectionView(conf_threshold, iou_threshold, p, r, n, ap, shown, scores, precision, recall)


def detection_view(outputs, data, conf_threshold: float = 0.5, iou_threshold: float = 0.5,
                   n_show: int = 4, image_size: float | None = None) -> DetectionView:
    """Decode a grid detector's outputs (N, 5 + K, S, S) (raw head outputs on the N images of ``data``, a
    :class:`dlcourse.data.Shapes`), keep the detections with score >= conf_threshold, suppress duplicates
    (per-class NMS at iou_threshold) and measure precision, recall and mAP@0.5 against ``data.boxes``."""
    from ..detection import decode_grid

    outputs = _check_outputs(outputs, data)
    conf_threshold = check_float("conf_threshold", conf_threshold, CONF_MIN, 1.0)
    iou_threshold = check_float("iou_threshold", iou_threshold, 0.0, 1.0)
    n_show = check_int("n_show", n_show, 1)
    image_size = data.images.shape[-1] if image_size is None else image_size
    decoded = decode_grid(outputs, CONF_MIN, image_size)
    return _view(*_after_nms(decoded, data, iou_threshold), conf_threshold, iou_threshold, n_show)


def draw_detection_view(fig, view: DetectionView, data) -> None:
    """Draw the shown images with their kept boxes (true boxes dashed white) and the precision-recall
    curve with the current point, on ``fig`` (cleared first)."""
    from matplotlib.patches import Rectangle

    fig.clear()
    n = len(view.shown)
    axes = fig.subplots(1, n + 1, gridspec_kw={"width_ratios": [1] * n + [1.6]})
    for i, (ax, (boxes, scores, labels)) in enumerate(zip(axes, view.shown)):
        ax.imshow(data.images[i].transpose(1, 2, 0))
        for x1, y1, x2, y2 in data.boxes[i]:                  # pixel-index boxes: edges half a pixel out
            ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1 + 1, y2 - y1 + 1, fill=False, ec="white",
                                   ls="--", lw=1))
        for (x1, y1, x2, y2), s, c in zip(np.asarray(boxes), np.asarray(scores), np.asarray(labels)):
            color = _COLORS.get(int(c), "yellow")
            ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1 + 1, y2 - y1 + 1, fill=False, ec=color, lw=1.5))
            ax.text(x1 - 0.5, y1 - 1, f"{data.class_names[int(c)]} {s:.2f}", color=color, fontsize=6)
        ax.set(xticks=[], yticks=[], title=f"{len(boxes)} kept")
    ax = axes[-1]
    ax.plot(view.curve_recall, view.curve_precision, color="C0", lw=1.5)
    ax.plot([view.recall], [view.precision], "o", color="C3", ms=7)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision",
           title=f"P {view.precision:.2f}, R {view.recall:.2f} (mAP {view.ap:.2f})")
    ax.title.set_fontsize(9)
    fig.suptitle(f"confidence >= {view.conf_threshold:.2f}, NMS IoU {view.iou_threshold:.2f}: "
                 f"{view.n_detections} boxes kept on {len(data)} images", fontsize=10)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.18, top=0.78, wspace=0.25)


def detection_figure(outputs, data, conf_threshold: float = 0.5, iou_threshold: float = 0.5, n_show: int = 4):
    """The static figure of the widget (its picture at these thresholds), drawn with pyplot."""
    import matplotlib.pyplot as plt

    view = detection_view(outputs, data, conf_threshold, iou_threshold, n_show)
    fig = plt.figure(figsize=(10, 3))
    draw_detection_view(fig, view, data)
    return fig


class DetectionExplorer(Explorer):
    """Sliders for the confidence threshold and the NMS IoU threshold over a grid detector's stored
    outputs on ``data`` (a :class:`dlcourse.data.Shapes`); draws a few images with the kept boxes and the
    precision-recall curve with the current point.

    Args:
        detector: a trained ``torch.nn.Module`` (run once on ``data.images``) or its outputs
            (N, 5 + K, S, S) on those images.
        conf_threshold, iou_threshold: initial settings; n_show: images drawn.
    """

    def __init__(self, detector, data, conf_threshold: float = 0.5, iou_threshold: float = 0.5, n_show: int = 4):
        import ipywidgets as W
        import torch

        from ..detection import decode_grid, grid_outputs

        self.data = data
        self.n_show = check_int("n_show", n_show, 1)
        outputs = grid_outputs(detector, data.images) if isinstance(detector, torch.nn.Module) else detector
        self._decoded = decode_grid(_check_outputs(outputs, data), CONF_MIN, data.images.shape[-1])
        self._by_iou: dict = {}                                  # NMS threshold -> (kept, curve, mAP)
        controls = {
            "conf_threshold": W.FloatSlider(value=check_float("conf_threshold", conf_threshold, CONF_MIN, 0.95),
                                            min=CONF_MIN, max=0.95, step=0.05, description="confidence",
                                            continuous_update=False),
            "iou_threshold": W.FloatSlider(value=check_float("iou_threshold", iou_threshold, 0.05, 1.0),
                                           min=0.05, max=1.0, step=0.05, description="NMS IoU",
                                           continuous_update=False),
        }
        super().__init__(controls, figsize=(10, 3))
        self.update()

    def compute(self, conf_threshold, iou_threshold) -> DetectionView:
        """Re-threshold the stored detections (NMS results are kept per IoU threshold)."""
        key = round(float(iou_threshold), 4)
        if key not in self._by_iou:
            self._by_iou[key] = _after_nms(self._decoded, self.data, key)
        return _view(*self._by_iou[key], float(conf_threshold), key, self.n_show)

    def alt_text(self, view: DetectionView) -> str:
        return (f"{len(view.shown)} test images with the boxes kept at confidence >= {view.conf_threshold:.2f} and "
                f"NMS IoU {view.iou_threshold:.2f} (true boxes dashed), and the precision-recall curve: "
                f"{view.n_detections} boxes kept on {len(self.data)} images, precision {view.precision:.2f}, "
                f"recall {view.recall:.2f}, mAP@0.5 {view.ap:.2f}")

    def draw(self, view: DetectionView) -> None:
        draw_detection_view(self.fig, view, self.data)
        self.status.value = (f"{view.n_detections} boxes kept: precision {view.precision:.2f}, recall "
                             f"{view.recall:.2f}; mAP@0.5 with NMS at IoU {view.iou_threshold:.2f}: {view.ap:.2f}")
