"""Metrics and small helpers for semantic segmentation (chapter 08).

Every metric takes a predicted label map ``pred`` and the true label map ``target`` of the same shape
(any shape: one image ``(H, W)``, a batch ``(N, H, W)``, ...), with integer classes in
``0 .. n_classes - 1``. NumPy arrays and torch tensors are both accepted. ``pred`` may also be class
*scores* with one extra axis for the classes at position 1 (``(N, C, H, W)`` logits or probabilities for a
``(N, H, W)`` target): the predicted class is then their argmax over that axis.

Conventions (the exercises check against these):

* All pixels of all images are pooled into ONE confusion matrix (dataset-level scores, as in the
  PASCAL VOC and Cityscapes benchmarks), not averaged per image.
* ``confusion_matrix[t, p]`` counts the pixels of true class ``t`` predicted as ``p`` (rows = true class).
* For class ``c``, with ``TP`` = pixels correctly labelled ``c``, ``FP`` = pixels wrongly labelled ``c``
  and ``FN`` = pixels of class ``c`` labelled otherwise:
  ``IoU_c = TP / (TP + FP + FN)`` and ``Dice_c = 2 TP / (2 TP + FP + FN)``, so that
  ``Dice_c = 2 IoU_c / (1 + IoU_c)`` for every class.
* A class absent from both ``pred`` and ``target`` (``TP + FP + FN = 0``) has no score: ``NaN``, so that
  ``np.nanmean`` averages over the classes that occur. A class present in only one of them scores 0.
* An optional boolean ``mask`` of ``target``'s shape restricts every count to the pixels where it is True
  (:func:`boundary_iou` uses it with :func:`boundary_band`).

>>> import numpy as np
>>> t = np.array([[0, 0, 1, 1]]); p = np.array([[0, 1, 1, 1]])
>>> confusion_matrix(p, t, 2).tolist()
[[1, 1], [0, 2]]
>>> iou_per_class(p, t, 2).tolist(), dice_per_class(p, t, 2).round(3).tolist(), pixel_accuracy(p, t)
([0.5, 0.6666666666666666], [0.667, 0.8], 0.75)
"""
from __future__ import annotations

import time

import numpy as np

from dlcourse.validate import check_arg, check_array, check_choice, check_float, check_int

__all__ = ["confusion_matrix", "iou_per_class", "dice_per_class", "pixel_accuracy", "boundary_band",
           "boundary_iou", "predict", "fit_segmenter"]


def _labels(pred, target, n_classes: int, mask=None):
    """Validate and flatten: returns (pred, target) as 1-D int64 arrays (only the masked pixels)."""
    check_int("n_classes", n_classes, 1)
    target = check_array("target", target, dtype_kind="iub")
    pred = check_array("pred", pred, dtype_kind="fiub")
    if pred.ndim == target.ndim + 1 and pred.ndim >= 2:                  # scores (N, C, ...) -> labels
        check_arg("pred", f"scores of shape {pred.shape}", pred.shape[1] == n_classes,
                  f"scores with n_classes={n_classes} entries on axis 1")
        pred = pred.argmax(axis=1)
    elif pred.dtype.kind == "f":
        check_arg("pred", f"a float array of shape {pred.shape}", np.all(pred == np.round(pred)),
                  "integer class labels (or scores with one extra class axis at position 1)")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape (or pred = scores (N, C, ...) for a "
                         f"target (N, ...)), got {pred.shape} and {target.shape}")
    shape = target.shape
    pred, target = pred.astype(np.int64).ravel(), target.astype(np.int64).ravel()
    for name, a in (("pred", pred), ("target", target)):
        if a.size and (a.min() < 0 or a.max() >= n_classes):
            raise ValueError(f"{name} must hold classes in 0..{n_classes - 1} (n_classes={n_classes}), "
                             f"got values in {a.min()}..{a.max()}")
    if mask is not None:
        mask = check_array("mask", mask, dtype_kind="b")
        if mask.shape != shape:
            raise ValueError(f"mask must have target's shape {shape}, got {mask.shape}")
        mask = mask.ravel()
        pred, target = pred[mask], target[mask]
    return pred, target


def confusion_matrix(pred, target, n_classes: int, mask=None) -> np.ndarray:
    """Pixel counts ``(n_classes, n_classes)`` int64: entry ``[t, p]`` = pixels of true class ``t``
    predicted as ``p`` (rows = true class, columns = predicted class), pooled over all pixels (only those
    where ``mask`` is True, when given)."""
    pred, target = _labels(pred, target, n_classes, mask)
    return np.bincount(target * n_classes + pred, minlength=n_classes ** 2).reshape(n_classes, n_classes)


def _tp_fp_fn(pred, target, n_classes, mask):
    cm = confusion_matrix(pred, target, n_classes, mask).astype(np.float64)
    tp = np.diag(cm)
    return tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp          # column sums - TP = FP; row sums - TP = FN


def iou_per_class(pred, target, n_classes: int, mask=None) -> np.ndarray:
    """Intersection over union per class ``(n_classes,)`` float64: ``TP / (TP + FP + FN)``, NaN for a class
    absent from both ``pred`` and ``target`` (see the module's conventions)."""
    tp, fp, fn = _tp_fp_fn(pred, target, n_classes, mask)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tp + fp + fn > 0, tp / (tp + fp + fn), np.nan)


def dice_per_class(pred, target, n_classes: int, mask=None) -> np.ndarray:
    """Dice coefficient (F1 score) per class ``(n_classes,)`` float64: ``2 TP / (2 TP + FP + FN)``, NaN for a
    class absent from both ``pred`` and ``target``; equals ``2 IoU / (1 + IoU)`` class by class."""
    tp, fp, fn = _tp_fp_fn(pred, target, n_classes, mask)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)


def pixel_accuracy(pred, target, n_classes: int | None = None, mask=None) -> float:
    """Fraction of (masked) pixels whose predicted class equals the true one. ``n_classes`` is only needed
    when ``pred`` holds scores or to check the label range; by default it is taken from the labels."""
    if n_classes is None:
        t = check_array("target", target, dtype_kind="iub")
        p = check_array("pred", pred, dtype_kind="fiub")
        if p.ndim == t.ndim + 1 and p.ndim >= 2:
            n_classes = p.shape[1]
        else:
            n_classes = int(max(t.max(initial=0), p.max(initial=0))) + 1
    pred, target = _labels(pred, target, n_classes, mask)
    check_arg("pred", "an empty selection", target.size > 0, "non-empty (at least one pixel to score)")
    return float(np.mean(pred == target))


def boundary_band(mask, width: int = 1) -> np.ndarray:
    """Boolean map of the pixels within ``width`` pixels of a class boundary in the label map ``mask``.

    A pixel belongs to the band when the ``(2 width + 1) x (2 width + 1)`` square centred on it (cut at
    the image border) holds more than one class, i.e. a pixel of another class lies within Chebyshev
    distance ``width``. ``width=1`` marks the pixels on both sides of every boundary; the image border itself
    is not a boundary. ``mask`` is ``(H, W)`` or a batch ``(N, H, W)`` (or more leading axes); the
    result has its shape.

    >>> boundary_band(np.array([[0, 0, 0, 1, 1]]), width=1).astype(int).tolist()
    [[0, 0, 1, 1, 0]]
    """
    width = check_int("width", width, 1)
    m = check_array("mask", mask, dtype_kind="iub")
    check_arg("mask", f"an array of shape {m.shape}", m.ndim >= 2, "a label map (H, W) or a batch (N, H, W)")
    m = m.astype(np.int64)
    H, W = m.shape[-2:]
    pad = [(0, 0)] * (m.ndim - 2) + [(width, width), (width, width)]
    lo = np.pad(m, pad, mode="constant", constant_values=np.iinfo(np.int64).max)   # ignored by min
    hi = np.pad(m, pad, mode="constant", constant_values=np.iinfo(np.int64).min)   # ignored by max
    mn, mx = m.copy(), m.copy()
    for dy in range(2 * width + 1):
        for dx in range(2 * width + 1):
            np.minimum(mn, lo[..., dy:dy + H, dx:dx + W], out=mn)
            np.maximum(mx, hi[..., dy:dy + H, dx:dx + W], out=mx)
    return mn != mx


def boundary_iou(pred, target, n_classes: int, width: int = 1) -> np.ndarray:
    """IoU per class ``(n_classes,)`` counted only on the pixels near the TRUE boundaries:
    :func:`iou_per_class` with ``mask = boundary_band(target, width)``. Interiors of large regions, which
    every model gets right, no longer dilute the score, so it measures how sharp the predicted edges are.
    NaN for a class with no pixel in the band (in pred or target)."""
    band = boundary_band(target, width)
    return iou_per_class(pred, target, n_classes, mask=band)


def predict(model, images, batch_size: int = 250):
    """Predicted label maps ``(N, H, W)`` int64 (NumPy) of ``model`` on ``images`` ``(N, C, H, W)``:
    the argmax over the class scores ``(N, n_classes, H, W)``, in eval mode and without gradients (the
    model is put back in the mode it was in). Runs on the device of the model's parameters."""
    import torch

    check_int("batch_size", batch_size, 1)
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    check_arg("images", f"shape {tuple(x.shape)}", x.ndim == 4, "a batch (N, C, H, W)")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = [model(x[i:i + batch_size].to(device).float()).argmax(1).cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy().astype(np.int64)


def fit_segmenter(model, images, masks, loss_fn, steps: int, lr: float, batch_size: int = 8,
                  seed: int = 0, device=None, schedule: str = "constant") -> float:
    """Train ``model`` (scores ``(N, C, H, W)``) on ``images (N, 3, H, W)`` and ``masks (N, H, W)`` with Adam
    for ``steps`` mini-batches of ``batch_size`` images, ``loss_fn(scores, masks)`` per batch, the images
    taken in passes over the data, each in a random order drawn from ``seed``. ``schedule="constant"``
    keeps the learning rate at ``lr``; ``schedule="one_cycle"`` follows
    ``torch.optim.lr_scheduler.OneCycleLR(max_lr=lr, total_steps=steps)`` (up from ``lr / 25`` in the
    first 30% of the steps, then down to almost 0), stepped after every batch. Returns the training time
    in seconds.

    This is chapter 08's training loop, packed for re-use: a model built right after
    ``torch.manual_seed(seed)``, given the chapter's head bias (the log class frequencies) and trained here
    with ``schedule="one_cycle"``, equals the chapter's ``train(Net, lr, loss_fn, seed)`` with the same
    ``steps``.
    """
    import torch

    check_int("steps", steps, 1)
    check_float("lr", lr, 0.0, low_open=True)
    check_int("batch_size", batch_size, 1)
    check_int("seed", seed, 0)
    check_choice("schedule", schedule, ["constant", "one_cycle"])
    x, y = torch.as_tensor(np.asarray(images)), torch.as_tensor(np.asarray(masks))
    check_arg("masks", f"shape {tuple(y.shape)}", x.ndim == 4 and y.shape == (x.shape[0], *x.shape[2:]),
              "(N, H, W) for images (N, C, H, W)")
    device = device or next(model.parameters()).device
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = (torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
             if schedule == "one_cycle" else None)
    g = torch.Generator().manual_seed(seed)
    order = torch.cat([torch.randperm(len(x), generator=g) for _ in range(batch_size * steps // len(x) + 1)])
    model.train()
    start = time.perf_counter()
    for idx in order[:batch_size * steps].view(steps, batch_size):          # (steps, batch_size) indices
        loss = loss_fn(model(x[idx].to(device)), y[idx].to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
    return time.perf_counter() - start
