"""The latent explorer of chapter 09: move a code (z1, z2) through the 2-D latent plane of a VAE trained on
the digits and see the decoded digit, with a digit classifier's verdict.

:func:`decode_latent` is the plain computation (no widgets); :class:`LatentExplorer` is the thin shell that
calls it when a slider moves and draws the latent map (the codes of the test digits, coloured by class,
with a marker at the current code) beside the decoded image.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..validate import check_float
from . import Explorer

__all__ = ["default_vae", "latent_map", "decode_latent", "LatentView", "latent_message", "LatentExplorer",
           "Z_RANGE"]

#: the sliders' range: the codes of the digits lie within about +-3 (the prior N(0, I) puts 99.7% there)
Z_RANGE = 3.0


@lru_cache(maxsize=1)
def default_vae():
    """The chapter's VAE (2-D code, 1500 steps, seed 0) trained on the digits' training split; cached."""
    import torch

    from .. import data
    from ..generative import train_vae

    d = data.load_digits(val_size=0.2, seed=0)
    state = torch.random.get_rng_state()
    vae = train_vae(d.X_train, seed=0, steps=1500)
    torch.random.set_rng_state(state)
    return vae


def latent_map(vae):
    """((N, 2) mean codes of the test digits, (N,) labels)."""
    import torch

    from .. import data

    d = data.load_digits(val_size=0.2, seed=0)
    with torch.no_grad():
        return vae.encode(torch.tensor(d.X_test))[0].numpy(), d.y_test


@dataclass
class LatentView:
    """One state of the explorer: the code, the decoded (8, 8) image, the judge's class and confidence."""

    z1: float
    z2: float
    image: np.ndarray
    digit: int
    confidence: float


def decode_latent(vae, z1: float, z2: float) -> LatentView:
    """Decode the code (z1, z2) with the VAE's decoder and let the digit classifier judge the image."""
    import torch

    from ..sample_quality import digit_scorer

    z1, z2 = check_float("z1", z1), check_float("z2", z2)
    with torch.no_grad():
        image = vae.decode(torch.tensor([[z1, z2]], dtype=torch.float32)).numpy()     # (1, 64)
    p = digit_scorer().probabilities(image)[0]
    return LatentView(z1, z2, image.reshape(8, 8), int(p.argmax()), float(p.max()))


def latent_message(view: LatentView) -> str:
    """One sentence about the current code (plain text, for the status line)."""
    r = float(np.hypot(view.z1, view.z2))
    msg = (f"code ({view.z1:+.1f}, {view.z2:+.1f}): the classifier reads a {view.digit} "
           f"with confidence {view.confidence:.2f}.")
    if r > 2.5:
        msg += (f" This code is {r:.1f} standard deviations from the origin, where the prior N(0, I) rarely "
                "draws: the decoder has seen few codes here.")
    return msg


class LatentExplorer(Explorer):
    """Two sliders, "z1" and "z2", move through the VAE's latent plane; the decoded digit updates at once.

    Args:
        vae: a trained ``generative.VAE`` with a 2-D code (default: :func:`default_vae`).
        z1, z2: the initial code.
    """

    def __init__(self, vae=None, z1: float = 0.0, z2: float = 0.0):
        import ipywidgets as W

        self.vae = default_vae() if vae is None else vae
        if getattr(self.vae, "z_dim", 2) != 2:
            raise ValueError(f"the latent explorer needs a VAE with a 2-D code, got z_dim={self.vae.z_dim}")
        controls = {name: W.FloatSlider(value=check_float(name, v, -Z_RANGE, Z_RANGE), min=-Z_RANGE,
                                        max=Z_RANGE, step=0.1, description=name, continuous_update=False)
                    for name, v in (("z1", z1), ("z2", z2))}
        super().__init__(controls, figsize=(7.5, 3.4))
        self.codes, self.labels = latent_map(self.vae)
        self._setup_axes()
        self.update()

    def compute(self, z1, z2):
        return decode_latent(self.vae, z1, z2)

    def _setup_axes(self):
        self.ax_map, self.ax_img = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
        self.ax_map.scatter(*self.codes.T, c=self.labels, cmap="tab10", s=5, alpha=0.6)
        (self.marker,) = self.ax_map.plot([0], [0], marker="X", color="k", markersize=12)
        self.ax_map.set(xlim=(-Z_RANGE, Z_RANGE), ylim=(-Z_RANGE, Z_RANGE), xlabel="z1", ylabel="z2",
                        title="codes of the test digits")
        self.image = self.ax_img.imshow(np.zeros((8, 8)), cmap="gray_r", vmin=0, vmax=1)
        self.ax_img.axis("off")
        self.fig.subplots_adjust(left=0.09, right=0.97, bottom=0.14, top=0.88, wspace=0.15)

    def alt_text(self, view: LatentView) -> str:
        r = float(np.hypot(view.z1, view.z2))
        note = f"; the code is {r:.1f} standard deviations from the origin, where the prior rarely draws" if r > 2.5 else ""
        return (f"Left: the 2-D codes of the test digits, coloured by class, with the code ({view.z1:+.1f}, "
                f"{view.z2:+.1f}) marked. Right: its decoded image, which the classifier reads as a {view.digit} "
                f"with confidence {view.confidence:.2f}{note}")

    def draw(self, view: LatentView) -> None:
        self.marker.set_data([view.z1], [view.z2])
        self.image.set_data(view.image)
        self.ax_img.set_title(f"decoded: looks like a {view.digit} ({view.confidence:.2f})", fontsize=10)
        self.status.value = latent_message(view)
