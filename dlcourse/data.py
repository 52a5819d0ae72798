"""Every dataset of the course: offline, deterministic, returned as NumPy arrays.

All loaders return a :class:`Split` whose arrays follow one convention:

- ``X_*``: ``float32``; tabular/flattened data has shape ``(N, D)``, images ``(N, 1, H, W)``,
  sequences ``(N, L)``;
- ``y_*``: ``int64`` class labels in ``0 .. n_classes-1``, shape ``(N,)``.

The same ``seed`` always gives the same arrays. Nothing here downloads anything.

>>> d = load_digits()
>>> d.X_train.shape, d.X_train.dtype, d.y_train.dtype
((1347, 64), dtype('float32'), dtype('int64'))
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .validate import check_array, check_choice, check_float, check_int, check_same_length

__all__ = ["Split", "load_digits", "load_mnist1d", "make_toy", "TOYS", "LINEAR_SEPARATOR", "to_loader"]


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
