"""dlcourse.segmentation: confusion matrix, IoU, Dice, pixel accuracy, boundary band and boundary IoU on
hand-computed examples, their conventions (pooled pixels, rows = true class, NaN for absent classes),
the identity Dice = 2 IoU / (1 + IoU), scores accepted as predictions, torch tensors, clear errors, and the
small predict/fit helpers."""
import numpy as np
import pytest
import torch
from torch import nn

from dlcourse.segmentation import (boundary_band, boundary_iou, confusion_matrix, dice_per_class,
                                   fit_segmenter, iou_per_class, pixel_accuracy, predict)

# a 3x4 example counted by hand: true class in rows of the confusion matrix
T = np.array([[0, 0, 1, 1],
              [0, 2, 2, 1],
              [0, 0, 2, 2]])
P = np.array([[0, 1, 1, 1],
              [0, 2, 0, 1],
              [0, 0, 2, 1]])


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(P, T, 3)
    # true 0: four 0s, one 1 (at [0,1]); true 1: three 1s; true 2: two 2s, one 0 ([1,2]), one 1 ([2,3])
    assert cm.tolist() == [[4, 1, 0], [0, 3, 0], [1, 1, 2]]
    assert cm.dtype == np.int64 and cm.sum() == T.size


def test_iou_dice_accuracy_by_hand():
    iou = iou_per_class(P, T, 3)
    # class 0: TP 4, FP 1, FN 1 -> 4/6; class 1: TP 3, FP 2, FN 0 -> 3/5; class 2: TP 2, FP 0, FN 2 -> 2/4
    np.testing.assert_allclose(iou, [4 / 6, 3 / 5, 2 / 4])
    np.testing.assert_allclose(dice_per_class(P, T, 3), [8 / 10, 6 / 8, 4 / 6])
    assert pixel_accuracy(P, T) == pytest.approx(9 / 12)
    assert pixel_accuracy(P, T, 3) == pytest.approx(9 / 12)


def test_pooled_over_images_not_averaged():
    t = np.stack([T, np.zeros_like(T)])
    p = np.stack([P, np.zeros_like(P)])
    cm = confusion_matrix(p, t, 3)
    assert cm.tolist() == [[4 + 12, 1, 0], [0, 3, 0], [1, 1, 2]]
    np.testing.assert_allclose(iou_per_class(p, t, 3)[0], 16 / 18)


def test_absent_class_is_nan_and_one_sided_class_is_zero():
    t = np.array([[0, 0], [1, 1]])
    p = np.array([[0, 0], [1, 2]])          # class 3 nowhere; class 2 only predicted
    iou = iou_per_class(p, t, 4)
    dice = dice_per_class(p, t, 4)
    assert np.isnan(iou[3]) and np.isnan(dice[3])
    assert iou[2] == 0 and dice[2] == 0
    assert iou[0] == 1 and iou[1] == 0.5
    assert np.nanmean(iou[1:]) == pytest.approx(0.25)


def test_perfect_and_all_wrong():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 4, size=(3, 8, 8))
    np.testing.assert_array_equal(iou_per_class(t, t, 4), np.ones(4))
    np.testing.assert_array_equal(dice_per_class(t, t, 4), np.ones(4))
    assert pixel_accuracy(t, t) == 1.0
    wrong = (t + 1) % 4
    assert pixel_accuracy(wrong, t) == 0.0
    np.testing.assert_array_equal(iou_per_class(wrong, t, 4), np.zeros(4))


@pytest.mark.parametrize("seed", range(10))
def test_dice_iou_identity_and_confusion_totals(seed):
    rng = np.random.default_rng(seed)
    C = int(rng.integers(2, 6))
    t = rng.integers(0, C, size=(int(rng.integers(1, 4)), 9, 7))
    p = np.where(rng.random(t.shape) < 0.6, t, rng.integers(0, C, size=t.shape))
    iou, dice = iou_per_class(p, t, C), dice_per_class(p, t, C)
    ok = ~np.isnan(iou)
    np.testing.assert_allclose(dice[ok], 2 * iou[ok] / (1 + iou[ok]))
    np.testing.assert_array_equal(np.isnan(iou), np.isnan(dice))
    cm = confusion_matrix(p, t, C)
    np.testing.assert_array_equal(cm.sum(1), np.bincount(t.ravel(), minlength=C))   # rows = true class
    np.testing.assert_array_equal(cm.sum(0), np.bincount(p.ravel(), minlength=C))
    assert pixel_accuracy(p, t, C) == pytest.approx(np.trace(cm) / t.size)


def test_scores_torch_tensors_and_bool_masks():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 3, size=(2, 5, 6))
    scores = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    p = scores.argmax(1)
    np.testing.assert_array_equal(confusion_matrix(scores, t, 3), confusion_matrix(p, t, 3))
    np.testing.assert_array_equal(confusion_matrix(torch.from_numpy(scores), torch.from_numpy(t), 3),
                                  confusion_matrix(p, t, 3))
    assert pixel_accuracy(torch.from_numpy(scores), torch.from_numpy(t)) == pixel_accuracy(p, t)
    np.testing.assert_allclose(iou_per_class(p > 0, t > 0, 2), iou_per_class((p > 0) * 1, (t > 0) * 1, 2))
    mask = rng.random(t.shape) < 0.5
    np.testing.assert_array_equal(confusion_matrix(p, t, 3, mask=mask), confusion_matrix(p[mask], t[mask], 3))


def test_boundary_band_by_hand():
    m = np.zeros((5, 5), np.int64)
    m[1:4, 1:4] = 1                          # a 3x3 square; its centre (2, 2) is 1 pixel from the boundary
    band = boundary_band(m, width=1)
    assert band.sum() == 24 and not band[2, 2]        # every pixel but the centre has another class nearby
    wide = boundary_band(m, width=2)
    assert wide.all()
    m2 = np.zeros((7, 7), np.int64)
    m2[:, 4:] = 2                            # a vertical edge between columns 3 and 4
    b = boundary_band(m2, width=1)
    assert b.dtype == bool and b.shape == m2.shape
    np.testing.assert_array_equal(b.any(0), [False, False, False, True, True, False, False])
    np.testing.assert_array_equal(boundary_band(m2, width=2).any(0), [0, 0, 1, 1, 1, 1, 0])
    assert not boundary_band(np.full((4, 4), 3)).any()          # one class: no boundary, border ignored


def test_boundary_band_batch_equals_per_image():
    rng = np.random.default_rng(2)
    m = rng.integers(0, 2, size=(3, 6, 6))
    batch = boundary_band(torch.from_numpy(m), width=1)
    for i in range(3):
        np.testing.assert_array_equal(batch[i], boundary_band(m[i], width=1))


def test_boundary_iou_ignores_interiors():
    t = np.zeros((9, 9), np.int64)
    t[2:7, 2:7] = 1                          # a 5x5 square
    fat = np.zeros_like(t)
    fat[1:8, 1:8] = 1                        # one pixel too large all round
    band = boundary_band(t, 1)
    np.testing.assert_allclose(boundary_iou(fat, t, 2), iou_per_class(fat, t, 2, mask=band))
    # the band: the square's inner ring (16 pixels of class 1) and the ring around it (24 of class 0),
    # all 40 predicted 1 -> IoU of class 1 = 16 / 40, of class 0 = 0 / 24
    np.testing.assert_allclose(boundary_iou(fat, t, 2), [0.0, 16 / 40])
    assert boundary_iou(fat, t, 2)[1] < iou_per_class(fat, t, 2)[1]      # edges weigh more
    assert boundary_iou(t, t, 2, width=2).tolist() == [1.0, 1.0]


def test_errors_name_the_argument():
    t = np.zeros((2, 3), np.int64)
    with pytest.raises(ValueError, match="same shape"):
        iou_per_class(np.zeros((3, 2), np.int64), t, 2)
    with pytest.raises(ValueError, match="target must hold classes in 0..1"):
        iou_per_class(t, t + 2, 2)
    with pytest.raises(ValueError, match="pred must hold classes"):
        dice_per_class(t - 1, t, 2)
    with pytest.raises(TypeError, match="n_classes"):
        confusion_matrix(t, t, 2.0)
    with pytest.raises(ValueError, match="n_classes"):
        confusion_matrix(t, t, 0)
    with pytest.raises(TypeError, match="target"):
        iou_per_class(t, t.astype(np.float32), 2)
    with pytest.raises(ValueError, match="pred"):
        iou_per_class(np.full((2, 3), 0.5), t, 2)
    with pytest.raises(ValueError, match="n_classes=3"):
        iou_per_class(np.zeros((1, 2, 2, 3)), t[None], 3)
    with pytest.raises(ValueError, match="mask"):
        iou_per_class(t, t, 2, mask=np.ones((3, 2), bool))
    with pytest.raises(ValueError, match="width"):
        boundary_band(t, width=0)
    with pytest.raises(ValueError, match="mask"):
        boundary_band(np.zeros(5, np.int64))
    with pytest.raises(ValueError, match="pred"):
        pixel_accuracy(t, t, 2, mask=np.zeros((2, 3), bool))


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        return self.conv(x)


def test_predict_and_fit_segmenter():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((40, 3, 6, 6)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)                 # a per-pixel rule a 1x1 conv can learn
    model = _Tiny()
    seconds = fit_segmenter(model, x, y, nn.functional.cross_entropy, steps=150, lr=0.1, batch_size=8)
    assert seconds > 0 and model.training
    p = predict(model, x, batch_size=7)
    assert p.shape == y.shape and p.dtype == np.int64 and model.training
    assert pixel_accuracy(p, y) > 0.95
    with pytest.raises(ValueError, match="masks"):
        fit_segmenter(model, x, y[:, :3], nn.functional.cross_entropy, steps=1, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        fit_segmenter(model, x, y, nn.functional.cross_entropy, steps=1, lr=0.0)
    with pytest.raises(ValueError, match="schedule"):
        fit_segmenter(model, x, y, nn.functional.cross_entropy, steps=1, lr=0.1, schedule="cosine")


@pytest.mark.parametrize("schedule", ["constant", "one_cycle"])
def test_fit_segmenter_equals_the_chapter_loop(schedule):
    """The loop written out in chapter 08 (steps of shuffled passes, one-cycle schedule) and fit_segmenter
    give equal weights."""
    rng = np.random.default_rng(3)
    x = rng.random((10, 3, 4, 4)).astype(np.float32)
    y = rng.integers(0, 2, size=(10, 4, 4))
    torch.manual_seed(5)
    ours = _Tiny()
    fit_segmenter(ours, x, y, nn.functional.cross_entropy, steps=7, lr=0.01, batch_size=4, seed=5,
                  schedule=schedule)
    torch.manual_seed(5)
    model = _Tiny()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    if schedule == "one_cycle":                          # (the constructor already sets lr to 0.01 / 25)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=7)
    g = torch.Generator().manual_seed(5)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    order = torch.cat([torch.randperm(10, generator=g) for _ in range(4 * 7 // 10 + 1)])
    for idx in order[:28].view(7, 4):
        loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if schedule == "one_cycle":
            sched.step()
    for a, b in zip(ours.parameters(), model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
