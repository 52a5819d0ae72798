"""Precomputed explorers (dlcourse.widgets.precomputed): an explorer run on a grid of control values, shown as
self-contained HTML (native range inputs with labels, one <img> swapped by inline JavaScript), and the
accessibility of the live widgets (the figure is an <img> with an alt text; every slider gets a name).

A tiny explorer (no data, no training) drives the structure and error tests; the browser test opens a
standalone page in Debian's chromium, presses ArrowRight on a slider and sees the image and its alt change."""
import base64
import html
import re

import numpy as np
import pytest

from dlcourse.widgets import SLIDER_NAMES_JS, Explorer, Precomputed, figure_png, precomputed
from dlcourse.widgets.precomputed import MAX_FRAMES


class Waves(Explorer):
    """A sine wave with a frequency slider, a kind dropdown and a toggle for the phase."""

    def __init__(self):
        import ipywidgets as W

        controls = {"freq": W.FloatSlider(value=1.0, min=0.5, max=4.0, step=0.5, description="frequency"),
                    "kind": W.Dropdown(options=["sin", "cos"], value="sin", description="function"),
                    "shift": W.ToggleButtons(options=[("none", 0.0), ("half", 0.5)], value=0.0, description="phase")}
        super().__init__(controls, figsize=(3, 2))
        self.ax = self.fig.subplots()
        (self.line,) = self.ax.plot([], [])
        self.ax.set(xlim=(0, 1), ylim=(-1.1, 1.1))
        self.computed = 0
        self.update()

    def compute(self, freq, kind, shift):
        self.computed += 1
        x = np.linspace(0, 1, 200)
        return {"freq": freq, "kind": kind, "shift": shift, "x": x,
                "y": getattr(np, kind)(2 * np.pi * (freq * x + shift))}

    def draw(self, r):
        self.line.set_data(r["x"], r["y"])
        self.ax.set_title(f"{r['kind']} at {r['freq']:g}")
        self.status.value = f"{r['kind']} {r['freq']}"

    def alt_text(self, r):
        return f"{r['kind']} wave of frequency {r['freq']:g}, phase {r['shift']:g}"


class CaptionedWaves(Waves):
    def caption(self, r):
        return f"y = {r['kind']}(2 pi {r['freq']:g} x) <b>"


@pytest.fixture
def waves():
    return Waves()


def images(block: str):
    return re.findall(r'<img class="dl-explorer-figure" src="data:image/png;base64,([^"]+)" alt="([^"]*)"', block)


def test_html_structure_one_frame_per_combination(waves):
    p = precomputed(waves, {"freq": [1.0, 2.0, 3.0], "kind": ["sin", "cos"]})
    assert isinstance(p, Precomputed) and len(p.frames) == 6 and p.controls == ["freq", "kind"]
    block = p._repr_html_()
    assert block.startswith('<div class="dl-explorer"') and block.count('class="dl-explorer-slider"') == 2
    for k, (name, label, n) in enumerate([("freq", "frequency", 3), ("kind", "function", 2)]):
        m = re.search(rf'<label for="([^"]+)"[^>]*>{label}</label><input type="range" id="\1" '
                      rf'class="dl-explorer-slider" data-control="{name}" min="0" max="{n - 1}" step="1"', block)
        assert m, (name, block[:600])
        assert f'<output for="{m.group(1)}"' in block
    (src, alt), = images(block)                          # one <img>, the frame of the current values
    assert base64.b64decode(src)[:8] == b"\x89PNG\r\n\x1a\n"
    assert html.unescape(alt) == "sin wave of frequency 1, phase 0" and p.start == p.index(freq=1.0, kind="sin") == 0
    assert "http" not in block.replace("http-equiv", "")  # nothing fetched from the network
    # every frame: its own figure and alt text, in row-major order (the last control fastest)
    alts = [alt for _, alt, _ in p.frames]
    assert len(set(alts)) == 6 and len({png for png, _, _ in p.frames}) == 6
    assert "<pre class=\"dl-explorer-caption\"" not in block           # no caption unless the explorer gives one
    assert alts[p.index(freq=2.0, kind="cos")] == "cos wave of frequency 2, phase 0"
    assert '"2"' in block and '"cos"' in block          # the option texts shown in the <output>
    assert "Waves: 3 freq x 2 kind = 6 frames" in repr(p) and p.nbytes == len(block.encode())


def test_choices_become_an_index_range_and_the_start_is_the_current_setting(waves):
    waves.controls["freq"].value = 2.2
    waves.controls["shift"].value = 0.5
    p = precomputed(waves, {"shift": [0.0, 0.5], "freq": [1.0, 2.0, 4.0]})
    assert p.texts == {"shift": ["0", "0.5"], "freq": ["1", "2", "4"]}
    assert p.start == p.index(shift=0.5, freq=2.0)
    assert html.unescape(images(p.html())[0][1]) == "sin wave of frequency 2, phase 0.5"


def test_the_explorer_is_restored_and_its_controls_never_move(waves):
    waves.controls["freq"].value = 1.5
    before_png, before_status, n = figure_png(waves.fig), waves.status.value, waves.computed
    moved = []
    waves.controls["freq"].observe(lambda change: moved.append(change), names="value")
    precomputed(waves, {"freq": [0.5, 1.0, 4.0], "kind": ["sin", "cos"]})
    assert waves.computed == n + 6 and moved == [] and waves.controls["freq"].value == 1.5
    assert figure_png(waves.fig) == before_png and waves.status.value == before_status
    assert waves.result["freq"] == 1.5


@pytest.mark.parametrize("grid,match", [
    ({}, "non-empty dict"),
    ({"frequency": [1.0]}, r"unknown control 'frequency' of Waves \(did you mean 'freq'\?\)"),
    ({"freq": []}, r"grid\['freq'\] is empty"),
    ({"freq": 1.0}, "must be a list"),
    ({"freq": [1.0, 1.0]}, "repeats a value"),
    ({"freq": [0.1, 1.0]}, r"0.1 is outside the control's range \[0.5, 4\]"),
    ({"freq": [5.0]}, "outside the control's range"),
    ({"freq": ["fast"]}, "outside the control's range"),
    ({"kind": ["tan"]}, "'tan' is not an option of the control"),
    ({"shift": [0.25]}, "not an option"),
    ({"freq": list(np.linspace(0.5, 4, 31)), "kind": ["sin", "cos"]}, f"62 combinations; at most {MAX_FRAMES}"),
])
def test_bad_grids_raise_clear_errors(waves, grid, match):
    with pytest.raises(ValueError, match=match):
        precomputed(waves, grid)


def test_live_figure_is_an_img_with_the_alt_text_and_sliders_get_names(waves):
    waves.controls["kind"].value = "cos"
    (src, alt), = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]*)"', waves.figure_view.value)
    assert html.unescape(alt) == waves.alt_text(waves.result) == "cos wave of frequency 1, phase 0"
    assert all(c.description for c in waves.controls.values())
    assert "aria-label" in SLIDER_NAMES_JS and "aria-valuetext" in SLIDER_NAMES_JS


def test_default_alt_text_names_the_explorer_and_values():
    class Plain(Waves):
        """Plain waves."""

        alt_text = Explorer.alt_text

    e = Plain()
    assert e.alt_text(e.result) == "Plain waves (frequency 1.0, function sin, phase 0.0)"


def test_perceptron_offers_the_number_of_updates():
    from dlcourse import data
    from dlcourse.widgets import PerceptronStepper

    toy = data.make_toy("linear", n=200, seed=0)
    stepper = PerceptronStepper(toy.X_train, toy.y_train, lr=1.0, seed=0)
    stepper.buttons["step10"].click()
    w = stepper.state.w.copy()
    p = precomputed(stepper, {"updates": [0, 1, 5, 10]})
    assert p.start == 3 and stepper.state.updates == 10 and np.array_equal(stepper.state.w, w)
    assert "before any update" in p.frames[0][1] and "after 1 update at" in p.frames[1][1]
    assert len({alt for _, alt, _ in p.frames}) == 4


def test_caption_is_escaped_and_swapped_with_the_frame():
    p = precomputed(CaptionedWaves(), {"freq": [1.0, 2.0]})
    block = p.html()
    assert '<pre class="dl-explorer-caption"' in block and "y = sin(2 pi 1 x) &lt;b&gt;</pre>" in block
    assert [c for _, _, c in p.frames] == ["y = sin(2 pi 1 x) <b>", "y = sin(2 pi 2 x) <b>"]


@pytest.mark.e2e
def test_keyboard_moves_the_precomputed_slider_in_chromium(tmp_path, waves):
    from browser import browser

    p = precomputed(waves, {"freq": [1.0, 2.0, 3.0], "kind": ["sin", "cos"]})
    p.save(tmp_path / "explorer.html")
    with browser() as b:
        page = b.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((tmp_path / "explorer.html").as_uri())
        img = page.locator("img.dl-explorer-figure")
        src0, alt0 = img.get_attribute("src"), img.get_attribute("alt")
        slider = page.locator('.dl-explorer-slider[data-control="freq"]')
        page.keyboard.press("Tab")                        # the first slider is the first focusable element
        assert page.evaluate("document.activeElement.dataset.control") == "freq"
        page.keyboard.press("ArrowRight")
        assert slider.input_value() == "1"
        assert img.get_attribute("src") != src0 and img.get_attribute("alt") == "sin wave of frequency 2, phase 0"
        assert page.locator(f'output[for="{slider.get_attribute("id")}"]').inner_text() == "2"
        assert slider.get_attribute("aria-valuetext") == "2"
        page.keyboard.press("Tab")
        page.keyboard.press("ArrowRight")                 # the second slider: a choice, by index
        assert img.get_attribute("alt") == "cos wave of frequency 2, phase 0"
        assert page.locator("output").nth(1).inner_text() == "cos"
        src_end = img.get_attribute("src")
        assert src_end == "data:image/png;base64," + base64.b64encode(p.frames[p.index(freq=2.0, kind="cos")][0]).decode()
        assert alt0 != img.get_attribute("alt") and errors == []
        page.keyboard.press("End")                         # Home/End: the native range input's keys
        assert page.locator("output").nth(1).inner_text() == "cos"
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("End")
        assert img.get_attribute("alt") == "cos wave of frequency 3, phase 0"
