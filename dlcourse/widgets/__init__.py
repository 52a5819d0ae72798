"""Interactive experiments (ipywidgets).

Every widget is a thin shell over plain code: a *state* or a *compute* function that tests can call
directly, and a ``draw`` that updates one persistent matplotlib figure. Tests drive the widget the
way a student does (``slider.value = ...``, ``button.click()``) and check that the figure changed and
how long the update took (``last_update_seconds``, wall time, and ``last_update_cpu_seconds``, the
CPU time of the process: the work itself, which other programs on a busy machine cannot inflate).

The base class :class:`Explorer` wires controls to ``update()``; a chapter's widget subclasses it and
lives in its own module of this package (``dlcourse/widgets/<topic>.py``), re-exported here. Its figure is
shown as an ``<img>`` whose ``alt`` is :meth:`Explorer.alt_text` (what the figure shows, with the current
values), and every slider handle gets its description as its accessible name (:data:`SLIDER_NAMES_JS`), so a
screen reader can tell what each control and each figure is.

:func:`precomputed` runs an explorer on a small grid of control values and returns a self-contained HTML
block (native range inputs, one ``<img>`` swapped by a few lines of JavaScript): the explorer without a
kernel, e.g. in the web version of the course.

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
- :class:`GridworldExplorer` (chapter 15): the discount and epsilon vs value iteration's value map and greedy
  policy on a gridworld, beside what Q-learning learns.
"""
from __future__ import annotations

import time

import numpy as np


__all__ = ["Explorer", "figure_png", "figure_img_html", "precomputed", "Precomputed", "SLIDER_NAMES_JS", "PerceptronState", "PerceptronStepper", "LearningRateExplorer",
           "DropoutExplorer", "DetectionExplorer",
           "LatentExplorer", "DiffusionExplorer", "TemperatureExplorer",
           "EpsilonExplorer", "GridworldExplorer"]


def figure_png(fig, dpi: int = 60, colors: int | None = None) -> bytes:
    """The figure rendered to PNG bytes (to show it, or to compare two states of a widget).

    ``colors``: if given, the image is reduced to a palette of that many colours (2-256), which makes line
    plots and small images several times smaller (used for the stored frames of :func:`precomputed`).
    """
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    if colors is None:
        return buf.getvalue()
    from PIL import Image

    image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB").quantize(colors=int(colors))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def figure_img_html(png: bytes, alt: str, css_class: str = "") -> str:
    """``<img>`` tag showing PNG bytes inline (data URI) with an alt text for screen readers."""
    import base64
    import html

    cls = f' class="{html.escape(css_class)}"' if css_class else ""
    return (f'<img{cls} src="data:image/png;base64,{base64.b64encode(png).decode()}" '
            f'alt="{html.escape(alt, quote=True)}" style="max-width: 100%">')


#: JavaScript shown once with every explorer in JupyterLab: ipywidgets' sliders are noUiSlider handles
#: (``role="slider"``) that a ``<label>`` cannot name, so this gives each handle its widget's description as
#: ``aria-label`` and the visible readout (e.g. "0.1", not the slider's internal log10 position) as
#: ``aria-valuetext``; a MutationObserver repeats it for sliders rendered or rebuilt later.
SLIDER_NAMES_JS = """
(function () {
  if (window.__dlcourseSliderNames) { window.__dlcourseSliderNames(); return; }
  var pending = false;
  function name() {
    pending = false;
    document.querySelectorAll('.widget-slider').forEach(function (w) {
      var label = w.querySelector('.widget-label');
      var text = label ? label.textContent.trim() : '';
      var readout = w.querySelector('.widget-readout');
      w.querySelectorAll('[role="slider"]').forEach(function (h) {
        if (text && h.getAttribute('aria-label') !== text) { h.setAttribute('aria-label', text); }
        var value = readout ? readout.textContent.trim() : '';
        if (value && h.getAttribute('aria-valuetext') !== value) { h.setAttribute('aria-valuetext', value); }
      });
    });
  }
  function later() { if (!pending) { pending = true; window.requestAnimationFrame(name); } }
  window.__dlcourseSliderNames = name;
  new MutationObserver(later).observe(document.body, {childList: true, subtree: true, characterData: true,
                                                      attributes: true, attributeFilter: ['aria-valuetext']});
  name();
})();
"""


class Explorer:
    """Base class: ``controls`` (name -> ipywidget) -> :meth:`compute` -> :meth:`draw` on ``self.fig``.

    Subclasses implement ``compute(**values)`` (plain Python, no widgets: the experiment),
    ``draw(result)`` (update ``self.fig``) and ``alt_text(result)`` (one sentence: what the figure shows with
    these values and the point it makes; the figure's alt text). Any change of a control's value calls
    :meth:`update`. Displaying the object in Jupyter shows the controls above the figure.

    :func:`precomputed` drives an explorer through :meth:`frame` (the result for some control values, without
    touching the controls), :meth:`draw` and :meth:`alt_text`; a subclass with a state that buttons change
    (e.g. a number of steps) can offer it as an extra grid control through :meth:`grid_controls`.
    """

    def __init__(self, controls: dict, figsize=(6, 4), buttons: dict | None = None):
        import ipywidgets as W
        from matplotlib.figure import Figure

        self.controls = dict(controls)
        self.buttons = dict(buttons or {})
        self.fig = Figure(figsize=figsize)    # not managed by pyplot: never auto-shown twice
        self.figure_view = W.HTML()           # the figure as <img alt=...>: a screen reader reads the alt text
        self.status = W.HTML()
        self.last_update_seconds = float("nan")
        self.last_update_cpu_seconds = float("nan")
        self.result = None
        self.dpi = 90
        for control in self.controls.values():
            control.observe(lambda change: self.update(), names="value")
        self.widget = W.VBox([W.HBox(list(self.controls.values()) + list(self.buttons.values())),
                              self.status, self.figure_view])

    def values(self) -> dict:
        """Current value of every control, by name."""
        return {name: c.value for name, c in self.controls.items()}

    def compute(self, **values):  # pragma: no cover - abstract
        raise NotImplementedError

    def draw(self, result) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def alt_text(self, result) -> str:
        """What the figure of ``result`` shows (its alt text). Subclasses say what is plotted and the point it
        makes; this default names the explorer and the control values."""
        doc = (type(self).__doc__ or type(self).__name__).strip().splitlines()[0].rstrip(".")
        settings = ", ".join(f"{self.label(name)} {value}" for name, value in self.values().items())
        return f"{doc} ({settings})" if settings else doc

    def caption(self, result) -> str:
        """Plain text shown under a precomputed frame of ``result`` (e.g. a sampled text); default none."""
        return ""

    def label(self, name: str) -> str:
        """The visible name of control ``name`` (its description)."""
        control = self.controls.get(name)
        return (getattr(control, "description", "") or name) if control is not None else name

    def grid_controls(self) -> dict:
        """The controls :func:`precomputed` may vary: name -> ipywidget (or an object with ``description``
        and ``min``/``max`` or ``options``). Default: :attr:`controls`."""
        return dict(self.controls)

    def grid_values(self) -> dict:
        """Current value of every control of :meth:`grid_controls` (the first frame shown is the closest)."""
        return self.values()

    def frame(self, **values):
        """The result for these control values (the others keep their current values), computed without
        moving the controls; used by :func:`precomputed`."""
        return self.compute(**{**self.values(), **values})

    def figure_html(self, result=None, dpi: int | None = None, colors: int | None = None,
                    css_class: str = "") -> str:
        """The current figure as an ``<img>`` with :meth:`alt_text` of ``result`` (default: the current one)."""
        result = self.result if result is None else result
        png = figure_png(self.fig, dpi=self.dpi if dpi is None else dpi, colors=colors)
        return figure_img_html(png, self.alt_text(result), css_class)

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
        # picture whatever matplotlib backend is active (inline, Agg, ...); an <img> with an alt text.
        self.figure_view.value = self.figure_html(self.result)

    def _ipython_display_(self):
        from IPython.display import Javascript, display

        display(self.widget)
        display(Javascript(SLIDER_NAMES_JS))


def _fmt(value) -> str:
    """A control value as a reader sees it: 0.1, 1e-04 -> 0.0001, 'Adam'."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.3g}"
    return str(value)


from .precomputed import Precomputed, precomputed  # noqa: E402  (re-exported)


from .perceptron import PerceptronState, PerceptronStepper  # noqa: E402  (re-exported)
from .optimization import LearningRateExplorer  # noqa: E402
from .regularization import DropoutExplorer  # noqa: E402
from .detection import DetectionExplorer  # noqa: E402
from .latent import LatentExplorer  # noqa: E402
from .diffusion import DiffusionExplorer  # noqa: E402
from .sampling import TemperatureExplorer  # noqa: E402
from .adversarial import EpsilonExplorer  # noqa: E402
from .gridworld import GridworldExplorer  # noqa: E402
