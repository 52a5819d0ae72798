"""matplotlib helpers used across chapters. Each returns the ``Axes`` (or ``Figure``) it drew on."""
from __future__ import annotations

from collections.abc import Callable, Mapping

import matplotlib.pyplot as plt
import numpy as np

from .validate import check_array, check_int, check_same_length

__all__ = ["decision_boundary", "loss_curves", "image_grid"]

#: colours for classes 0, 1, 2, ... (colour-blind friendly)
CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def decision_boundary(predict: Callable[[np.ndarray], np.ndarray], X, y, ax=None,
                      resolution: int = 200, padding: float = 0.5, title: str | None = None,
                      highlight=None):
    """Colour the plane by ``predict`` and scatter the labelled points on top.

    Args:
        predict: maps a grid of points ``(M, 2)`` to class labels ``(M,)`` (ints).
        X: points ``(N, 2)``; y: labels ``(N,)`` ints.
        ax: matplotlib Axes to draw on (a new figure if ``None``).
        resolution: grid points per axis (>= 2).
        padding: margin around the data, in data units.
        highlight: optional boolean mask ``(N,)``: those points are circled (e.g. misclassified).

    Returns:
        the Axes.
    """
    X = check_array("X", X, shape=(None, 2), dtype_kind="fiu")
    y = check_array("y", y, ndim=1, dtype_kind="iub")
    check_same_length("X", X, "y", y)
    check_int("resolution", resolution, 2)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    (x0, y0), (x1, y1) = X.min(0) - padding, X.max(0) + padding
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    grid = np.stack([gx.ravel(), gy.ravel()], 1)                     # (resolution**2, 2)
    z = np.asarray(predict(grid)).reshape(gx.shape)
    n_classes = int(max(y.max(), z.max())) + 1
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(CLASS_COLORS[:n_classes])
    ax.contourf(gx, gy, z, levels=np.arange(n_classes + 1) - 0.5, cmap=cmap, alpha=0.25)
    ax.scatter(X[:, 0], X[:, 1], c=[CLASS_COLORS[int(k)] for k in y], s=14, edgecolors="k", linewidths=0.3)
    if highlight is not None:
        m = check_array("highlight", highlight, shape=(len(X),)).astype(bool)
        ax.scatter(X[m, 0], X[m, 1], s=90, facecolors="none", edgecolors="red", linewidths=1.5,
                   label="misclassified")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def loss_curves(history: Mapping[str, list] | object, keys=None, ax=None, logy: bool = False,
                xlabel: str = "epoch", title: str | None = None):
    """Plot curves such as ``train_loss`` and ``val_loss`` against the epoch (or step).

    Args:
        history: a mapping ``name -> list of numbers`` or a :class:`dlcourse.train.History`.
        keys: which curves to draw (default: every key whose name contains "loss").
        logy: logarithmic y axis.

    Returns:
        the Axes.
    """
    if hasattr(history, "as_dict"):
        history = history.as_dict()
    if not isinstance(history, Mapping):
        raise TypeError(f"history must be a mapping name -> list or a History, got {type(history).__name__}")
    if keys is None:
        keys = [k for k in history if "loss" in k]
    missing = [k for k in keys if k not in history]
    if missing:
        raise ValueError(f"keys {missing} not in history; available: {list(history)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for k in keys:
        values = np.asarray(history[k], float)
        ax.plot(np.arange(1, len(values) + 1), values, label=k)
    ax.set_xlabel(xlabel)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


def image_grid(images, labels=None, ncols: int = 10, cmap: str = "gray_r", figsize_per: float = 0.9,
               title: str | None = None):
    """Show images in a grid.

    Args:
        images: ``(N, H, W)``, ``(N, 1, H, W)``, ``(N, H*W)`` for square images, or ``(N, 3, H, W)``.
        labels: optional ``(N,)`` labels shown above each image.
        ncols: images per row.

    Returns:
        the Figure.
    """
    images = check_array("images", images, dtype_kind="fiub")
    check_int("ncols", ncols, 1)
    if images.ndim == 2:
        side = int(round(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise ValueError(f"images of shape {images.shape} are flat but not square; pass (N, H, W)")
        images = images.reshape(len(images), side, side)
    if images.ndim == 4:
        images = images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)
    if images.ndim not in (3, 4):
        raise ValueError(f"images must be (N, H, W), (N, C, H, W) or (N, H*W), got shape {images.shape}")
    if labels is not None:
        labels = list(np.asarray(labels).ravel())
        check_same_length("images", images, "labels", labels)
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(figsize_per * ncols, figsize_per * nrows * 1.1),
                             squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
