"""Interactive experiments (ipywidgets).

Every widget is a thin shell over plain code: a *state* or a *compute* function that tests can call
directly, and a ``draw`` that updates one persistent matplotlib figure. Tests drive the widget the
way a student does (``slider.value = ...``, ``button.click()``) and check that the figure changed and
how long the update took (``last_update_seconds``, wall time, and ``last_update_cpu_seconds``, the
CPU time of the process: the work itself, which other programs on a busy machine cannot inflate).

The base class :class:`Explorer` wires controls to ``update()``; a chapter's widget subclasses it and
lives in its own module of this package (``dlcourse/widgets/<topic>.py``), re-exported here.

- :class:`PerceptronStepper` (chapter 01): step through Rosenblatt's rule.
- :class:`LearningRateExplorer` (chapter 04): learning rate, optimizer, schedule and batch size on a
  2-D surface and on a small MLP.
- :class:`DropoutExplorer` (chapter 05): drop probability, width and training-set size vs the
  generalization gap.
- :class:`DetectionExplorer` (chapter 08): the confidence and NMS IoU thresholds of a grid detector vs
  its precision and recall.
- :class:`LatentExplorer` (chapter 09): two sliders z1, z2 through a VAE's 2-D latent space.
- :class:`DiffusionExplorer` (chapter 10): the diffusion step t vs the noised digit and moons, and the SNR.
- :class:`TemperatureExplorer` (chapter 12): the sampling temperature of a character-level model vs the
  next-character distribution and the sampled text.
- :class:`EpsilonExplorer` (chapter 13): the attack budget epsilon vs the attacked digit, its perturbation
  and the network's probabilities.
"""
from __future__ import annotations

import time

import numpy as np


__all__ = ["Explorer", "figure_png", "PerceptronState", "PerceptronStepper", "LearningRateExplorer",
           "DropoutExplorer", "DetectionExplorer",
           "LatentExplorer", "DiffusionExplorer", "TemperatureExplorer",
           "EpsilonExplorer"]


def figure_png(fig, dpi: int = 60) -> bytes:
    """The figure rendered to PNG bytes (to show it, or to compare two states of a widget)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


class Explorer:
    """Base class: ``controls`` (name -> ipywidget) -> :meth:`compute` -> :meth:`draw` on ``self.fig``.

    Subclasses implement ``compute(**values)`` (plain Python, no widgets: the experiment) and
    ``draw(result)`` (update ``self.fig``). Any change of a control's value calls :meth:`update`.
    Displaying the object in Jupyter shows the controls above the figure.
    """

    def __init__(self, controls: dict, figsize=(6, 4), buttons: dict | None = None):
        import ipywidgets as W
        from matplotlib.figure import Figure

        self.controls = dict(controls)
        self.buttons = dict(buttons or {})
        self.fig = Figure(figsize=figsize)    # not managed by pyplot: never auto-shown twice
        self.output = W.Output()
        self.status = W.HTML()
        self.last_update_seconds = float("nan")
        self.last_update_cpu_seconds = float("nan")
        self.result = None
        self.dpi = 90
        for control in self.controls.values():
            control.observe(lambda change: self.update(), names="value")
        self.widget = W.VBox([W.HBox(list(self.controls.values()) + list(self.buttons.values())),
                              self.status, self.output])

    def values(self) -> dict:
        """Current value of every control, by name."""
        return {name: c.value for name, c in self.controls.items()}

    def compute(self, **values):  # pragma: no cover - abstract
        raise NotImplementedError

    def draw(self, result) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def update(self) -> None:
        """Recompute, redraw and show; records ``last_update_seconds`` and ``last_update_cpu_seconds``."""
        t0, c0 = time.perf_counter(), time.process_time()
        self.result = self.compute(**self.values())
        self.refresh(t0, c0)

    def refresh(self, t0: float | None = None, c0: float | None = None) -> None:
        """Redraw the current result and show the figure."""
        t0 = time.perf_counter() if t0 is None else t0
        c0 = time.process_time() if c0 is None else c0
        self.draw(self.result)
        self._show()
        self.last_update_seconds = time.perf_counter() - t0
        self.last_update_cpu_seconds = time.process_time() - c0

    def _show(self) -> None:
        # Rendered to PNG here rather than by IPython's figure formatter, so the widget shows the same
        # picture whatever matplotlib backend is active (inline, Agg, ...).
        from IPython.display import Image, clear_output, display

        with self.output:
            clear_output(wait=True)
            display(Image(data=figure_png(self.fig, dpi=self.dpi)))

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


from .perceptron import PerceptronState, PerceptronStepper  # noqa: E402  (re-exported)
from .optimization import LearningRateExplorer  # noqa: E402
from .regularization import DropoutExplorer  # noqa: E402
from .detection import DetectionExplorer  # noqa: E402
from .latent import LatentExplorer  # noqa: E402
from .diffusion import DiffusionExplorer  # noqa: E402
from .sampling import TemperatureExplorer  # noqa: E402
from .adversarial import EpsilonExplorer  # noqa: E402
