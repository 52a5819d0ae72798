"""Checks for the exercises of chapter 08 (segmentation and detection).

Each check runs the student's function and a reference (``torch.nn.functional.interpolate``,
``torchvision.ops.batched_nms``, PyTorch's transposed convolution, or a short NumPy reference for the
IoU and Dice of masks) on random inputs and raises :class:`~dlcourse.checks.CheckFailed` at the first
difference. The cases include batch size 1, non-square images, upsampling and downsampling, classes
absent from both masks, and boxes whose overlap equals the threshold exactly.
"""
from __future__ import annotations

import copy

import numpy as np

from . import _FAILING, _pointer, check_outcome, CheckFailed, failing_case, hint, model_scores, run_check, trained_model

__all__ = ["upsample_bilinear", "iou_and_dice", "batched_nms", "output_padding_for", "segmentation_outcome",
           "hint", "failing_case"]


def _torch():
    import torch

    return torch


# ---- upsample_bilinear --------------------------------------------------------------------------
def _reference_upsample(x, size, align_corners):
    torch = _torch()
    return torch.nn.functional.interpolate(torch.from_numpy(x), size=tuple(int(s) for s in size),
                                           mode="bilinear", align_corners=align_corners).numpy()


def _upsample_cases(seed):
    """(x, size, align_corners): by-hand 2x2 -> 4x4 first, then random shapes; the two axes always change
    by different factors, up and down, with both values of align_corners."""
    rng = np.random.default_rng(seed)
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    cases = [(x, (4, 4), False), (x, (4, 4), True), (np.arange(12.0).reshape(1, 1, 3, 4), (5, 9), False)]
    for i in range(24):
        N, C = (1 if i % 3 == 0 else int(rng.integers(2, 4))), int(rng.integers(1, 4))
        H, W = int(rng.integers(1 if i > 4 else 2, 8)), int(rng.integers(2, 8))
        while True:
            H_out = int(rng.integers(2, 13)) if i % 4 else int(rng.integers(2, max(3, H)))   # down, sometimes
            W_out = int(rng.integers(2, 13))
            if H_out * W != W_out * H:                                  # different scales along the two axes
                break
        cases.append((rng.normal(size=(N, C, H, W)), (H_out, W_out), bool(i % 2)))
    return cases


def upsample_bilinear(student, seed: int = 0) -> None:
    """Check ``upsample_bilinear(x, size, align_corners) -> (N, C, H_out, W_out)`` against
    ``F.interpolate(mode="bilinear")`` in float64."""
    run_check("upsample_bilinear", student, _reference_upsample, _upsample_cases(seed), rtol=1e-9, atol=1e-10,
              arg_names=("x", "size", "align_corners"),
              hints=("Work one axis at a time: for every output row find the (fractional) source row it "
                     "samples, take the two input rows around it, and mix them with weights that sum to 1; then "
                     "do the same along the columns. The two axes have their own scale.",
                     "align_corners=True maps the first and last output pixels onto the first and last input "
                     "pixels (scale (H-1)/(H_out-1)); align_corners=False maps pixel CENTRES (scale H/H_out, "
                     "half a pixel shifted) and a source coordinate below 0 is clamped to 0. The lower "
                     "neighbour is the floor of the coordinate; the upper one must stay inside the image."))


# ---- iou_and_dice -------------------------------------------------------------------------------
def _reference_iou_dice(pred, target, n_classes):
    iou, dice = np.full(n_classes, np.nan), np.full(n_classes, np.nan)
    for c in range(n_classes):
        p, t = pred == c, target == c
        inter, size_p, size_t = np.sum(p & t), np.sum(p), np.sum(t)
        if size_p + size_t > 0:
            iou[c] = inter / (size_p + size_t - inter)
            dice[c] = 2 * inter / (size_p + size_t)
    return iou, dice


def _iou_cases(seed):
    """(pred, target, n_classes): a by-hand case, then random masks where some classes are absent from both,
    some only predicted, some only in the target."""
    rng = np.random.default_rng(seed)
    cases = [(np.array([[0, 1, 1], [0, 2, 2]]), np.array([[0, 1, 2], [0, 0, 2]]), 4)]
    for i in range(20):
        C = int(rng.integers(2, 7))
        shape = (int(rng.integers(1, 4)), int(rng.integers(2, 9)), int(rng.integers(2, 9)))
        used = rng.choice(C, size=int(rng.integers(1, C + 1)), replace=False)        # the classes that occur
        pred, target = rng.choice(used, size=shape), rng.choice(used, size=shape)
        if i % 3 == 1:                                   # a class only in the prediction
            pred.flat[int(rng.integers(pred.size))] = int(rng.integers(C))
        if i % 4 == 2:                                   # a good prediction: mostly equal to the target
            pred = np.where(rng.random(shape) < 0.8, target, pred)
        cases.append((pred.astype(np.int64), target.astype(np.int64), C))
    return cases


def iou_and_dice(student, seed: int = 0) -> None:
    """Check ``iou_and_dice(pred, target, n_classes) -> (iou (C,), dice (C,))``, NaN for absent classes."""
    run_check("iou_and_dice", student, _reference_iou_dice, _iou_cases(seed), rtol=1e-9, atol=1e-12,
              arg_names=("pred", "target", "n_classes"), out_names=("iou", "dice"),
              hints=("For each class c, compare two boolean masks, pred == c and target == c: the intersection "
                     "counts pixels where both are True, the union pixels where at least one is. Dice compares "
                     "the intersection with the two mask sizes instead of the union.",
                     "The union is |P| + |T| minus the intersection (otherwise the overlap counts twice), and "
                     "Dice is 2|P and T| / (|P| + |T|). A class in neither mask has no score at all: NaN, so "
                     "that np.nanmean skips it; a class predicted but absent from the target scores 0."))


# ---- batched_nms ----------------------------------------------------------------------------------
def _reference_batched_nms(boxes, scores, labels, iou_threshold):
    import torchvision

    torch = _torch()
    keep = torchvision.ops.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                                       torch.from_numpy(labels), float(iou_threshold))
    return keep.numpy().astype(np.int64)


def _nms_cases(seed):
    """(boxes, scores, labels, iou_threshold): by-hand cases (an overlap exactly at the threshold, the same
    boxes under two labels), then random clusters of boxes with distinct scores and 1-3 labels."""
    rng = np.random.default_rng(seed)
    pair = np.array([[0.0, 0.0, 4.0, 2.0], [0.0, 0.0, 2.0, 2.0]])         # IoU exactly 0.5
    cases = [(pair, np.array([0.9, 0.8]), np.array([0, 0]), 0.5),
             (pair, np.array([0.9, 0.8]), np.array([0, 0]), 0.4),
             (np.array([[0.0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 9, 9], [20, 20, 30, 30]]),
              np.array([0.5, 0.9, 0.7, 0.6]), np.array([1, 0, 1, 0]), 0.5),
             (np.array([[1.0, 2.0, 5.0, 7.0]]), np.array([0.3]), np.array([2]), 0.5)]
    for i in range(20):
        n_clusters, N = int(rng.integers(1, 5)), int(rng.integers(2, 16))
        centres = rng.uniform(5, 40, size=(n_clusters, 2))
        c = centres[rng.integers(n_clusters, size=N)] + rng.normal(scale=2.0, size=(N, 2))
        half = rng.uniform(2, 8, size=(N, 2))
        boxes = np.concatenate([c - half, c + half], axis=1)
        if i % 5 == 0:                                    # integer corners: many exact ties with the threshold
            boxes = np.round(boxes)
            boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        scores = rng.permutation(N) / N + rng.uniform(0, 0.5 / N)         # distinct
        labels = rng.integers(0, int(rng.integers(1, 4)), size=N).astype(np.int64)
        cases.append((boxes, scores, labels, float(rng.choice([0.3, 0.5, 0.7]))))
    return cases


def batched_nms(student, seed: int = 0) -> None:
    """Check ``batched_nms(boxes, scores, labels, iou_threshold) -> kept indices`` against
    ``torchvision.ops.batched_nms`` (boxes (N, 4) as x1, y1, x2, y2)."""
    mask = {}

    def student_indices(boxes, scores, labels, iou_threshold):
        keep = student(boxes, scores, labels, iou_threshold)
        if np.asarray(keep).dtype == bool and np.ndim(keep) == 1 and len(keep) == len(boxes) and not mask:
            mask["args"] = (boxes, scores, labels, iou_threshold)
        return keep

    student_indices.__name__ = getattr(student, "__name__", "batched_nms")   # a blank stays "not implemented"
    try:
        run_check("batched_nms", student_indices, _reference_batched_nms, _nms_cases(seed), rtol=0, atol=0,
                  arg_names=("boxes", "scores", "labels", "iou_threshold"),
                  hints=("Greedy, as in the chapter: visit boxes from the highest score down; a box survives unless "
                         "an already kept box of the SAME label overlaps it by more than the threshold. Return "
                         "the indices of the survivors (integers, into the original arrays), best first.",
                         "Suppress only when IoU > iou_threshold (an overlap exactly at the threshold is kept). If "
                         "you run single-class NMS per label, the union of the results must be sorted by score "
                         "again; or shift each label's boxes so far apart that boxes of different labels cannot "
                         "overlap."))
    except CheckFailed:
        if mask:
            _FAILING["batched_nms"] = copy.deepcopy(mask["args"])
            raise CheckFailed("batched_nms returned a boolean mask (one entry per box); return the INDICES of the "
                              "kept boxes instead, highest score first." + _pointer("batched_nms")) from None
        raise


# ---- output_padding_for ---------------------------------------------------------------------------
def _reference_output_padding(size, kernel_size, stride, padding):
    torch = _torch()
    F = torch.nn.functional
    x = torch.empty(1, 1, size, size, device="meta")
    w = torch.empty(1, 1, kernel_size, kernel_size, device="meta")
    small = F.conv2d(x, w, stride=stride, padding=padding)
    for output_padding in range(stride):
        try:
            y = F.conv_transpose2d(small, w, stride=stride, padding=padding, output_padding=output_padding)
        except RuntimeError:                                            # an empty output: too small
            continue
        if y.shape[-1] == size:
            return output_padding
    raise AssertionError("no output_padding restores the size")          # cannot happen


def output_padding_for(student, seed: int = 0) -> None:
    """Check ``output_padding_for(size, kernel_size, stride, padding) -> int`` with PyTorch's shapes."""
    rng = np.random.default_rng(seed)
    cases = [(32, 3, 2, 1), (15, 3, 2, 1), (28, 2, 2, 0), (7, 3, 2, 0), (9, 1, 3, 0)]
    while len(cases) < 30:
        k, s = int(rng.integers(1, 8)), int(rng.integers(1, 5))
        p = int(rng.integers(0, k // 2 + 1))
        size = int(rng.integers(max(1, k - 2 * p), 41))
        cases.append((size, k, s, p))
    run_check("output_padding_for", student, _reference_output_padding, cases, rtol=0, atol=0,
              arg_names=("size", "kernel_size", "stride", "padding"),
              hints=("Write down both size formulas: the convolution's output (with its floor) and the "
                     "transposed convolution's output size for that input, then ask how many rows the floor "
                     "threw away.",
                     "Different input sizes give the same convolution output when the floor hides a "
                     "remainder; the transposed convolution rebuilds the smallest of them, and output_padding "
                     "adds back the rows the floor dropped (always fewer than the stride). Padding counts, on "
                     "both sides."))


# ---- the outcome task -----------------------------------------------------------------------------
SEGMENTATION_TARGET, SEGMENTATION_MAX_PARAMETERS = 0.5, 30_000
SEGMENTATION_DATA = dict(size=16, radius=(0.2, 0.3))       # 16x16 images, objects of radius 3-5 pixels


def _foreground_iou(pred, target, n_classes=4):
    return float(np.nanmean(_reference_iou_dice(pred, target, n_classes)[0][1:]))


def segmentation_outcome(student, seed: int = 0) -> None:
    """Train the student's network with ``student(images, masks, seed)`` on 1000 images of
    ``data.shapes(n=1000, seed=0, **SEGMENTATION_DATA)`` and require the mean foreground IoU (circle,
    square, triangle) on 300 validation images (seed 1) to reach the target."""
    torch = _torch()
    from .. import data

    name = "train_segmenter"
    train = data.shapes(n=1000, seed=0, **SEGMENTATION_DATA)
    val = data.shapes(n=300, seed=1, **SEGMENTATION_DATA)
    hints = ("A pixel's class depends on the shape around it, not on its colour: the network must see the "
             "whole object (an encoder that pools down to a few pixels) and still answer at full "
             "resolution (a decoder with skip connections, like the chapter's U-Net).",
             "Two pooling levels are enough for 16x16 images; BatchNorm after each convolution and Adam with "
             "a one-cycle learning-rate schedule peaking near 1e-2 train it in a few seconds.")
    model = trained_model(name, student, train.images, train.semantic, seed,
                          max_parameters=SEGMENTATION_MAX_PARAMETERS)
    scores = model_scores(model, val.images)
    expected = (len(val.images), 4, *val.semantic.shape[1:])
    if tuple(scores.shape) != expected:
        raise CheckFailed(f"{name}: your model maps images {val.images.shape} to {tuple(scores.shape)}; expected "
                          f"class scores of shape {expected} (one score per class and pixel).")
    pred = scores.argmax(1).cpu().numpy()
    check_outcome(name, _foreground_iou(pred, val.semantic), SEGMENTATION_TARGET,
                  what="mean foreground IoU on validation", hints=hints)
