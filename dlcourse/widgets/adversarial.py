"""The epsilon explorer of chapter 13: an adversarial attack (FGSM or PGD) on one digit at the budget a
student picks, showing the clean image, the perturbation, the attacked image and the network's
probabilities.

:func:`epsilon_view` is the experiment (plain code, no widgets); :class:`EpsilonExplorer` is the thin
shell that calls it when a slider moves. Without a model, a small digits CNN is trained once (about a
second of CPU) and cached for the session.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..validate import check_choice, check_float, check_int
from . import Explorer

__all__ = ["EpsilonView", "epsilon_view", "default_digits_model", "EpsilonExplorer", "MAX_EPSILON"]

#: largest budget the slider offers (pixels are in [0, 1])
MAX_EPSILON = 0.5


@lru_cache(maxsize=1)
def default_digits_model():
    """A digits CNN (``dlcourse.saliency.digits_cnn``) trained for 15 epochs on the training part of
    ``load_digits(flatten=False, val_size=0.2, seed=0)``, with that split's test images and labels.

    Returns:
        ``(model, images (450, 1, 8, 8), labels (450,))`` as torch tensors; cached for the session.
    """
    import torch

    from .. import data
    from ..saliency import digits_cnn, train_classifier

    d = data.load_digits(flatten=False, val_size=0.2, seed=0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = train_classifier(digits_cnn(), torch.from_numpy(d.X_train), torch.from_numpy(d.y_train),
                                 epochs=15, seed=0)
    return model, torch.from_numpy(d.X_test), torch.from_numpy(d.y_test)


@dataclass
class EpsilonView:
    """One attacked image. ``image``, ``attacked``, ``perturbation``: (H, W) arrays (first channel);
    ``probs_clean``, ``probs``: (K,) the network's probabilities before and after the attack."""

    epsilon: float
    method: str
    label: int
    image: np.ndarray
    attacked: np.ndarray
    perturbation: np.ndarray
    probs_clean: np.ndarray
    probs: np.ndarray

    @property
    def prediction(self) -> int:
        return int(self.probs.argmax())

    @property
    def confidence(self) -> float:
        return float(self.probs.max())

    @property
    def fooled(self) -> bool:
        return self.prediction != self.label


def epsilon_view(model, image, label, epsilon: float, method: str = "fgsm", steps: int = 10) -> EpsilonView:
    """Attack ``image`` ((C, H, W) tensor in [0, 1]) of class ``label`` with FGSM or PGD (``steps`` steps)
    at budget ``epsilon`` and return what the network sees before and after."""
    import torch

    from ..saliency import fgsm, pgd

    epsilon = check_float("epsilon", epsilon, 0.0, 1.0)
    method = check_choice("method", method, ("fgsm", "pgd"))
    check_int("steps", steps, 1)
    x = torch.as_tensor(image, dtype=torch.float32)[None]                   # (1, C, H, W)
    y = torch.as_tensor([int(label)])
    model.eval()
    x_adv = fgsm(model, x, y, epsilon) if method == "fgsm" else pgd(model, x, y, epsilon, steps=steps)
    with torch.no_grad():
        p0, p1 = (torch.softmax(model(v), 1)[0].numpy() for v in (x, x_adv))
    return EpsilonView(epsilon, method, int(label), x[0, 0].numpy(), x_adv[0, 0].numpy(),
                       (x_adv - x)[0, 0].numpy(), p0, p1)


def epsilon_message(view: EpsilonView) -> str:
    """One sentence on what the attack did (the widget's status line)."""
    what = (f"fooled: the network now says {view.prediction}" if view.fooled
            else f"not fooled: still {view.prediction}")
    return (f"{view.method.upper()} at epsilon = {view.epsilon:.3f} (each pixel moves by at most that): {what} "
            f"with {view.confidence:.0%} confidence (true label {view.label}, "
            f"{view.probs_clean[view.label]:.0%} before the attack).")


class EpsilonExplorer(Explorer):
    """Sliders for the budget epsilon and the test image, a choice of attack; each change attacks the image
    for real (:func:`epsilon_view`, a few milliseconds) and redraws.

    Args:
        model: a classifier of (N, 1, H, W) images; ``None`` trains and caches a small digits CNN.
        images, labels: the images to attack (tensors); default: the digits' test split.
        index, epsilon, method: initial settings.
    """

    def __init__(self, model=None, images=None, labels=None, index: int = 0, epsilon: float = 0.0,
                 method: str = "fgsm"):
        import ipywidgets as W

        if model is None or images is None or labels is None:
            default, d_images, d_labels = default_digits_model()
            model = default if model is None else model
            images = d_images if images is None else images
            labels = d_labels if labels is None else labels
        self.model, self.images, self.labels = model, images, labels
        check_int("index", index, 0)
        if index >= len(images):
            raise ValueError(f"index must be < {len(images)} (the number of images), got {index}")
        check_float("epsilon", epsilon, 0.0, MAX_EPSILON)
        check_choice("method", method, ("fgsm", "pgd"))
        controls = {
            "epsilon": W.FloatSlider(value=epsilon, min=0.0, max=MAX_EPSILON, step=0.005, readout_format=".3f",
                                     description="epsilon", continuous_update=False),
            "index": W.IntSlider(value=index, min=0, max=len(images) - 1, description="image",
                                 continuous_update=False),
            "method": W.ToggleButtons(options=["fgsm", "pgd"], value=method, description="attack"),
        }
        super().__init__(controls, figsize=(9, 2.6))
        self._setup_axes()
        self.update()

    def compute(self, epsilon, index, method):
        return epsilon_view(self.model, self.images[int(index)], int(self.labels[int(index)]), epsilon, method)

    def _setup_axes(self):
        self.axes = self.fig.subplots(1, 4, gridspec_kw=dict(width_ratios=[1, 1, 1, 1.6]))
        for ax in self.axes[:3]:
            ax.set_xticks([]); ax.set_yticks([])
        self.fig.subplots_adjust(left=0.02, right=0.98, bottom=0.15, top=0.82, wspace=0.25)

    def alt_text(self, view: EpsilonView) -> str:
        verdict = f"fooled, it now reads {view.prediction}" if view.fooled else f"not fooled, still {view.prediction}"
        return (f"{view.method.upper()} attack at epsilon {view.epsilon:.3f} on a digit {view.label}: the clean image "
                f"({view.probs_clean[view.label]:.0%} on {view.label}), the perturbation, the attacked image "
                f"({verdict} with {view.confidence:.0%}) and the probabilities before and after")

    def draw(self, view: EpsilonView) -> None:
        a0, a1, a2, a3 = self.axes
        for ax in self.axes:
            ax.clear()
        a0.imshow(view.image, cmap="gray_r", vmin=0, vmax=1)
        a0.set_title(f"clean: {int(view.probs_clean.argmax())} ({view.probs_clean.max():.0%})", fontsize=9)
        scale = max(view.epsilon, 1e-3)
        a1.imshow(view.perturbation, cmap="bwr", vmin=-scale, vmax=scale)
        a1.set_title(f"perturbation (±{view.epsilon:.3f})", fontsize=9)
        a2.imshow(view.attacked, cmap="gray_r", vmin=0, vmax=1)
        a2.set_title(f"attacked: {view.prediction} ({view.confidence:.0%})", fontsize=9,
                     color="C3" if view.fooled else "k")
        for ax in (a0, a1, a2):
            ax.set_xticks([]); ax.set_yticks([])
        k = np.arange(len(view.probs))
        a3.bar(k - 0.2, view.probs_clean, width=0.4, color="C0", label="clean")
        a3.bar(k + 0.2, view.probs, width=0.4, color="C3", label="attacked")
        a3.set(xticks=k, ylim=(0, 1.02), ylabel="probability")
        a3.legend(fontsize=7, loc="upper right")
        self.status.value = epsilon_message(view)
