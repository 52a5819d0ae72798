"""The forward-process explorer of chapter 10: a slider over the diffusion step t shows a digit and the
two moons noised with the closed form q(x_t | x_0), next to the signal-to-noise ratio of that step.

:func:`noised_state` is the computation (plain code, no widgets); :class:`DiffusionExplorer` is the thin
shell that calls it when the slider moves and redraws one figure.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..validate import check_int
from . import Explorer

__all__ = ["NoisedState", "noised_state", "DiffusionExplorer"]


@lru_cache(maxsize=4)
def _data(seed: int):
    """One real digit in [-1, 1] (8, 8), 1000 standardised moon points (1000, 2) and the noise for both."""
    from .. import data

    digit = data.load_digits(flatten=False).X_train[0, 0] * 2 - 1                     # (8, 8)
    moons = data.make_toy("moons", n=1000, noise=0.05, test_size=0.25).X_train      # (750, 2)
    moons = (moons - moons.mean(0)) / moons.std(0)
    rng = np.random.default_rng(seed)
    return digit, moons, rng.normal(size=digit.shape), rng.normal(size=moons.shape)


@dataclass
class NoisedState:
    """What the explorer shows at step t (1-based, 1..T).

    Attributes:
        t, T: the step and the number of steps. digit: (8, 8) the noised digit; moons: (N, 2) the noised
        points; signal, noise: sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t); snr: their squared ratio;
        snr_curve: (T,) the SNR of every step.
    """

    t: int
    T: int
    digit: np.ndarray
    moons: np.ndarray
    signal: float
    noise: float
    snr: float
    snr_curve: np.ndarray


def noised_state(t: int, T: int = 100, seed: int = 0) -> NoisedState:
    """Noise a fixed digit and the moons to step ``t`` (1..T) with the linear schedule of chapter 10.

    The same ``seed`` uses the same noise at every t, so moving the slider only changes the mixing
    weights sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t).
    """
    from ..diffusion import alpha_bar, linear_betas, q_sample, snr

    T = check_int("T", T, 1)
    t = check_int("t", t, 1)
    if t > T:
        raise ValueError(f"t must be in 1..T = {T}, got {t}")
    seed = check_int("seed", seed, 0)
    ab = alpha_bar(linear_betas(T))                                                  # (T,)
    digit, moons, eps_digit, eps_moons = _data(seed)
    return NoisedState(t=t, T=T, digit=q_sample(digit, t - 1, ab, eps_digit),
                       moons=q_sample(moons, t - 1, ab, eps_moons), signal=float(np.sqrt(ab[t - 1])),
                       noise=float(np.sqrt(1 - ab[t - 1])), snr=float(snr(ab[t - 1])), snr_curve=snr(ab))


class DiffusionExplorer(Explorer):
    """Slider "t" (1..T): the noised digit, the noised moons and the SNR curve with the current step marked."""

    def __init__(self, t: int = 1, T: int = 100, seed: int = 0):
        import ipywidgets as W

        self.T, self.seed = check_int("T", T, 1), check_int("seed", seed, 0)
        slider = W.IntSlider(value=t, min=1, max=self.T, step=1, description="t", continuous_update=False)
        super().__init__({"t": slider}, figsize=(10, 3.2))
        axes = self.fig.subplots(1, 3)
        self.ax_digit, self.ax_moons, self.ax_snr = axes
        first = noised_state(t, self.T, self.seed)
        self.image = self.ax_digit.imshow(first.digit, cmap="gray_r", vmin=-2, vmax=2)
        self.ax_digit.axis("off")
        self.points = self.ax_moons.scatter(first.moons[:, 0], first.moons[:, 1], s=2)
        self.ax_moons.set(xlim=(-3.5, 3.5), ylim=(-3.5, 3.5), xticks=[], yticks=[])
        steps = np.arange(1, self.T + 1)
        self.ax_snr.semilogy(steps, first.snr_curve)
        self.marker, = self.ax_snr.plot([t], [first.snr], "ro")
        self.ax_snr.set(xlabel="step t", title="SNR = signal$^2$ / noise$^2$")
        self.fig.tight_layout()
        self.update()

    def compute(self, t):
        return noised_state(t, self.T, self.seed)

    def alt_text(self, s: NoisedState) -> str:
        what = ("almost clean" if s.snr > 30 else "the signal dominates" if s.snr > 3
                else "signal and noise of similar size" if s.snr > 0.3 else "the noise dominates" if s.snr > 0.01
                else "almost pure noise")
        return (f"Diffusion step t = {s.t} of {s.T}: a digit and the two moons noised as {s.signal:.3f} x_0 + "
                f"{s.noise:.3f} eps ({what}), and the signal-to-noise ratio per step, {s.snr:.3g} at step t, "
                "falling with t on a log scale")

    def draw(self, s: NoisedState) -> None:
        self.image.set_data(s.digit)
        self.points.set_offsets(s.moons)
        self.marker.set_data([s.t], [s.snr])
        self.ax_digit.set_title(f"t = {s.t}: {s.signal:.3f} x_0 + {s.noise:.3f} eps")
        self.ax_moons.set_title(f"moons at t = {s.t}")
        self.status.value = f"t = {s.t} of {s.T}: SNR = {s.snr:.3g}"
