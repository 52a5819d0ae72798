"""The dropout explorer of chapter 05: what the drop probability, the hidden width and the size of the
training set do to over-fitting, measured by really training a NumPy MLP (``dlcourse.numpy_nn``) for
every setting a student picks.

:func:`dropout_run` is the experiment (plain code, no widgets); :class:`DropoutExplorer` is the thin
shell that calls it when a slider moves and draws the loss and accuracy curves.
"""
from __future__ import annotations

import time
from threadpoolctl import threadpool_limits
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..validate import check_float, check_int
from . import Explorer

__all__ = ["DropoutRun", "dropout_run", "dropout_message", "DropoutExplorer", "MIN_TRAIN", "MAX_TRAIN"]

#: smallest and largest training-set size the experiment accepts (images drawn from the digits' training part)
MIN_TRAIN, MAX_TRAIN = 10, 1000


@lru_cache(maxsize=1)
def _digits():
    """The digits, split as in chapter 05: 1077 train (the pool), 270 validation, 450 test."""
    from .. import data

    d = data.load_digits(val_size=0.2, seed=0)
    pool_order = np.random.default_rng(0).permutation(len(d.X_train))      # fixed: same subset for every seed
    return d, pool_order


@dataclass
class DropoutRun:
    """The measured history of one :func:`dropout_run`.

    Attributes:
        steps: (K,) SGD steps after which the network was evaluated (in eval mode: no dropout).
        train_loss, val_loss, test_loss, train_acc, val_acc, test_acc: (K,) the curves.
        p, width, n_train, seed: the settings; seconds: wall time of the run.
    """

    p: float
    width: int
    n_train: int
    seed: int
    steps: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray
    test_loss: np.ndarray
    train_acc: np.ndarray
    val_acc: np.ndarray
    test_acc: np.ndarray
    seconds: float = 0.0
    n_classes_seen: int = 10
    model: object = field(default=None, repr=False)

    @property
    def loss_gap(self) -> float:
        """Generalization gap of the final network: test loss minus training loss."""
        return float(self.test_loss[-1] - self.train_loss[-1])

    @property
    def acc_gap(self) -> float:
        """Training accuracy minus test accuracy of the final network."""
        return float(self.train_acc[-1] - self.test_acc[-1])


def dropout_run(p: float = 0.5, width: int = 256, n_train: int = 200, seed: int = 0, steps: int = 600,
                batch_size: int = 20, lr: float = 0.1, eval_every: int = 50, dtype=np.float32) -> DropoutRun:
    """Train an MLP 64-width-width-10 (ReLU, dropout ``p`` after each hidden layer) on ``n_train`` digits
    with plain minibatch SGD, in NumPy, and record train/validation/test loss and accuracy.

    The training images are the first ``n_train`` of a fixed random order of the digits' training part
    (the same images for every seed); ``seed`` sets the initial weights, the minibatch order and the
    dropout masks. ``steps`` SGD steps of ``batch_size`` images (600 x 20 = 60 epochs of 200 images).

    Returns:
        :class:`DropoutRun`; its ``model`` is the trained ``numpy_nn.Sequential`` in eval mode.
    """
    p = check_float("p", p, 0.0, 1.0, high_open=True)
    width = check_int("width", width, 1)
    n_train = check_int("n_train", n_train, MIN_TRAIN)
    if n_train > MAX_TRAIN:
        raise ValueError(f"n_train must be <= {MAX_TRAIN}, got {n_train}")
    seed, steps = check_int("seed", seed, 0), check_int("steps", steps, 1)
    batch_size, eval_every = check_int("batch_size", batch_size, 1), check_int("eval_every", eval_every, 1)
    lr = check_float("lr", lr, 0.0, low_open=True)

    t0 = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):     # small matrices: one BLAS thread is fastest,
        run = _train(p, width, n_train, seed, steps, batch_size, lr, eval_every, dtype)   # and immune to a busy CPU
    run.seconds = time.perf_counter() - t0
    return run


def _train(p, width, n_train, seed, steps, batch_size, lr, eval_every, dtype) -> DropoutRun:
    from ..numpy_nn import CrossEntropyLoss, Dropout, Linear, ReLU, Sequential

    d, pool_order = _digits()
    idx = pool_order[:n_train]
    X, y = d.X_train[idx].astype(dtype), d.y_train[idx]                         # (n_train, 64), (n_train,)
    sets = {"train": (X, y), "val": (d.X_val.astype(dtype), d.y_val), "test": (d.X_test.astype(dtype), d.y_test)}
    rng = np.random.default_rng(seed)
    model = Sequential(Linear(64, width, dtype=dtype, rng=rng), ReLU(), Dropout(p, rng=rng),
                       Linear(width, width, dtype=dtype, rng=rng), ReLU(), Dropout(p, rng=rng),
                       Linear(width, 10, dtype=dtype, rng=rng))
    loss_fn = CrossEntropyLoss()
    batch_size = min(batch_size, n_train)
    curves = {f"{k}_{m}": [] for k in sets for m in ("loss", "acc")}
    at, order, pos = [], rng.permutation(n_train), 0
    for step in range(1, steps + 1):
        if pos + batch_size > n_train:                                          # new epoch: reshuffle
            order, pos = rng.permutation(n_train), 0
        b = order[pos:pos + batch_size]
        pos += batch_size
        model.train()
        loss_fn(model(X[b]), y[b])
        model.backward(loss_fn.backward())
        for name, param in model.params.items():
            param -= lr * model.grads[name]                                     # SGD, in place
        if step % eval_every == 0 or step == steps:
            model.eval()
            for k, (Xk, yk) in sets.items():
                logits = model(Xk)
                curves[f"{k}_loss"].append(loss_fn(logits, yk))
                curves[f"{k}_acc"].append(float(np.mean(logits.argmax(1) == yk)))
            at.append(step)
    model.eval()
    return DropoutRun(p=p, width=width, n_train=n_train, seed=seed, steps=np.array(at),
                      **{k: np.array(v) for k, v in curves.items()},
                      n_classes_seen=len(np.unique(y)), model=model)


def dropout_message(run: DropoutRun) -> str:
    """One or two sentences that say what the run shows (plain text, for the widget's status line)."""
    parts = [f"p = {run.p:.2f}, width {run.width}, {run.n_train} training images: "
             f"test loss - train loss = {run.loss_gap:.3f}; "
             f"train accuracy {run.train_acc[-1]:.1%}, test accuracy {run.test_acc[-1]:.1%} "
             f"(gap {run.acc_gap:+.1%})."]
    if run.n_train < 50:
        parts.append(f"Only {run.n_train} training images ({run.n_classes_seen} of 10 digit classes present): "
                     "the network memorises them and cannot generalise far; the test accuracy is low whatever p.")
    if run.p >= 0.8:
        parts.append(f"With p = {run.p:.2f} only {1 - run.p:.0%} of the hidden units survive each step: the "
                     f"network underfits (training loss still {run.train_loss[-1]:.2f} after {run.steps[-1]} "
                     "steps). Too much regularization: the gap says little when training itself fails.")
    if not np.isfinite(run.train_loss[-1]):
        parts.append("The training diverged (non-finite loss).")
    return " ".join(parts)


class DropoutExplorer(Explorer):
    """Sliders for the drop probability, the hidden width and the training-set size; each change trains
    the MLP for real (:func:`dropout_run`, about half a second; results are kept in memory, keyed by the
    settings, so going back to a setting is instant) and draws train vs test loss and accuracy.

    Args:
        p, width, n_train: initial settings; seed: seed of the runs.
    """

    WIDTHS = (32, 64, 128, 256)

    def __init__(self, p: float = 0.5, width: int = 256, n_train: int = 200, seed: int = 0):
        import ipywidgets as W

        if width not in self.WIDTHS:
            raise ValueError(f"width must be one of {self.WIDTHS}, got {width}")
        self.seed = check_int("seed", seed, 0)
        self._cache: dict = {}
        controls = {
            "p": W.FloatSlider(value=p, min=0.0, max=0.9, step=0.05, description="drop p",
                               continuous_update=False),
            "width": W.SelectionSlider(options=list(self.WIDTHS), value=width, description="width",
                                       continuous_update=False),
            "n_train": W.IntSlider(value=n_train, min=MIN_TRAIN, max=MAX_TRAIN, step=10, description="train size",
                                   continuous_update=False),
        }
        super().__init__(controls, figsize=(9, 3.3))
        self._setup_axes()
        self.update()

    # the experiment -------------------------------------------------------------------------
    def compute(self, p, width, n_train):
        """Train for these settings (or take the run from the in-memory cache of this widget)."""
        key = (round(float(p), 4), int(width), int(n_train), self.seed)
        if key not in self._cache:
            self._cache[key] = dropout_run(*key)
        return self._cache[key]

    # the picture ----------------------------------------------------------------------------
    def _setup_axes(self):
        self.ax_loss, self.ax_acc = self.fig.subplots(1, 2)
        self.lines = {}
        for ax, metric in ((self.ax_loss, "loss"), (self.ax_acc, "acc")):
            for split, color in (("train", "C0"), ("test", "C1")):
                (self.lines[split, metric],) = ax.plot([], [], color=color, marker=".", label=split)
            ax.set_xlabel("SGD step")
            ax.legend(fontsize=8, loc="center right")
        self.ax_loss.set(ylabel="cross-entropy", yscale="log")
        self.ax_acc.set(ylabel="accuracy", ylim=(0, 1.02))
        self._gap = None
        self.fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.82, wspace=0.25)

    def alt_text(self, run: DropoutRun) -> str:
        note = ""
        if run.p >= 0.8:
            note = "; so much dropout that the network underfits"
        elif run.n_train < 50:
            note = "; too few images to generalise"
        return (f"Train and test loss and accuracy over {run.steps[-1]} SGD steps of an MLP 64-{run.width}-{run.width}-10 "
                f"with dropout p = {run.p:.2f} on {run.n_train} training digits: test minus train loss "
                f"{run.loss_gap:.3f} (shaded), train accuracy {run.train_acc[-1]:.1%}, test {run.test_acc[-1]:.1%}{note}")

    def draw(self, run: DropoutRun) -> None:
        for (split, metric), line in self.lines.items():
            line.set_data(run.steps, getattr(run, f"{split}_{metric}"))
        if self._gap is not None:
            self._gap.remove()
        self._gap = self.ax_loss.fill_between(run.steps, run.train_loss, run.test_loss, color="C3", alpha=0.15)
        for ax in (self.ax_loss, self.ax_acc):
            ax.relim()
            ax.autoscale_view()
        self.ax_acc.set_ylim(0, 1.02)
        self.ax_loss.set_title(f"loss: test - train = {run.loss_gap:.3f} (shaded)", fontsize=10)
        self.ax_acc.set_title(f"accuracy: train - test = {run.acc_gap:+.1%}", fontsize=10)
        self.fig.suptitle(f"MLP 64-{run.width}-{run.width}-10, dropout p = {run.p:.2f}, "
                          f"{run.n_train} training images, {run.steps[-1]} SGD steps", fontsize=10)
        self.status.value = dropout_message(run)
