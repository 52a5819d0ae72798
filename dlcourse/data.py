"""Every dataset of the course: offline, deterministic, returned as NumPy arrays.

All classification loaders return a :class:`Split` whose arrays follow one convention:

- ``X_*``: ``float32``; tabular/flattened data has shape ``(N, D)``, images ``(N, 1, H, W)``,
  sequences ``(N, L)``;
- ``y_*``: ``int64`` class labels in ``0 .. n_classes-1``, shape ``(N,)``.

The segmentation/detection images of :func:`shapes` come as a :class:`Shapes` (images, masks, boxes).
The same ``seed`` always gives the same arrays. Nothing here downloads anything.

>>> d = load_digits()
>>> d.X_train.shape, d.X_train.dtype, d.y_train.dtype
((1347, 64), dtype('float32'), dtype('int64'))
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .validate import check_arg, check_array, check_choice, check_float, check_int, check_same_length

__all__ = ["Split", "load_digits", "load_mnist1d", "make_toy", "TOYS", "LINEAR_SEPARATOR", "to_loader",
           "Shapes", "shapes", "SHAPE_CLASSES"]


@dataclass(frozen=True)
class Split:
    """Train/test (and optionally validation) arrays of one dataset.

    Attributes:
        X_train: inputs, ``(N_train, ...)`` float32.
        y_train: labels, ``(N_train,)`` int64.
        X_test, y_test: the held-out test set; never used to choose settings.
        X_val, y_val: a validation split carved out of the training data when ``val_size > 0``,
            else ``None``. Choose hyper-parameters on it.
        name: dataset name; ``n_classes``: number of classes.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    name: str = ""
    n_classes: int = 0
    info: dict = field(default_factory=dict)

    def __repr__(self) -> str:  # a readable one-liner for notebooks
        parts = [f"train {self.X_train.shape}"]
        if self.X_val is not None:
            parts.append(f"val {self.X_val.shape}")
        parts.append(f"test {self.X_test.shape}")
        return f"Split({self.name!r}: {', '.join(parts)}, {self.n_classes} classes)"


def _split(X, y, test_size, val_size, seed, name, n_classes, info=None) -> Split:
    """Stratified train/val/test split with scikit-learn."""
    from sklearn.model_selection import train_test_split

    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    X_va = y_va = None
    if val_size > 0:
        X_tr, X_va, y_tr, y_va = train_test_split(
            X_tr, y_tr, test_size=val_size, random_state=seed + 1, stratify=y_tr)
    return Split(X_tr, y_tr, X_te, y_te, X_va, y_va, name=name, n_classes=n_classes, info=info or {})


def _check_sizes(test_size, val_size):
    check_float("test_size", test_size, 0.0, 1.0, low_open=True, high_open=True)
    check_float("val_size", val_size, 0.0, 1.0, high_open=True)


def load_digits(size: int = 8, flatten: bool = True, test_size: float = 0.25, val_size: float = 0.0,
                seed: int = 0) -> Split:
    """scikit-learn's 1797 real 8x8 handwritten digits (bundled with scikit-learn, no download).

    Args:
        size: image side, 8 (original) or 16 (bilinearly upsampled, as in LeCun's 1989 16x16 digits).
        flatten: ``True`` gives ``X`` of shape ``(N, size*size)``; ``False`` gives ``(N, 1, size, size)``.
        test_size: fraction held out for testing, in (0, 1).
        val_size: fraction of the *training* part held out for validation, in [0, 1).
        seed: seed of the (stratified) split.

    Returns:
        :class:`Split` with pixel values scaled to [0, 1] (float32) and labels 0..9 (int64).
    """
    check_int("size", size)
    if size not in (8, 16):
        raise ValueError(f"size must be 8 or 16, got {size}")
    _check_sizes(test_size, val_size)
    check_int("seed", seed, 0)
    from sklearn.datasets import load_digits as _load

    raw = _load()
    X = (raw.images / 16.0).astype(np.float32)[:, None]          # (1797, 1, 8, 8) in [0, 1]
    if size == 16:
        import torch
        import torch.nn.functional as F

        X = F.interpolate(torch.from_numpy(X), size=(16, 16), mode="bilinear",
                          align_corners=False).numpy()            # (1797, 1, 16, 16)
    if flatten:
        X = X.reshape(len(X), -1)
    y = raw.target.astype(np.int64)
    return _split(X, y, test_size, val_size, seed, f"digits{size}", 10)


@lru_cache(maxsize=4)
def _mnist1d_arrays(shuffle_seq: bool):
    """Generate MNIST-1D procedurally (5000 samples; Greydanus 2020). Never downloads."""
    from mnist1d.data import get_dataset_args, make_dataset

    state = np.random.get_state()  # make_dataset seeds NumPy's global state: restore it afterwards
    try:
        args = get_dataset_args()
        args.shuffle_seq = shuffle_seq
        d = make_dataset(args)
    finally:
        np.random.set_state(state)
    return (d["x"].astype(np.float32), d["y"].astype(np.int64),
            d["x_test"].astype(np.float32), d["y_test"].astype(np.int64))


def load_mnist1d(val_size: float = 0.0, shuffle_seq: bool = False, seed: int = 0) -> Split:
    """MNIST-1D (Greydanus 2020): 4000 train / 1000 test sequences of length 40, 10 classes.

    Generated with ``mnist1d``'s ``make_dataset(get_dataset_args())`` (the paper's default arguments,
    its own seed 42), so the numbers match the published benchmark. ``seed`` only affects the
    validation split.

    Args:
        val_size: fraction of the 4000 training sequences held out for validation, in [0, 1).
        shuffle_seq: permute the 40 positions with one fixed permutation (the paper's "shuffled"
            variant that destroys spatial structure).
        seed: seed of the validation split.

    Returns:
        :class:`Split` with ``X`` of shape ``(N, 40)`` float32 and ``y`` of shape ``(N,)`` int64.
    """
    check_float("val_size", val_size, 0.0, 1.0, high_open=True)
    check_int("seed", seed, 0)
    X_tr, y_tr, X_te, y_te = (a.copy() for a in _mnist1d_arrays(bool(shuffle_seq)))
    X_va = y_va = None
    if val_size > 0:
        from sklearn.model_selection import train_test_split

        X_tr, X_va, y_tr, y_va = train_test_split(X_tr, y_tr, test_size=val_size, random_state=seed,
                                                  stratify=y_tr)
    return Split(X_tr, y_tr, X_te, y_te, X_va, y_va, name="mnist1d", n_classes=10,
                 info={"shuffle_seq": bool(shuffle_seq)})


# ----------------------------------------------------------------------------------------------
# 2-D toys
def _spirals(n, noise, rng, turns=1.5):
    """Two interleaved spirals, n points in total."""
    n0 = n // 2
    t = np.sqrt(rng.uniform(0.05, 1, size=n)) * turns * 2 * np.pi      # radius grows with angle
    y = (np.arange(n) >= n0).astype(np.int64)
    angle = t + np.pi * y
    X = np.stack([t * np.cos(angle), t * np.sin(angle)], 1) / (turns * 2 * np.pi)
    return X + noise * rng.normal(size=X.shape), y


def _xor(n, noise, rng):
    """Four Gaussian clusters at (+-1, +-1); label = XOR of the signs."""
    centers = np.array([[-1, -1], [1, 1], [-1, 1], [1, -1]], float)
    k = rng.integers(0, 4, size=n)
    X = centers[k] + noise * rng.normal(size=(n, 2))
    return X, (k >= 2).astype(np.int64)


#: the line that separates the "linear" toy: label 1 where ``X @ w + b > 0`` (w has unit norm)
LINEAR_SEPARATOR = (np.array([1.0, -0.7]) / np.linalg.norm([1.0, -0.7]), 0.2)


def _linear(n, noise, rng, margin=0.1):
    """Points in [-2, 2]^2 labelled by the side of LINEAR_SEPARATOR; those closer than margin are dropped."""
    w, b = LINEAR_SEPARATOR
    X = np.empty((0, 2))
    while len(X) < n:
        cand = rng.uniform(-2, 2, size=(2 * n, 2))
        cand = cand[np.abs(cand @ w + b) >= margin]
        X = np.concatenate([X, cand])
    X = X[:n]
    y = (X @ w + b > 0).astype(np.int64)
    return X + noise * rng.normal(size=X.shape), y




def _moons(n, noise, rng):
    from sklearn.datasets import make_moons
    return make_moons(n, noise=noise, random_state=int(rng.integers(2**31)))


def _circles(n, noise, rng):
    from sklearn.datasets import make_circles
    return make_circles(n, noise=noise, factor=0.5, random_state=int(rng.integers(2**31)))


def _blobs(n, noise, rng):
    from sklearn.datasets import make_blobs
    return make_blobs(n, centers=3, cluster_std=max(noise, 1e-3) * 4, random_state=int(rng.integers(2**31)))


#: name -> (generator, default noise, number of classes)
TOYS = {
    "linear": (_linear, 0.0, 2),
    "moons": (_moons, 0.2, 2),
    "circles": (_circles, 0.1, 2),
    "spirals": (_spirals, 0.05, 2),
    "blobs": (_blobs, 0.25, 3),
    "xor": (_xor, 0.3, 2),
}


def make_toy(name: str, n: int = 400, noise: float | None = None, test_size: float = 0.25,
             val_size: float = 0.0, seed: int = 0, margin: float | None = None) -> Split:
    """A 2-D toy classification problem, for decision-boundary pictures.

    Args:
        name: one of ``"linear"`` (separable with a margin), ``"moons"``, ``"circles"``,
            ``"spirals"``, ``"blobs"`` (3 classes), ``"xor"``.
        n: total number of points (train + val + test), at least 8.
        noise: standard deviation of the Gaussian noise added to the points; ``None`` uses the
            toy's default (``TOYS[name][1]``).
        test_size, val_size, seed: as in :func:`load_digits`.
        margin: only for ``"linear"``: no point lies closer than ``margin`` to the separating line
            :data:`LINEAR_SEPARATOR` (default 0.1), so the data is separable with that margin.

    Returns:
        :class:`Split` with ``X`` of shape ``(N, 2)`` float32 and ``y`` of shape ``(N,)`` int64.
    """
    check_choice("toy name", name, TOYS)
    check_int("n", n, 8)
    _check_sizes(test_size, val_size)
    check_int("seed", seed, 0)
    maker, default_noise, n_classes = TOYS[name]
    noise = default_noise if noise is None else check_float("noise", noise, 0.0)
    rng = np.random.default_rng(seed)
    if margin is not None:
        if name != "linear":
            raise ValueError(f"margin is only defined for the 'linear' toy, not {name!r}")
        check_float("margin", margin, 0.0, 1.0, high_open=True)
        X, y = maker(n, noise, rng, margin=margin)
    else:
        X, y = maker(n, noise, rng)
    return _split(np.asarray(X, np.float32), np.asarray(y, np.int64), test_size, val_size, seed,
                  name, n_classes, info={"noise": noise})


def to_loader(X, y, batch_size: int = 64, shuffle: bool = True, seed: int = 0, device=None):
    """Wrap NumPy arrays as a PyTorch ``DataLoader`` of ``(x, y)`` batches.

    Args:
        X: inputs, ``(N, ...)`` float array; becomes a float32 tensor.
        y: labels ``(N,)`` integers (become int64) or regression targets ``(N, ...)`` floats.
        batch_size: positive int.
        shuffle: reshuffle every epoch, reproducibly (a generator seeded with ``seed``).
        device: if given, the tensors are moved there once (fine for the course's small datasets).

    Returns:
        ``torch.utils.data.DataLoader`` yielding ``x: (B, ...)`` float32 and ``y: (B,)`` int64.
    """
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    X = check_array("X", X, dtype_kind="fiub")
    y = check_array("y", y, dtype_kind="fiub")
    if X.ndim < 2:
        raise ValueError(f"X must have shape (N, ...) with at least 2 dimensions, got {X.shape}")
    check_same_length("X", X, "y", y)
    check_int("batch_size", batch_size, 1)
    check_int("seed", seed, 0)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.int64 if y.dtype.kind in "iub" else torch.float32)
    if device is not None:
        Xt, yt = Xt.to(device), yt.to(device)
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(Xt, yt), batch_size=batch_size, shuffle=shuffle, generator=gen)


# ----------------------------------------------------------------------------------------------
# Shapes: synthetic images for segmentation and detection
#: class ids of :func:`shapes`' semantic masks and labels
SHAPE_CLASSES = ("background", "circle", "square", "triangle")

_SHAPES_CHUNK = 1024          # images drawn per block (bounds memory; part of the seed -> data contract)
_TRIANGLE_R = 1.4             # circumradius of a triangle, in units of the object's radius r
_SQUARE_A = 0.9               # half-side of a square, in units of r (area 3.24 r^2 ~ the circle's pi r^2)


@dataclass(frozen=True)
class Shapes:
    """Images of circles, squares and triangles with their segmentation and detection targets.

    Attributes:
        images: ``(N, 3, S, S)`` float32 RGB in [0, 1].
        semantic: ``(N, S, S)`` int64 class of each visible pixel: 0 background, 1 circle, 2 square,
            3 triangle (``SHAPE_CLASSES``).
        instances: ``(N, S, S)`` int64: 0 background, ``k`` the visible pixels of the image's k-th object
            (1-based, in drawing order; a later object covers an earlier one).
        boxes: list of N float32 arrays ``(k, 4)``: ``x1, y1, x2, y2`` in pixels, the first and last
            column/row of each instance (torchvision's convention, ``torchvision.ops.masks_to_boxes``);
            row ``j`` belongs to instance ``j + 1``.
        labels: list of N int64 arrays ``(k,)``: the class id (1..3) of each instance.
        info: the arguments the images were drawn with.

    ``len(d)`` is the number of images; ``d[a:b]`` (or ``d[index_array]``) is a :class:`Shapes` of a subset,
    e.g. to hold images out or to take a batch.
    """

    images: np.ndarray
    semantic: np.ndarray
    instances: np.ndarray
    boxes: list
    labels: list
    class_names: tuple = SHAPE_CLASSES
    info: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        """Number of semantic classes, background included (4)."""
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, idx) -> "Shapes":
        if isinstance(idx, (int, np.integer)):
            raise TypeError(f"index a Shapes with a slice or an index array (e.g. d[{idx}:{idx + 1}]); "
                            f"one image is d.images[{idx}], d.boxes[{idx}], ...")
        rows = np.arange(len(self))[idx]
        return Shapes(self.images[rows], self.semantic[rows], self.instances[rows],
                      [self.boxes[i] for i in rows], [self.labels[i] for i in rows],
                      self.class_names, dict(self.info))

    def __repr__(self) -> str:
        n_obj = sum(len(lab) for lab in self.labels)
        return (f"Shapes({len(self)} images {self.images.shape[1:]}, {n_obj} objects, "
                f"classes {self.class_names[1:]})")


def _smooth_noise(rng, n, channels, size, cells):
    """(n, channels, size, size) smooth random field in about [-1, 1]: a cells x cells grid of uniform
    values, bilinearly interpolated (one matrix product per axis)."""
    grid = rng.uniform(-1, 1, size=(n, channels, cells + 1, cells + 1)).astype(np.float32)
    t = (np.arange(size, dtype=np.float32) + 0.5) / size * cells           # pixel centres in grid units
    i0 = np.minimum(t.astype(int), cells - 1)
    w = np.zeros((size, cells + 1), np.float32)
    w[np.arange(size), i0] = 1 - (t - i0)
    w[np.arange(size), i0 + 1] = t - i0
    return w @ grid @ w.T


def _shape_masks(cls, r, cx, cy, angle, size):
    """(n, size, size) bool: the pixels (centres at +0.5) inside each image's one object."""
    c = np.arange(size, dtype=np.float32) + 0.5
    f32 = lambda a: a.astype(np.float32)[:, None, None]                      # noqa: E731
    dx, dy = c[None, None, :] - f32(cx), c[None, :, None] - f32(cy)          # (n, 1, S), (n, S, 1)
    r = f32(r)
    circle = dx * dx + dy * dy <= r * r
    if np.any(angle):                                                        # rotated coordinates
        cos, sin = f32(np.cos(angle)), f32(np.sin(angle))
        u, v = dx * cos + dy * sin, dy * cos - dx * sin
    else:
        u, v = dx, dy
    square = (np.abs(u) <= _SQUARE_A * r) & (np.abs(v) <= _SQUARE_A * r)
    # equilateral triangle with circumradius R: inside the three edges, each at distance R/2 (the
    # inradius) from the centre, opposite the vertex at angle -pi/2 + angle + 2 pi k / 3 (apex up at 0)
    triangle = np.ones_like(circle)
    for k in range(3):
        a = -np.pi / 2 + 2 * np.pi * k / 3
        ca, sa = np.cos(a), np.sin(a)
        triangle &= u * np.float32(-ca) - v * np.float32(sa) <= np.float32(_TRIANGLE_R / 2) * r
    return np.where((cls == 1)[:, None, None], circle, np.where((cls == 2)[:, None, None], square, triangle))


def _shapes_block(rng, n, size, max_objects, noise, texture, radius, rotate, min_visible):
    """Draw one block of n images; returns images, semantic, instances, boxes (n, M, 4), labels (n, M), alive."""
    M = max_objects
    n_obj = rng.integers(1, M + 1, size=n)
    active = np.arange(M)[None, :] < n_obj[:, None]                          # (n, M)
    cls = rng.integers(1, 4, size=(n, M))
    r = rng.uniform(radius[0], radius[1], size=(n, M)) * size
    angle = rng.uniform(0, 2 * np.pi, size=(n, M)) if rotate else np.zeros((n, M))
    reach = np.choose(cls - 1, [np.ones_like(r), np.full_like(r, _SQUARE_A * (np.sqrt(2) if rotate else 1)),
                                np.full_like(r, _TRIANGLE_R)]) * r           # centre-to-farthest-point
    cx = reach + rng.uniform(0, 1, size=(n, M)) * (size - 2 * reach)           # whole object inside
    cy = reach + rng.uniform(0, 1, size=(n, M)) * (size - 2 * reach)
    # colours: background base in [0.15, 0.85]; each object at least 0.4 away from it (redrawn if not)
    base = rng.uniform(0.15, 0.85, size=(n, 3))
    colour = rng.uniform(0, 1, size=(n, M, 3))
    for _ in range(20):
        close = np.linalg.norm(colour - base[:, None], axis=2) < 0.4
        if not close.any():
            break
        colour[close] = rng.uniform(0, 1, size=(int(close.sum()), 3))
    colour = np.where(close[..., None], 1 - base[:, None], colour)             # rare leftovers: complement

    inside = np.stack([_shape_masks(cls[:, j], r[:, j], cx[:, j], cy[:, j], angle[:, j], size)
                       for j in range(M)])                                   # (M, n, S, S)
    alive = active.copy()
    for _ in range(M + 1):          # dropping a too-small object can only uncover earlier ones: converges
        top = np.zeros((n, size, size), np.int64)                            # topmost alive slot + 1
        for j in range(M):
            top[inside[j] & alive[:, j, None, None]] = j + 1
        key = (np.arange(n)[:, None, None] * (M + 1) + top).ravel()
        visible = np.bincount(key, minlength=n * (M + 1)).reshape(n, M + 1)[:, 1:]   # pixels per slot
        small = alive & (visible < min_visible)
        if not small.any():
            break
        alive &= ~small

    rank = np.cumsum(alive, axis=1) * alive                                  # new instance ids 1..k
    zero = np.zeros((n, 1), np.int64)
    flat = top.reshape(n, -1)
    instances = np.take_along_axis(np.hstack([zero, rank]), flat, 1).reshape(n, size, size)
    semantic = np.take_along_axis(np.hstack([zero, cls]), flat, 1).reshape(n, size, size)

    onehot = top[:, None] == np.arange(1, M + 1)[None, :, None, None]        # (n, M, S, S)
    cols, rows = onehot.any(axis=2), onehot.any(axis=3)                      # (n, M, S) each
    last = size - 1
    boxes = np.stack([cols.argmax(2), rows.argmax(2), last - cols[..., ::-1].argmax(2),
                      last - rows[..., ::-1].argmax(2)], axis=2).astype(np.float32)   # (n, M, 4)

    img = base.astype(np.float32)[:, :, None, None] + np.float32(texture) * (
        _smooth_noise(rng, n, 3, size, 4) + 0.5 * _smooth_noise(rng, n, 1, size, max(size // 4, 2)))
    for j in range(M):                                                       # paint the visible objects
        img = np.where((top == j + 1)[:, None], colour[:, j, :, None, None].astype(np.float32), img)
    img += np.float32(noise) * rng.standard_normal(size=img.shape, dtype=np.float32)
    np.clip(img, 0, 1, out=img)
    return img, semantic, instances, boxes, cls, alive


def shapes(n: int = 1000, size: int = 32, max_objects: int = 3, noise: float = 0.05, texture: float = 0.15,
           radius: tuple = (0.1, 0.2), rotate: bool = False, min_visible: int = 4, seed: int = 0) -> Shapes:
    """Procedurally drawn RGB images of circles, squares and triangles, for segmentation and detection.

    Each image has a textured, noisy background (a random colour plus smooth random fields) and 1 to
    ``max_objects`` shapes of random class, size, position, orientation and colour (each colour clearly
    different from the background), drawn in order, so a later shape may cover (occlude) an earlier one.
    The targets describe what is *visible*: an object fully hidden by the ones drawn after it, or with
    fewer than ``min_visible`` visible pixels, is dropped (its pixels show what lies beneath it, and it
    has no instance id, box or label). Every image keeps at least one object.

    Args:
        n: number of images, >= 1.
        size: image side in pixels, >= 8.
        max_objects: most objects drawn per image (the count is uniform in 1..max_objects), >= 1.
        noise: standard deviation of the per-pixel Gaussian noise, in [0, 1].
        texture: amplitude of the background's smooth random texture, in [0, 1].
        radius: ``(low, high)``: each object's radius as a fraction of ``size``, uniform in that range,
            ``0 < low <= high <= 0.35`` (a circle's radius; a square's half-side is 0.9 radius, a
            triangle's circumradius 1.4 radius, so the three have similar areas).
        rotate: rotate squares and triangles by a random angle (``False``: axis-aligned squares,
            triangles pointing up).
        min_visible: objects with fewer visible pixels are dropped, >= 1.
        seed: the same seed gives identical arrays.

    Returns:
        :class:`Shapes` with ``images (n, 3, size, size)`` float32 in [0, 1], ``semantic`` and
        ``instances`` ``(n, size, size)`` int64, and per image ``boxes[i] (k, 4)`` float32 (x1, y1, x2, y2,
        equal to ``torchvision.ops.masks_to_boxes`` of the instance masks) and ``labels[i] (k,)`` int64.

    >>> d = shapes(n=10, seed=0)
    >>> d.images.shape, d.semantic.dtype, d.boxes[0].shape[1]
    ((10, 3, 32, 32), dtype('int64'), 4)
    """
    check_int("n", n, 1)
    check_int("size", size, 8)
    check_int("max_objects", max_objects, 1)
    noise = check_float("noise", noise, 0.0, 1.0)
    texture = check_float("texture", texture, 0.0, 1.0)
    check_arg("radius", radius, isinstance(radius, (tuple, list)) and len(radius) == 2,
              "a pair (low, high) of fractions of size")
    low = check_float("radius low", radius[0], 0.0, 0.35, low_open=True)
    high = check_float("radius high", radius[1], low, 0.35)
    check_arg("rotate", rotate, isinstance(rotate, (bool, np.bool_)), "True or False")
    check_int("min_visible", min_visible, 1)
    check_int("seed", seed, 0)

    rng = np.random.default_rng(seed)
    parts = [_shapes_block(rng, min(_SHAPES_CHUNK, n - start), size, max_objects, noise, texture,
                           (low, high), bool(rotate), min_visible) for start in range(0, n, _SHAPES_CHUNK)]
    img, semantic, instances, boxes, cls, alive = (np.concatenate(a) for a in zip(*parts))
    counts = alive.sum(1)
    if counts.min() == 0:
        raise ValueError(f"min_visible={min_visible} is larger than the smallest shapes (radius low "
                         f"{low} of size {size} = {low * size:.1f} pixels): some images have no object left; "
                         "lower min_visible or raise radius")
    split = np.cumsum(counts)[:-1]
    return Shapes(img, semantic, instances, np.split(boxes[alive], split),
                  np.split(cls[alive].astype(np.int64), split),
                  info=dict(n=n, size=size, max_objects=max_objects, noise=noise, texture=texture,
                            radius=(low, high), rotate=bool(rotate), min_visible=min_visible, seed=seed))
