"""Precomputed explorers: an :class:`~dlcourse.widgets.Explorer` run on a small grid of control values, stored
as inline PNG frames, and shown as a self-contained HTML block whose sliders swap the frames with no kernel
and no network (e.g. in the web version of the course).

The block is plain HTML: one native ``<input type="range">`` per varied control, with a visible
``<label for=...>`` and an ``<output>`` showing the value (keyboard-operable: arrow keys, Home, End), and one
``<img alt=...>`` whose ``src`` and ``alt`` a few lines of inline JavaScript swap. A choice (dropdown,
toggle) becomes a range over the index of its options, the option's text shown in the ``<output>``.
CSS classes: ``dl-explorer`` (container), ``dl-explorer-slider`` (with ``data-control="<name>"``),
``dl-explorer-figure`` (the image).
"""
from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Precomputed", "precomputed", "MAX_FRAMES"]

#: most frames one precomputed explorer may hold (each is an inline PNG stored with the notebook)
MAX_FRAMES = 60


@dataclass
class Precomputed:
    """The frames of :func:`precomputed` and their HTML.

    Attributes:
        name: the explorer's class name. controls: varied control names, in grid order. labels: their
        visible names. values: control -> list of values. frames: ``(png bytes, alt text)`` per combination,
        in row-major order of ``controls`` (the last control varies fastest). start: the frame shown first.
        seconds: wall time spent computing and drawing the frames.
    """

    name: str
    controls: list
    labels: list
    values: dict
    frames: list
    start: int = 0
    seconds: float = 0.0
    texts: dict = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        """Size of the HTML block in bytes (what the notebook stores)."""
        return len(self.html().encode())

    def index(self, **values) -> int:
        """Frame index of one combination of values (every varied control must be given)."""
        i = 0
        for name in self.controls:
            i = i * len(self.values[name]) + self.values[name].index(values[name])
        return i

    def html(self) -> str:
        data = [[base64.b64encode(png).decode(), alt, caption] for png, alt, caption in self.frames]
        uid = "dl-explorer-" + hashlib.sha1(json.dumps([self.controls, self.texts, data]).encode()).hexdigest()[:10]
        sizes = [len(self.values[c]) for c in self.controls]
        starts, rest = [], self.start
        for n in reversed(sizes):
            starts.append(rest % n)
            rest //= n
        starts.reverse()
        rows = []
        for k, (name, label) in enumerate(zip(self.controls, self.labels)):
            cid, texts = f"{uid}-{k}", self.texts[name]
            rows.append(
                f'<div style="display: flex; align-items: center; gap: 0.6em; margin: 0.2em 0">'
                f'<label for="{cid}" style="min-width: 7em">{html.escape(label)}</label>'
                f'<input type="range" id="{cid}" class="dl-explorer-slider" data-control="{html.escape(name)}" '
                f'min="0" max="{len(texts) - 1}" step="1" value="{starts[k]}" '
                f'aria-valuetext="{html.escape(texts[starts[k]])}" style="width: 16em">'
                f'<output for="{cid}" id="{cid}-value">{html.escape(texts[starts[k]])}</output></div>')
        png, alt, caption = self.frames[self.start]
        has_caption = any(c for _, _, c in self.frames)
        payload = json.dumps({"frames": data, "texts": [self.texts[c] for c in self.controls]})
        payload = payload.replace("</", "<\\/")                # never closes the <script> early
        script = f"""<script type="application/json" class="dl-explorer-data">{payload}</script>
<script>(function () {{
  document.querySelectorAll('[data-dl-explorer="{uid}"]:not([data-ready])').forEach(function (root) {{
    root.setAttribute('data-ready', '1');
    var data = JSON.parse(root.querySelector('.dl-explorer-data').textContent);
    var sliders = root.querySelectorAll('.dl-explorer-slider');
    var img = root.querySelector('.dl-explorer-figure');
    function show() {{
      var i = 0;
      sliders.forEach(function (s, k) {{
        var v = Number(s.value), text = data.texts[k][v];
        i = i * data.texts[k].length + v;
        s.setAttribute('aria-valuetext', text);
        root.querySelector('output[for="' + s.id + '"]').textContent = text;
      }});
      img.src = 'data:image/png;base64,' + data.frames[i][0];
      img.alt = data.frames[i][1];
      var caption = root.querySelector('.dl-explorer-caption');
      if (caption) {{ caption.textContent = data.frames[i][2]; }}
    }}
    sliders.forEach(function (s) {{ s.addEventListener('input', show); }});
  }});
}})();</script>"""
        return (f'<div class="dl-explorer" data-dl-explorer="{uid}" role="group" '
                f'aria-label="{html.escape(self.name)} without a kernel: precomputed figures">\n'
                + "\n".join(rows) + "\n"
                + f'<img class="dl-explorer-figure" src="data:image/png;base64,{base64.b64encode(png).decode()}" '
                  f'alt="{html.escape(alt, quote=True)}" style="max-width: 100%">\n'
                + (f'<pre class="dl-explorer-caption" style="white-space: pre-wrap">{html.escape(caption)}</pre>\n'
                   if has_caption else "")
                + script + "\n</div>")

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        return (f"Precomputed({self.name}: {' x '.join(f'{len(self.values[c])} {c}' for c in self.controls)} "
                f"= {len(self.frames)} frames, {self.nbytes / 1000:.0f} kB)")

    def save(self, path) -> None:
        """Write a standalone HTML page with the block (for a browser, or to share)."""
        from pathlib import Path

        Path(path).write_text(f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.name)}'
                              f'</title></head><body><main>\n{self.html()}\n</main></body></html>\n')


def _allowed(control):
    """(options or None, low, high) of a control: options for choices, the value range for sliders."""
    options = getattr(control, "options", None)
    if options is not None:
        values = [o[1] if isinstance(o, tuple) and len(o) == 2 else o for o in options]
        return list(values), None, None
    low, high = getattr(control, "min", None), getattr(control, "max", None)
    base = getattr(control, "base", None)
    if base is not None and low is not None and high is not None:           # FloatLogSlider: min/max exponents
        low, high = float(base) ** low, float(base) ** high
    return None, low, high


def _check_grid(explorer, grid):
    from difflib import get_close_matches

    from . import _fmt

    if not isinstance(grid, dict) or not grid:
        raise ValueError("grid must be a non-empty dict {control name: [values, ...]}")
    allowed = explorer.grid_controls()
    for name, values in grid.items():
        if name not in allowed:
            close = get_close_matches(str(name), list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown control {name!r} of {type(explorer).__name__}{hint}; "
                             f"expected one of: {', '.join(map(repr, allowed))}")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise ValueError(f"grid[{name!r}] must be a list of values, got {values!r}")
        values = list(values)
        if not values:
            raise ValueError(f"grid[{name!r}] is empty: give at least one value")
        if len({_fmt(v) for v in values}) != len(values):
            raise ValueError(f"grid[{name!r}] repeats a value: {values}")
        options, low, high = _allowed(allowed[name])
        for v in values:
            if options is not None:
                if v not in options:
                    raise ValueError(f"grid[{name!r}]: {v!r} is not an option of the control; "
                                     f"expected one of: {', '.join(map(repr, options))}")
            elif not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool) \
                    or not ((low is None or v >= low - 1e-12 * abs(low)) and (high is None or v <= high + 1e-12 * abs(high))):
                raise ValueError(f"grid[{name!r}]: {v!r} is outside the control's range [{low:g}, {high:g}]"
                                 if low is not None and high is not None else
                                 f"grid[{name!r}]: {v!r} is not allowed (range {low}..{high})")
    n = int(np.prod([len(list(v)) for v in grid.values()]))
    if n > MAX_FRAMES:
        raise ValueError(f"the grid has {n} combinations; at most {MAX_FRAMES} frames are stored (each is an "
                         "image in the notebook): use fewer values")
    return {name: list(values) for name, values in grid.items()}


def precomputed(explorer, grid: dict, dpi: int = 60, colors: int = 128) -> Precomputed:
    """Run ``explorer`` on every combination of ``grid`` (control name -> list of values; the other controls
    keep their current values) and return the frames as a :class:`Precomputed`, shown in a notebook as a
    self-contained HTML block with one slider per grid control.

    Each frame is computed with :meth:`Explorer.frame`, drawn with :meth:`Explorer.draw` and described by
    :meth:`Explorer.alt_text`; the PNGs are small (``dpi``, a palette of ``colors`` colours). The explorer's
    own figure, status and controls are restored afterwards. The first frame shown is the combination
    closest to the explorer's current values.

    Raises:
        ValueError: unknown control name, a value outside a control's range or options, an empty grid or
            list, a repeated value, or more than :data:`MAX_FRAMES` combinations.
    """
    from . import _fmt, figure_png

    grid = _check_grid(explorer, grid)
    controls = list(grid)
    allowed = explorer.grid_controls()
    labels = [getattr(allowed[c], "description", "") or c for c in controls]
    current = explorer.grid_values()
    t0 = time.perf_counter()
    frames = []
    saved = explorer.result
    try:
        for combo in itertools.product(*grid.values()):
            values = dict(zip(controls, combo))
            result = explorer.frame(**values)
            explorer.draw(result)
            frames.append((figure_png(explorer.fig, dpi=dpi, colors=colors), explorer.alt_text(result),
                           explorer.caption(result)))
    finally:
        explorer.result = saved
        if saved is not None:
            explorer.refresh()
    seconds = time.perf_counter() - t0

    def closest(name):
        vals, now = grid[name], current.get(name)
        if now in vals:
            return vals.index(now)
        try:
            x, now = np.array(vals, float), float(now)
        except (TypeError, ValueError):
            return 0
        if (x > 0).all() and now > 0:                      # log sliders: nearest on a log scale
            x, now = np.log(x), np.log(now)
        return int(np.argmin(np.abs(x - now)))

    start = 0
    for name in controls:
        start = start * len(grid[name]) + closest(name)
    return Precomputed(type(explorer).__name__, controls, labels, grid, frames, start, seconds,
                       {c: [_fmt(v) for v in grid[c]] for c in controls})
