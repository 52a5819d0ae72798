"""How good are generated samples? Metrics that need no download (chapter 09 and 10).

- 2-D toys, where the whole density is visible: :func:`nearest_real` (mean distance from each sample to its
  nearest real point, and the share of samples farther than a tolerance: "off the data"), and
  :func:`ring_modes` for the ring of Gaussians (which modes hold a fair share of the samples).
- Any data: :func:`rbf_mmd2`, the squared maximum mean discrepancy with a Gaussian kernel (a kernel
  two-sample distance: 0 when both sets come from the same distribution).
- Digits: :func:`digit_scorer`, a small classifier trained on real digits (cached), whose
  :meth:`DigitScorer.score` gives the mean confidence, the share of confident samples and the number of
  classes they cover.

Every metric is read against two reference points: real held-out data (the best a generator can do) and
noise (what "nothing learned" gives). Confidence alone is a poor metric: the classifier is confident on
plenty of noise images; use it together with the MMD.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .validate import check_array, check_float, check_int

__all__ = ["nearest_real", "ring_centers", "sample_ring", "ring_modes", "rbf_mmd2", "median_bandwidth",
           "DigitScorer", "digit_scorer"]


def nearest_real(samples, real, tol: float = 0.1) -> tuple[float, float]:
    """(mean distance from each sample to its nearest real point, share of samples farther than ``tol``).

    samples: (N, d); real: (M, d) held-out real points.
    """
    samples = check_array("samples", samples, ndim=2)
    real = check_array("real", real, ndim=2)
    d2 = (samples ** 2).sum(1)[:, None] + (real ** 2).sum(1)[None] - 2 * samples @ real.T   # (N, M)
    dist = np.sqrt(np.maximum(d2.min(1), 0.0))                                              # (N,)
    return float(dist.mean()), float((dist > tol).mean())


def ring_centers(n_modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """(n_modes, 2) centres of the ring of Gaussians, equally spaced on a circle."""
    a = 2 * np.pi * np.arange(n_modes) / n_modes
    return radius * np.stack([np.cos(a), np.sin(a)], 1)


def sample_ring(n: int, rng, std: float = 0.02, n_modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """(n, 2) float32 points from the ring: a mode drawn uniformly, plus N(0, std^2 I) noise."""
    n = check_int("n", n, 1)
    k = rng.integers(0, n_modes, n)
    return (ring_centers(n_modes, radius)[k] + std * rng.normal(size=(n, 2))).astype(np.float32)


def ring_modes(samples, tol: float = 0.1, min_share: float = 0.2, n_modes: int = 8, radius: float = 2.0):
    """(number of modes covered, share of samples near some mode).

    A sample is *near* a mode when it lies within ``tol`` of the mode's centre (5 standard deviations of
    the ring's noise); a mode is *covered* when it holds at least ``min_share`` of its fair share
    (``1/n_modes``) of the samples.
    """
    samples = check_array("samples", samples, ndim=2)
    centers = ring_centers(n_modes, radius)
    dist = np.linalg.norm(samples[:, None] - centers[None], axis=2)                        # (N, n_modes)
    near = dist.min(1) < tol
    counts = np.bincount(dist.argmin(1)[near], minlength=n_modes)
    return int((counts >= min_share * len(samples) / n_modes).sum()), float(near.mean())


def median_bandwidth(X, max_points: int = 500) -> float:
    """The median pairwise distance of (up to ``max_points`` of) X: the usual kernel bandwidth."""
    X = check_array("X", X, ndim=2)[:max_points].astype(np.float64)
    d2 = (X ** 2).sum(1)[:, None] + (X ** 2).sum(1)[None] - 2 * X @ X.T
    return float(np.sqrt(np.median(d2[np.triu_indices(len(X), 1)].clip(0))))


def rbf_mmd2(X, Y, bandwidth: float) -> float:
    """Squared MMD between the samples X (N, d) and Y (M, d) with the kernel exp(-|x-y|^2 / (2 h^2)).

    The biased (V-statistic) estimate: mean k(X, X) + mean k(Y, Y) - 2 mean k(X, Y); >= 0, and near 0 when
    X and Y come from the same distribution. Compare values only at the same bandwidth.
    """
    X = check_array("X", X, ndim=2).astype(np.float64)
    Y = check_array("Y", Y, ndim=2).astype(np.float64)
    h = check_float("bandwidth", bandwidth, 0.0, low_open=True)

    def k(A, B):
        d2 = (A ** 2).sum(1)[:, None] + (B ** 2).sum(1)[None] - 2 * A @ B.T
        return np.exp(-np.maximum(d2, 0) / (2 * h * h))

    return float(k(X, X).mean() + k(Y, Y).mean() - 2 * k(X, Y).mean())


@dataclass
class DigitScorer:
    """A classifier of 8x8 digits (pixels in [0, 1], flattened to 64) used as a judge of generated digits.

    Attributes:
        model: the torch classifier 64-128-10; test_accuracy: its accuracy on the real test digits.
    """

    model: object
    test_accuracy: float

    def probabilities(self, images) -> np.ndarray:
        """(N, 10) softmax probabilities of the (N, 64) images."""
        import torch

        images = check_array("images", images, ndim=2)
        with torch.no_grad():
            return torch.softmax(self.model(torch.as_tensor(images, dtype=torch.float32)), 1).numpy()

    def score(self, images, threshold: float = 0.9, min_share: float = 0.02) -> dict:
        """{"confidence": mean max-probability, "confident": share with max-probability > threshold,
        "classes": number of classes predicted, with confidence, for at least ``min_share`` of the images}."""
        p = self.probabilities(images)
        conf, pred = p.max(1), p.argmax(1)
        counts = np.bincount(pred[conf > threshold], minlength=10)
        return {"confidence": float(conf.mean()), "confident": float((conf > threshold).mean()),
                "classes": int((counts >= min_share * len(p)).sum())}


@lru_cache(maxsize=1)
def digit_scorer() -> DigitScorer:
    """The judge: an MLP 64-128-10 trained (full batch, Adam, 200 steps, about 1 s) on the training digits
    of ``data.load_digits(val_size=0.2, seed=0)``, always with seed 0 (the same judge for every run).
    Cached: built once per process."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from . import data

    d = data.load_digits(val_size=0.2, seed=0)
    X, y = torch.tensor(d.X_train), torch.tensor(d.y_train)
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    torch.random.set_rng_state(state)                    # leave the caller's random stream as it was
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(200):
        loss = F.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(torch.tensor(d.X_test)).argmax(1).numpy() == d.y_test).mean())
    return DigitScorer(model=model, test_accuracy=acc)
