"""dlcourse.boxes (chapter 08): box_area, box_iou and nms against torchvision.ops on random boxes, in float64,
including empty inputs, duplicated boxes, tied scores and the thresholds 0 and 1; plus the error messages."""
import zlib

import numpy as np
import pytest
import torch
import torchvision

from dlcourse.boxes import box_area, box_iou, nms

N_CONFIGS = 30


def _rng(name):
    return np.random.default_rng(zlib.crc32(name.encode()))       # the same configurations in every process


def _boxes(rng, n, spread=30.0):
    corners = rng.uniform(0, spread, size=(n, 2))
    return np.hstack([corners, corners + rng.uniform(0.5, 15, size=(n, 2))])   # (n, 4) x1, y1, x2, y2


def _t(a):
    return torch.from_numpy(np.asarray(a))


def test_box_area_and_iou_match_torchvision():
    rng = _rng("box_iou")
    for config in range(N_CONFIGS):
        n, m = int(rng.integers(0, 12)), int(rng.integers(0, 12))
        b1, b2 = _boxes(rng, n), _boxes(rng, m)
        if n and m and config % 3 == 0:
            b2[0] = b1[0]                                          # an identical pair: IoU exactly 1
        np.testing.assert_allclose(box_area(b1), torchvision.ops.box_area(_t(b1)).numpy(), rtol=1e-12, atol=0)
        ours, theirs = box_iou(b1, b2), torchvision.ops.box_iou(_t(b1), _t(b2)).numpy()
        assert ours.shape == (n, m) == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
        if n and m and config % 3 == 0:
            assert ours[0, 0] == 1.0


def test_box_iou_edge_cases():
    a = np.array([[0.0, 0.0, 2.0, 2.0]])
    far, touching, inside = [[5.0, 5.0, 6.0, 6.0]], [[2.0, 0.0, 4.0, 2.0]], [[0.0, 0.0, 1.0, 1.0]]
    assert box_iou(a, far)[0, 0] == 0.0 and box_iou(a, touching)[0, 0] == 0.0
    assert box_iou(a, inside)[0, 0] == 0.25
    assert box_iou(np.array([[1, 1, 3, 3]]), np.array([[2, 2, 4, 4]]))[0, 0] == pytest.approx(1 / 7)   # ints work
    empty = np.array([[1.0, 1.0, 1.0, 1.0]])                       # zero area: 0 / 0, nan as in torchvision
    assert np.isnan(box_iou(empty, empty)[0, 0]) and np.isnan(torchvision.ops.box_iou(_t(empty), _t(empty)).numpy()[0, 0])


def _nms_case(rng, config):
    n = [0, 1, 2][config] if config < 3 else int(rng.integers(3, 80))
    b = _boxes(rng, n, spread=float(rng.choice([10.0, 30.0, 60.0])))
    s = rng.random(n)
    if config % 4 == 1:
        s = np.round(s, 1)                                         # many tied scores
    if config % 4 == 2 and n >= 4:
        b[n // 2:] = b[:n - n // 2]                                # duplicated boxes
    if config % 5 == 3:
        s[:] = 0.5                                                 # all tied
    threshold = [0.0, 1.0, float(rng.random())][config % 3]
    return b, s, threshold


def test_nms_matches_torchvision():
    rng = _rng("nms")
    for config in range(3 * N_CONFIGS):
        b, s, threshold = _nms_case(rng, config)
        ours = nms(b, s, threshold)
        theirs = torchvision.ops.nms(_t(b), _t(s), threshold).numpy()
        assert ours.dtype == np.int64 == theirs.dtype, (ours.dtype, theirs.dtype)
        np.testing.assert_array_equal(ours, theirs, err_msg=f"config {config}: n={len(b)}, threshold={threshold}")


def test_nms_properties():
    rng = _rng("nms properties")
    for _ in range(20):
        b, s = _boxes(rng, 40), rng.random(40)
        threshold = float(rng.random())
        keep = nms(b, s, threshold)
        assert np.all(np.diff(s[keep]) <= 0)                       # decreasing score
        iou = box_iou(b[keep], b[keep])
        assert np.all(iou[~np.eye(len(keep), dtype=bool)] <= threshold)   # no two kept boxes overlap too much
        dropped = np.setdiff1d(np.arange(40), keep)
        assert np.all((box_iou(b[dropped], b[keep]) > threshold).any(axis=1))   # each dropped box was suppressed
    b = _boxes(rng, 5)
    assert nms(b, np.arange(5.0), 1.0).tolist() == [4, 3, 2, 1, 0]           # threshold 1 keeps everything
    twice = np.vstack([b[:1], b[:1]])
    assert nms(twice, [0.3, 0.3], 0.99).tolist() == [0]                       # a duplicate is suppressed
    assert nms(twice, [0.3, 0.3], 1.0).tolist() == [0, 1]                     # ... unless IoU must exceed 1
    empty = nms(np.zeros((0, 4)), np.zeros(0), 0.5)
    assert empty.shape == (0,) and empty.dtype == np.int64
    assert nms(b.astype(np.float32), np.arange(5, dtype=np.float32), 0.5).dtype == np.int64


@pytest.mark.parametrize("call,error,match", [
    (lambda: box_area(np.zeros((3, 5))), ValueError, r"boxes must have shape \(N, 4\), got \(3, 5\)"),
    (lambda: box_iou(np.zeros(4), np.zeros((2, 4))), ValueError, r"boxes1 must have shape \(N, 4\), got \(4,\)"),
    (lambda: box_iou(np.zeros((2, 4)), np.zeros((2, 3))), ValueError, r"boxes2 must have shape \(N, 4\), got \(2, 3\)"),
    (lambda: box_iou(np.array([["a"] * 4]), np.zeros((1, 4))), TypeError, r"boxes1 must have a float or int"),
    (lambda: nms(np.zeros((3, 4)), np.zeros(2), 0.5), ValueError, r"scores must be one per box, shape \(3,\), got \(2,\)"),
    (lambda: nms(np.zeros((3, 4)), np.zeros((3, 1)), 0.5), ValueError, r"scores must have 1 dimension"),
    (lambda: nms(np.zeros((3, 4)), np.zeros(3), "0.5"), TypeError, r"iou_threshold must be a number"),
    (lambda: nms(np.zeros((3, 4)), np.zeros(3), float("nan")), ValueError, r"iou_threshold must be finite"),
])
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()
