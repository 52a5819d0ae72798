"""A small, readable PyTorch training loop: :func:`fit` and :func:`evaluate`.

Chapters use it once the loop itself has been taught (chapter 01 writes it out by hand).
Progress bars come from tqdm and appear only in an interactive session; set the environment
variable ``DLCOURSE_PROGRESS=0`` to silence them everywhere (the test suite does).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["History", "fit", "evaluate", "accuracy", "show_progress"]


def accuracy(scores, y) -> float:
    """The course's one accuracy helper, for NumPy arrays and torch tensors alike.

    ``scores`` ``(B, C)`` (logits or probabilities): the fraction of rows whose argmax equals ``y`` ``(B,)``.
    ``scores`` ``(B,)``: predicted labels, compared with ``y`` directly (e.g. a perceptron's +-1).
    """
    if hasattr(scores, "detach"):
        scores = scores.detach().cpu().numpy()
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    scores, y = np.asarray(scores), np.asarray(y)
    if scores.ndim not in (1, 2) or len(scores) != len(y) or y.ndim != 1:
        raise ValueError(f"accuracy expects scores (B, C) or predictions (B,) and labels (B,), "
                         f"got shapes {scores.shape} and {y.shape}")
    predicted = scores.argmax(axis=1) if scores.ndim == 2 else scores
    return float(np.mean(predicted == y))


@dataclass
class History:
    """What :func:`fit` measured, one entry per epoch.

    ``train_loss[e]`` is the mean training loss over epoch ``e``; ``val_loss`` and the metrics
    (``train_acc``, ``val_acc``, ...) are computed after each epoch.
    """

    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    def log(self, name: str, value: float) -> None:
        self.metrics.setdefault(name, []).append(float(value))

    def as_dict(self) -> dict:
        d = {"train_loss": self.train_loss}
        if self.val_loss:
            d["val_loss"] = self.val_loss
        d.update(self.metrics)
        return d


def show_progress() -> bool:
    """True when progress bars help: an interactive terminal or Jupyter, unless disabled.

    ``DLCOURSE_PROGRESS=0`` turns them off, ``=1`` forces them on.
    """
    flag = os.environ.get("DLCOURSE_PROGRESS", "auto").lower()
    if flag in ("0", "false", "no", "off"):
        return False
    if flag in ("1", "true", "yes", "on"):
        return True
    return "ipykernel" in sys.modules or sys.stderr.isatty()


def evaluate(model, loader, loss_fn: Callable, device=None, metrics: dict | None = None) -> dict:
    """Average loss (and metrics) of ``model`` over ``loader`` without gradients, in eval mode.

    Returns:
        ``{"loss": float, "<metric>": float, ...}`` weighted by batch size.
    """
    import torch

    metrics = {"acc": accuracy} if metrics is None else metrics
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals, n = {"loss": 0.0, **{k: 0.0 for k in metrics}}, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            out = model(x)
            b = len(x)
            totals["loss"] += loss_fn(out, y).item() * b
            for k, f in metrics.items():
                totals[k] += f(out, y) * b
            n += b
    model.train(was_training)
    return {k: v / max(n, 1) for k, v in totals.items()}


def fit(model, train_loader, loss_fn: Callable, optimizer, epochs: int, val_loader=None,
        device=None, scheduler=None, metrics: dict | None = None, progress: bool | None = None) -> History:
    """Train ``model`` for ``epochs`` epochs and return a :class:`History`.

    One epoch: for each batch ``(x, y)``: forward, ``loss_fn(model(x), y)``, backward, optimizer step
    (and ``scheduler.step()`` once per epoch, if given). After each epoch the model is evaluated on
    the training and validation loaders with :func:`evaluate`.

    Args:
        model: a ``torch.nn.Module`` (moved to ``device``).
        train_loader / val_loader: DataLoaders of ``(x, y)`` batches.
        metrics: ``name -> f(logits, y) -> float``; default ``{"acc": accuracy}``; ``{}`` for none.
        progress: show a tqdm bar; default :func:`show_progress`.
    """
    import torch
    from tqdm.auto import tqdm

    from .validate import check_int

    check_int("epochs", epochs, 1)
    device = device or next(model.parameters()).device
    model.to(device)
    metrics = {"acc": accuracy} if metrics is None else metrics
    progress = show_progress() if progress is None else progress
    history = History()
    for _ in tqdm(range(epochs), desc="epochs", disable=not progress, leave=False):
        model.train()
        total, n = 0.0, 0
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x)
            n += len(x)
        if not torch.isfinite(torch.tensor(total)):
            raise FloatingPointError(f"training diverged in epoch {len(history.train_loss) + 1}: loss is {total}")
        history.train_loss.append(total / n)
        if scheduler is not None:
            scheduler.step()
        if metrics:
            for k, v in evaluate(model, train_loader, loss_fn, device, metrics).items():
                if k != "loss":
                    history.log(f"train_{k}", v)
        if val_loader is not None:
            res = evaluate(model, val_loader, loss_fn, device, metrics)
            history.val_loss.append(res.pop("loss"))
            for k, v in res.items():
                history.log(f"val_{k}", v)
    return history
