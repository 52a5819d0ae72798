"""Chapter 08 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/08_segmentation.py, see checks_harness.py)."""
import numpy as np
import pytest
import torch
from torch import nn

from checks_harness import assert_fails, blank, check_tests, solution, two_hints
from dlcourse.checks import segmentation as check

RIGHT = solution("08_segmentation")


# ---- Task 1: bilinear resizing ------------------------------------------------------------------
def _bilinear(x, size, align_corners, half_pixel=True, clamp=True, swap=False, nearest=False):
    """Bilinear resizing with one mistake switched on (the defaults give the right answer)."""
    (H, W), (H_out, W_out) = x.shape[2:], size
    scales = [(H - 1) / (H_out - 1), (W - 1) / (W_out - 1)] if align_corners else [H / H_out, W / W_out]
    if swap:                                           # the height's scale used for the width and vice versa
        scales = scales[::-1]

    def source(n_in, n_out, scale):
        i = np.arange(n_out)
        if align_corners:
            u = i * scale
        elif half_pixel:
            u = (i + 0.5) * scale - 0.5
            u = np.maximum(u, 0.0) if clamp else u
        else:
            u = i * scale
        lo = np.minimum(np.floor(u).astype(int), n_in - 1)
        w = u - lo
        return lo, np.minimum(lo + 1, n_in - 1), (np.round(w) if nearest else w)

    (r0, r1, wr), (c0, c1, wc) = source(H, H_out, scales[0]), source(W, W_out, scales[1])
    rows = x[:, :, r0, :] * (1 - wr)[:, None] + x[:, :, r1, :] * wr[:, None]
    return rows[..., c0] * (1 - wc) + rows[..., c1] * wc


def bilinear_always_align_corners(x, size, align_corners=False):
    return _bilinear(x, size, True)


def bilinear_never_align_corners(x, size, align_corners=False):
    return _bilinear(x, size, False)


def bilinear_no_clamp(x, size, align_corners=False):
    """A negative source coordinate is not clamped: floor gives -1, which indexes the LAST pixel."""
    return _bilinear(x, size, align_corners, clamp=False)


def bilinear_no_half_pixel(x, size, align_corners=False):
    """u = i * H / H_out for align_corners=False (nearest's convention, not bilinear's)."""
    return _bilinear(x, size, align_corners, half_pixel=False)


def bilinear_swaps_axes(x, size, align_corners=False):
    return _bilinear(x, size, align_corners, swap=True)


def bilinear_is_nearest(x, size, align_corners=False):
    return torch.nn.functional.interpolate(torch.from_numpy(x), size=tuple(size), mode="nearest").numpy()


def bilinear_rounds_weights(x, size, align_corners=False):
    """Takes the nearer of the two neighbours instead of mixing them."""
    return _bilinear(x, size, align_corners, nearest=True)


def bilinear_as_float32(x, size, align_corners=False):
    return _bilinear(x.astype(np.float32), size, align_corners)


# ---- Task 2: IoU and Dice -----------------------------------------------------------------------
def _counts(pred, target, c):
    p, t = pred == c, target == c
    return np.sum(p & t), np.sum(p), np.sum(t)


def _scores(pred, target, n_classes, iou_of, dice_of, classes=None):
    classes = range(n_classes) if classes is None else classes
    iou = np.array([iou_of(*_counts(pred, target, c)) for c in classes], dtype=np.float64)
    dice = np.array([dice_of(*_counts(pred, target, c)) for c in classes], dtype=np.float64)
    return iou, dice


def _iou(i, p, t):
    return i / (p + t - i) if p + t else np.nan


def _dice(i, p, t):
    return 2 * i / (p + t) if p + t else np.nan


def dice_is_iou(pred, target, n_classes):
    return _scores(pred, target, n_classes, _iou, _iou)


def absent_is_zero(pred, target, n_classes):
    return _scores(pred, target, n_classes, lambda i, p, t: i / (p + t - i) if p + t else 0.0,
                   lambda i, p, t: 2 * i / (p + t) if p + t else 0.0)


def absent_is_one(pred, target, n_classes):
    return _scores(pred, target, n_classes, lambda i, p, t: i / (p + t - i) if p + t else 1.0,
                   lambda i, p, t: 2 * i / (p + t) if p + t else 1.0)


def union_counts_overlap_twice(pred, target, n_classes):
    return _scores(pred, target, n_classes, lambda i, p, t: i / (p + t) if p + t else np.nan, _dice)


def classes_from_one(pred, target, n_classes):
    return _scores(pred, target, n_classes, _iou, _dice, classes=range(1, n_classes + 1))


def classes_one_short(pred, target, n_classes):
    return _scores(pred, target, n_classes, _iou, _dice, classes=range(n_classes - 1))


def pixel_accuracy_per_class(pred, target, n_classes):
    iou = np.array([np.mean((pred == c) == (target == c)) for c in range(n_classes)])
    return iou, _scores(pred, target, n_classes, _iou, _dice)[1]


# ---- Task 3: batched NMS ------------------------------------------------------------------------
def _greedy(boxes, scores, labels, iou_threshold, use_labels=True, strict=True):
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order, keep = np.argsort(-scores), []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        w = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        iou = w * h / (areas[best] + areas[rest] - w * h)
        survives = iou <= iou_threshold if strict else iou < iou_threshold
        if use_labels:
            survives |= labels[rest] != labels[best]
        order = rest[survives]
    return np.array(keep, dtype=np.int64)


def nms_ignores_labels(boxes, scores, labels, iou_threshold):
    return _greedy(boxes, scores, labels, iou_threshold, use_labels=False)


def nms_suppresses_at_threshold(boxes, scores, labels, iou_threshold):
    return _greedy(boxes, scores, labels, iou_threshold, strict=False)


def nms_sorted_by_index(boxes, scores, labels, iou_threshold):
    return np.sort(RIGHT.batched_nms(boxes, scores, labels, iou_threshold))


def nms_grouped_by_label(boxes, scores, labels, iou_threshold):
    """Single-class NMS per label, results concatenated label after label (not re-sorted by score)."""
    keep = [np.flatnonzero(labels == c)[_greedy(boxes[labels == c], scores[labels == c], labels[labels == c],
                                                iou_threshold)] for c in np.unique(labels)]
    return np.concatenate(keep).astype(np.int64)


def nms_returns_mask(boxes, scores, labels, iou_threshold):
    mask = np.zeros(len(boxes), dtype=bool)
    mask[RIGHT.batched_nms(boxes, scores, labels, iou_threshold)] = True
    return mask


def nms_ascending_scores(boxes, scores, labels, iou_threshold):
    """Visits the lowest score first (np.argsort without the minus sign)."""
    return _greedy(boxes, -scores, labels, iou_threshold)


# ---- Task 4: output_padding ---------------------------------------------------------------------
def padding_always_zero(size, kernel_size, stride, padding):
    return 0


def padding_stride_minus_one(size, kernel_size, stride, padding):
    return stride - 1


def padding_ignores_padding(size, kernel_size, stride, padding):
    return (size - kernel_size) % stride


def padding_size_mod_stride(size, kernel_size, stride, padding):
    return size % stride


def padding_as_float(size, kernel_size, stride, padding):
    return float(RIGHT.output_padding_for(size, kernel_size, stride, padding))


def padding_numpy_int(size, kernel_size, stride, padding):
    return np.int64(RIGHT.output_padding_for(size, kernel_size, stride, padding))


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("upsample_bilinear", bilinear_always_align_corners, "differs at index"),
    ("upsample_bilinear", bilinear_never_align_corners, "differs at index"),
    ("upsample_bilinear", bilinear_no_clamp, "differs at index"),
    ("upsample_bilinear", bilinear_no_half_pixel, "differs at index"),
    ("upsample_bilinear", bilinear_swaps_axes, "differs at index"),
    ("upsample_bilinear", bilinear_is_nearest, "differs at index"),
    ("upsample_bilinear", bilinear_rounds_weights, "differs at index"),
    ("upsample_bilinear", bilinear_as_float32, "differs at index"),
    ("iou_and_dice", dice_is_iou, "dice differs"),
    ("iou_and_dice", absent_is_zero, "expected nan"),
    ("iou_and_dice", absent_is_one, "expected nan"),
    ("iou_and_dice", union_counts_overlap_twice, "iou differs"),
    ("iou_and_dice", classes_from_one, "iou differs"),
    ("iou_and_dice", classes_one_short, "iou has shape"),
    ("iou_and_dice", pixel_accuracy_per_class, "iou differs"),
    ("batched_nms", nms_ignores_labels, "has shape"),
    ("batched_nms", nms_suppresses_at_threshold, "has shape"),
    ("batched_nms", nms_sorted_by_index, "differs at index"),
    ("batched_nms", nms_grouped_by_label, "differs at index"),
    ("batched_nms", nms_returns_mask, "boolean mask"),
    ("batched_nms", nms_ascending_scores, "differs at index"),
    ("output_padding_for", padding_always_zero, "is 0, expected 1"),
    ("output_padding_for", padding_stride_minus_one, "expected 0"),
    ("output_padding_for", padding_ignores_padding, "expected"),
    ("output_padding_for", padding_size_mod_stride, "expected"),
    ("output_padding_for", padding_as_float, "should be an int"),
], extra_right=[("output_padding_for", padding_numpy_int)])


def test_the_exact_threshold_case_is_the_one_that_fails():
    """`>=` instead of `>` keeps the same boxes everywhere except where an IoU equals the threshold."""
    assert_fails(check.batched_nms, nms_suppresses_at_threshold, "Test case 1:")


def test_an_absent_class_is_reported_as_nan():
    message = assert_fails(check.iou_and_dice, absent_is_zero, "iou differs")
    assert "got 0, expected nan" in message


def test_a_failure_names_the_case_and_offers_hints_without_the_answer(capsys):
    message = assert_fails(check.upsample_bilinear, bilinear_no_clamp, "upsample_bilinear")
    assert "Test case" in message and "check.hint('upsample_bilinear')" in message
    args = check.failing_case("upsample_bilinear")
    assert np.abs(bilinear_no_clamp(*args) - RIGHT.upsample_bilinear(*args)).max() > 0   # it really fails
    for task in RIGHT.tasks:
        text = two_hints(check, task, capsys)
        assert "def " not in text and "np." not in text.replace("np.nanmean", "")   # nudges, no code



# ---- Task 5: the outcome task -------------------------------------------------------------------

def per_pixel_linear(images, masks, seed=0):
    """A 1x1 convolution: each pixel's class from its own colour only; cannot tell the shapes apart."""
    torch.manual_seed(seed)
    model = nn.Conv2d(3, 4, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    X, Y = torch.from_numpy(images), torch.from_numpy(masks)
    for _ in range(30):
        loss = nn.functional.cross_entropy(model(X), Y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def too_big(images, masks, seed=0):
    return nn.Sequential(nn.Conv2d(3, 128, 3, padding=1), nn.ReLU(), nn.Conv2d(128, 128, 3, padding=1),
                         nn.Conv2d(128, 4, 1))


def wrong_resolution(images, masks, seed=0):
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2))


def returns_iou(images, masks, seed=0):
    return 0.9


@pytest.mark.parametrize("wrong,message", [(blank, "not implemented yet"), (per_pixel_linear, "the target is"),
                                           (too_big, "the limit is"), (wrong_resolution, "expected class scores"),
                                           (returns_iou, "torch.nn.Module")])
def test_the_outcome_check_fails_below_the_target(wrong, message, one_thread):
    assert_fails(check.segmentation_outcome, wrong, message)


@pytest.mark.slow
def test_the_outcome_check_passes_on_the_solution(capsys, one_thread):
    check.segmentation_outcome(RIGHT.train_segmenter)
    assert "reached mean foreground IoU" in capsys.readouterr().out
