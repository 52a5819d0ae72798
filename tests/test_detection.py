"""dlcourse.detection (chapter 08): grid targets and their decoding (an exact round trip on the shapes,
except the boxes that share a cell), NMS through torchvision, greedy matching, precision/recall, the PR
curve and mAP on hand-made cases, the detector's loss, and errors that name the argument."""
import numpy as np
import pytest
import torch

from dlcourse import data
from dlcourse.detection import (GridDetector, average_precision, decode_grid, detect, detector_loss, encode_grid,
                                grid_outputs, match_detections, pr_curve, precision_recall)


@pytest.fixture(scope="module")
def d():
    return data.shapes(n=400, seed=3)


def logits_of(targets, obj=8.0):
    """Raw head outputs whose decoding is `targets`: logit of the box, +-obj objectness, class scores."""
    p = targets.clamp(1e-6, 1 - 1e-6)
    out = torch.log(p / (1 - p))
    out[:, 0] = torch.where(targets[:, 0] == 1, obj, -obj)
    out[:, 5:] = 10 * targets[:, 5:]
    return out.double()


def one_box(x1, y1, x2, y2, label=1):
    return [np.array([[x1, y1, x2, y2]], np.float32)], [np.array([label])]


def test_encode_one_box_by_hand():
    t, dropped = encode_grid(*one_box(9, 2, 15, 10, label=2), grid=8, image_size=32)
    assert t.shape == (1, 8, 8, 8) and t.dtype == torch.float32 and dropped == 0
    # centre (12, 6): column 3 (pixels 12..15), row 1 (pixels 4..7); 0.0 and 0.5 of a 4-pixel cell
    assert torch.nonzero(t[0, 0]).tolist() == [[1, 3]]
    assert t[0, :, 1, 3].tolist() == pytest.approx([1, 0.0, 0.5, 6 / 32, 8 / 32, 0, 1, 0])
    assert t[0, :, [0, 2], :].abs().sum() == 0


def test_round_trip_on_shapes_is_exact_except_dropped_boxes(d):
    t, dropped = encode_grid(d.boxes, d.labels, grid=8, image_size=32)
    n_boxes = sum(len(b) for b in d.boxes)
    for decoded, raw in [(decode_grid(t, 0.5, 32, from_logits=False), False),
                         (decode_grid(logits_of(t), 0.5, 32), True)]:
        n_back = 0
        for (boxes, scores, labels), true, true_labels in zip(decoded, d.boxes, d.labels):
            err = np.abs(boxes.numpy()[:, None].astype(np.float64) - true[None]).max(2)   # (kept, k)
            assert err.min(1).max() < (1e-3 if raw else 1e-5)
            assert np.array_equal(labels.numpy(), true_labels[err.argmin(1)])
            assert len(set(err.argmin(1).tolist())) == len(boxes)                        # distinct boxes
            n_back += len(boxes)
        assert n_back == n_boxes - dropped
    assert 0 < dropped < 0.05 * n_boxes


def test_same_cell_keeps_the_larger_box_and_counts_the_other():
    boxes = [np.array([[1, 1, 6, 6], [0, 0, 8, 8], [20, 20, 30, 30]], np.float32)]
    t, dropped = encode_grid(boxes, [np.array([1, 3, 2])], grid=4, image_size=32)
    assert dropped == 1 and t[0, 0].sum() == 2
    assert t[0, 5:, 0, 0].tolist() == [0, 0, 1]                     # the larger one, class 3
    assert t[0, 3, 0, 0] == pytest.approx(8 / 32)
    _, none = encode_grid(boxes, [np.array([1, 3, 2])], grid=8, image_size=32)
    assert none == 0                                                # finer cells: no collision


def test_decode_orders_by_score_and_thresholds():
    t, _ = encode_grid([np.array([[0, 0, 7, 7], [16, 16, 27, 27], [8, 20, 12, 30]], np.float32)],
                       [np.array([1, 2, 3])], grid=8, image_size=32)
    out = logits_of(t)
    out[0, 0][t[0, 0] == 1] = torch.tensor([0.0, 2.0, -1.0], dtype=out.dtype)   # scores 0.5, 0.88, 0.27
    (boxes, scores, labels), = decode_grid(out, 0.3)
    assert scores.tolist() == pytest.approx([1 / (1 + np.exp(-2)), 0.5])
    assert labels.tolist() == [2, 1] and boxes.shape == (2, 4)
    assert len(decode_grid(out, 0.0)[0][0]) == 64 and len(decode_grid(out, 1.0)[0][0]) == 0


def test_detect_suppresses_duplicates_of_one_class_only():
    t, _ = encode_grid(*one_box(8, 8, 22, 22, label=1), grid=8, image_size=32)
    out = logits_of(t)
    out[0, :, 3, 4] = out[0, :, 3, 3]                                # the right-hand cell repeats it,
    out[0, 1, 3, 4] = -8.0                                           # shifted: centre at its left edge
    out[0, 0, 3, 4] = 1.0                                            # with a lower score
    assert len(decode_grid(out, 0.5)[0][0]) == 2
    boxes, scores, labels = detect(out, 0.5, 0.5)[0]
    assert len(boxes) == 1 and scores[0] > 0.99
    assert len(detect(out, 0.5, 1.0)[0][0]) == 2                   # IoU threshold 1: nothing suppressed
    out[0, 5:, 3, 4] = torch.tensor([0.0, 10.0, 0.0], dtype=out.dtype)     # the copy says "square"
    assert len(detect(out, 0.5, 0.5)[0][0]) == 2                   # per-class NMS keeps both


def test_match_is_greedy_by_score_and_one_to_one():
    true = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    pred = np.array([[0, 0, 10, 9], [0, 0, 10, 10], [21, 21, 30, 30], [40, 40, 50, 50]], np.float32)
    scores = np.array([0.6, 0.9, 0.8, 0.7])
    assert match_detections(pred, scores, true).tolist() == [-1, 0, 1, -1]     # the duplicate is a FP
    assert match_detections(pred, scores[[1, 0, 2, 3]], true).tolist() == [0, -1, 1, -1]
    assert match_detections(pred, scores, true, iou_threshold=0.95).tolist() == [-1, 0, -1, -1]
    labels = match_detections(pred, scores, true, pred_labels=[1, 2, 2, 1], true_labels=[1, 2])
    assert labels.tolist() == [0, -1, 1, -1]                # the best box has the wrong class: the next takes it
    assert match_detections(pred[:0], scores[:0], true).tolist() == []
    assert match_detections(pred, scores, true[:0]).tolist() == [-1] * 4


def test_precision_recall_pr_curve_and_ap_by_hand():
    truth = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32), np.array([[5, 5, 15, 15]], np.float32)]
    dets = [(torch.tensor([[0., 0, 10, 10], [40, 40, 50, 50]]), torch.tensor([0.9, 0.8]), torch.tensor([1, 1])),
            (torch.tensor([[5., 5, 15, 15]]), torch.tensor([0.7]), torch.tensor([1]))]
    assert precision_recall(dets, truth, 0.85) == (1.0, pytest.approx(1 / 3))
    assert precision_recall(dets, truth, 0.5) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert precision_recall(dets, truth, 0.95) == (1.0, 0.0)          # nothing detected: no false positive
    scores, precision, recall = pr_curve(dets, truth)
    assert scores.tolist() == pytest.approx([0.9, 0.8, 0.7])
    assert precision.tolist() == pytest.approx([1, 1 / 2, 2 / 3])
    assert recall.tolist() == pytest.approx([1 / 3, 1 / 3, 2 / 3])
    # envelope of precision: 1, 2/3, 2/3 over recall steps 1/3, 0, 1/3
    assert average_precision(dets, truth) == pytest.approx(1 / 3 + 2 / 9)
    labels = [np.array([1, 2]), np.array([1])]
    # class 1: TP, FP, TP of 2 boxes (AP 1/2 + 1/2 * 2/3); class 2: missed (AP 0)
    assert average_precision(dets, truth, true_labels_list=labels) == pytest.approx((5 / 6 + 0) / 2)
    perfect = [(torch.from_numpy(t), torch.ones(len(t)), torch.ones(len(t), dtype=torch.long)) for t in truth]
    assert average_precision(perfect, truth) == 1.0 and precision_recall(perfect, truth, 0.5) == (1.0, 1.0)


def test_pr_curve_agrees_with_precision_recall_at_each_score(d):
    t, _ = encode_grid(d.boxes, d.labels)
    out = logits_of(t)
    out[:, 0] += 6 * torch.randn(out[:, 0].shape, generator=torch.Generator().manual_seed(0), dtype=out.dtype)
    dets = detect(out, 0.05, 0.5)
    scores, precision, recall = pr_curve(dets, d.boxes, true_labels_list=d.labels)
    for k in [0, 10, len(scores) // 2, len(scores) - 1]:
        p, r = precision_recall(dets, d.boxes, float(scores[k]), true_labels_list=d.labels)
        if k + 1 == len(scores) or scores[k + 1] < scores[k]:        # no tie with the next score
            assert (p, r) == (pytest.approx(precision[k]), pytest.approx(recall[k]))
    assert 0.3 < average_precision(dets, d.boxes, true_labels_list=d.labels) < 1


def test_grid_detector_shapes_and_loss():
    torch.manual_seed(0)
    model = GridDetector()
    out = grid_outputs(model, torch.rand(5, 3, 32, 32))
    assert out.shape == (5, 8, 8, 8) and not model.training and not out.requires_grad
    assert sum(p.numel() for p in model.parameters()) == 61208
    assert GridDetector(n_classes=5, widths=(4, 8, 8))(torch.rand(2, 3, 64, 64)).shape == (2, 10, 16, 16)
    t, _ = encode_grid(*one_box(4, 4, 20, 14, label=3), grid=8, image_size=32)
    assert float(detector_loss(logits_of(t, obj=12.0).float(), t)) < 1e-3
    assert float(detector_loss(torch.zeros_like(t), t)) > 0.5


def test_errors_name_the_argument():
    boxes, labels = one_box(0, 0, 5, 5)
    with pytest.raises(ValueError, match="labels_list"):
        encode_grid(boxes, labels + labels)
    with pytest.raises(ValueError, match=r"class ids in 1\.\.3"):
        encode_grid(boxes, [np.array([0])])
    with pytest.raises(ValueError, match="boxes_list\\[0\\] must have shape"):
        encode_grid([np.zeros((1, 3))], labels)
    with pytest.raises(ValueError, match="grid must be >= 1"):
        encode_grid(boxes, labels, grid=0)
    with pytest.raises(ValueError, match=r"outputs must be of shape \(N, 5 \+ K, S, S\)"):
        decode_grid(torch.zeros(1, 5, 8, 8))
    with pytest.raises(ValueError, match="conf_threshold must be in"):
        decode_grid(torch.zeros(1, 8, 8, 8), conf_threshold=1.5)
    with pytest.raises(ValueError, match="iou_threshold must be in"):
        detect(torch.zeros(1, 8, 8, 8), iou_threshold=-0.1)
    with pytest.raises(ValueError, match="pred_scores must have shape"):
        match_detections(np.zeros((2, 4)), np.zeros(3), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="detections must be one"):
        precision_recall([], [np.zeros((1, 4))])
