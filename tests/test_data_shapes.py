"""dlcourse.data.shapes: the segmentation/detection images (shapes, masks agree, boxes as torchvision's,
determinism, class balance, clear errors, speed)."""
import time

import numpy as np
import pytest
import torch
from torchvision.ops import masks_to_boxes

from dlcourse import data


@pytest.fixture(scope="module")
def d():
    return data.shapes(n=1000, seed=0)


def test_shapes_and_dtypes(d):
    assert len(d) == 1000 and d.n_classes == 4 and d.class_names == data.SHAPE_CLASSES
    assert d.images.shape == (1000, 3, 32, 32) and d.images.dtype == np.float32
    assert d.semantic.shape == d.instances.shape == (1000, 32, 32)
    assert d.semantic.dtype == d.instances.dtype == np.int64
    assert len(d.boxes) == len(d.labels) == 1000
    for b, lab in zip(d.boxes, d.labels):
        assert b.dtype == np.float32 and lab.dtype == np.int64 and b.shape == (len(lab), 4)
    other = data.shapes(n=5, size=48, max_objects=5, seed=1)
    assert other.images.shape == (5, 3, 48, 48) and other.instances.max() <= 5


def test_value_ranges_and_object_counts(d):
    assert 0.0 <= d.images.min() and d.images.max() <= 1.0
    assert set(np.unique(d.semantic)) <= {0, 1, 2, 3}
    counts = np.array([len(lab) for lab in d.labels])
    assert counts.min() >= 1 and counts.max() <= 3
    assert np.array_equal(d.instances.max(axis=(1, 2)), counts)           # ids 1..k, all used
    assert all(set(lab) <= {1, 2, 3} for lab in d.labels)


def test_masks_agree_and_boxes_equal_torchvision(d):
    for i in range(len(d)):
        inst, sem, lab = d.instances[i], d.semantic[i], d.labels[i]
        assert np.all(sem[inst == 0] == 0)
        lut = np.concatenate([[0], lab])
        assert np.array_equal(sem, lut[inst])                             # class of each instance pixel
        masks = torch.from_numpy(inst)[None] == torch.arange(1, len(lab) + 1)[:, None, None]
        assert masks.flatten(1).sum(1).min() >= 4                          # min_visible
        np.testing.assert_array_equal(d.boxes[i], masks_to_boxes(masks).numpy())


def test_deterministic_and_seed_dependent():
    a, b, c = data.shapes(n=50, seed=3), data.shapes(n=50, seed=3), data.shapes(n=50, seed=4)
    for f in ("images", "semantic", "instances"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
    assert all(np.array_equal(x, y) for x, y in zip(a.boxes + a.labels, b.boxes + b.labels))
    assert not np.array_equal(a.images, c.images) and not np.array_equal(a.semantic, c.semantic)


def test_class_balance(d):
    counts = np.bincount(np.concatenate(d.labels), minlength=4)[1:]
    assert counts.sum() > 1500 and counts.min() > 0.85 * counts.max(), counts


def test_occlusion_happens_and_hidden_objects_are_dropped():
    big = dict(n=300, radius=(0.2, 0.3), seed=0)                  # big shapes overlap often
    d, keep_all = data.shapes(min_visible=30, **big), data.shapes(min_visible=1, **big)
    # two instances touching (4-neighbours) in an image: one covers part of the other
    inst = keep_all.instances
    touch = [(a != b) & (a > 0) & (b > 0) for a, b in
             ((inst[:, 1:], inst[:, :-1]), (inst[:, :, 1:], inst[:, :, :-1]))]
    assert sum(t.any(axis=(1, 2)).sum() for t in touch) > 30
    # same draws: dropping small objects removes labels and never adds foreground
    assert sum(map(len, d.labels)) < sum(map(len, keep_all.labels))
    assert not np.any((d.semantic > 0) & (keep_all.semantic == 0))


def test_image_shows_exactly_the_visible_objects():
    d = data.shapes(n=200, noise=0.0, seed=5)
    for i in range(len(d)):
        img = d.images[i].reshape(3, -1)
        inst = d.instances[i].ravel()
        for k in range(1, len(d.labels[i]) + 1):
            colours = img[:, inst == k]
            assert np.ptp(colours, axis=1).max() == 0                 # one flat colour per object
            # and clearly different from the background right next to its box
            assert np.abs(colours[:, 0] - img[:, inst == 0].mean(1)).max() > 0.1


def test_subsets(d):
    part = d[10:20]
    assert len(part) == 10 and np.array_equal(part.images, d.images[10:20])
    assert part.boxes[0] is d.boxes[10]
    picked = d[np.array([3, 1])]
    assert np.array_equal(picked.instances[1], d.instances[1]) and picked.labels[0] is d.labels[3]
    with pytest.raises(TypeError, match=r"d\[3:4\]"):
        d[3]
    assert "1000 images" in repr(d)


@pytest.mark.parametrize("kwargs, error, name", [
    (dict(n=0), ValueError, "n"),
    (dict(n=2.5), TypeError, "n"),
    (dict(size=4), ValueError, "size"),
    (dict(max_objects=0), ValueError, "max_objects"),
    (dict(noise=-0.1), ValueError, "noise"),
    (dict(noise="a"), TypeError, "noise"),
    (dict(texture=2.0), ValueError, "texture"),
    (dict(radius=0.2), ValueError, "radius"),
    (dict(radius=(0.0, 0.2)), ValueError, "radius"),
    (dict(radius=(0.3, 0.2)), ValueError, "radius"),
    (dict(radius=(0.1, 0.5)), ValueError, "radius"),
    (dict(rotate="yes"), ValueError, "rotate"),
    (dict(min_visible=0), ValueError, "min_visible"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(radius=(0.05, 0.05), size=16, min_visible=50), ValueError, "min_visible"),
])
def test_bad_arguments_name_the_argument(kwargs, error, name):
    with pytest.raises(error, match=name):
        data.shapes(**{"n": 20, **kwargs})


def test_rotated_shapes_keep_the_contract():
    d = data.shapes(n=200, rotate=True, seed=2)
    for i in range(len(d)):
        masks = torch.from_numpy(d.instances[i])[None] == torch.arange(1, len(d.labels[i]) + 1)[:, None, None]
        np.testing.assert_array_equal(d.boxes[i], masks_to_boxes(masks).numpy())
    assert min(len(lab) for lab in d.labels) >= 1


def test_3000_images_in_well_under_3_seconds():
    data.shapes(n=10)                                          # imports, first-call overhead
    t = time.process_time()
    d = data.shapes(n=3000, seed=1)
    elapsed = time.process_time() - t
    assert len(d) == 3000 and elapsed < 3.0, elapsed
