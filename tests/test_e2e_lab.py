"""JupyterLab end to end, as a student uses it: start `jupyter lab` from the project's venv (with the
venv's settings overrides, as `make lab`), open a notebook in headless Debian chromium, run all cells,
press the widgets' buttons and move their sliders, and check that the figures really change, that no cell
shows an error and that Lab does not ask about Jupyter news. Screenshots go to _build/e2e/.

The notebook is built on the fly in a temporary folder (JupyterLab autosaves, and the test must never
rewrite the committed notebooks): the setup line of the chapter template plus, for chapters 01, 04 and 05,
the lines of the chapter that import and build its widget and the chapter's widget cell. nbval executes the
whole chapters; this test executes only their widgets, once.
"""
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jupytext
import nbformat
import pytest

from browser import browser, free_port
from conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SHOTS = ROOT / "_build" / "e2e"
NOTEBOOK = "widgets.ipynb"
NEWS_PROMPT = "official Jupyter news"                 # "Would you like to get notified about official Jupyter news?"
# chapter -> (its widget's class, lines of the chapter the widget cell needs besides the widget's import)
WIDGETS = {
    "01_perceptron": ("PerceptronStepper", [r"SCALE = ", r"SEEDS = ", r"toy = data\.make_toy\("]),
    "04_optimization": ("LearningRateExplorer", []),
    "05_regularization": ("DropoutExplorer", []),
    # an untrained detector here (the chapter trains it in between): the widget only re-thresholds its outputs
    "08_segmentation": ("DetectionExplorer", [r"SCALE = ", r"shapes_test = ", r"from dlcourse\.detection import GridDetector",
                                              r"det_model = GridDetector\("]),
    "09_vae_gan": ("LatentExplorer", []),
    "10_diffusion": ("DiffusionExplorer", [r"T = "]),
    "12_transformers": ("TemperatureExplorer", []),
    # the chapter's network and test digits are trained/loaded in between: None makes the explorer use its own
    # small cached digits CNN (about 1 s)
    "13_saliency_adversarial": ("EpsilonExplorer", [], "cnn = X_test = y_test = None\nEPS = 0.15"),
    "15_deep_rl": ("GridworldExplorer", []),
}


def marker(chapter):
    return f"# the widget of chapters/{chapter}"


def widget_notebook():
    """The notebook the test runs: the template's setup line, then one cell per chapter with the chapter's
    import of its widget, the lines it needs and the chapter's own widget cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (dlcourse)", "language": "python"}
    nb.cells.append(nbformat.v4.new_code_cell("import dlcourse\nfrom dlcourse import data\n\n"
                                              "rng, device = dlcourse.setup(seed=0, threads=1)"))
    for chapter, (cls, needed, *preamble) in WIDGETS.items():
        code = [c.source for c in jupytext.read(ROOT / "chapters" / f"{chapter}.py").cells if c.cell_type == "code"]
        lines = [line for src in code for line in src.splitlines()]
        widget = [src for src in code if re.search(rf"^\w+ = {cls}\(", src, re.MULTILINE)]
        assert len(widget) == 1, f"chapters/{chapter}.py: expected one cell that builds a {cls}, found {len(widget)}"
        imports = [line for line in lines if re.match(r"(from|import) ", line) and re.search(rf"\b{cls}\b", line)]
        extra = [line for pattern in needed for line in lines if re.match(pattern, line)]
        assert len(extra) == len(needed), f"chapters/{chapter}.py: lines {needed} not found"
        body = "\n".join(line for line in widget[0].splitlines() if line not in imports)
        nb.cells.append(nbformat.v4.new_code_cell("\n".join([marker(chapter), *imports, *extra, *preamble, body])))
    return nb


LAB_LOG = [None]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 with a token, serving a folder with the widget notebook; killed by PID."""
    work = tmp_path_factory.mktemp("lab")
    (work / "chapters").mkdir()
    nbformat.write(widget_notebook(), work / "chapters" / NOTEBOOK)
    port, token = free_port(), secrets.token_hex(16)
    jupyter = Path(sys.executable).with_name("jupyter")
    env = dict(os.environ, DLCOURSE_PROGRESS="0", JUPYTER_CONFIG_DIR=str(work / "config"),
               JUPYTER_RUNTIME_DIR=str(work / "runtime"))
    env.pop("MPLBACKEND", None)                         # as on a student's machine: the inline backend
    # render every cell (no virtual scrolling), so the page shows the whole notebook to the test, and start
    # the notebook's kernel without asking (a "Select Kernel" dialog on a fresh workspace could eat Run All)
    settings = work / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none", "autoStartDefaultKernel": true}')
    # no news setting here: the venv's overrides.json (written by `make setup`) must answer the news prompt
    env["JUPYTERLAB_SETTINGS_DIR"] = str(work / "settings")
    LAB_LOG[0] = work / "lab.log"                       # quoted when the notebook does not run (see below)
    log = open(LAB_LOG[0], "w")
    proc = subprocess.Popen([str(jupyter), "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
                             f"--ServerApp.token={token}", f"--ServerApp.root_dir={work / 'chapters'}",
                             "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"jupyter lab exited: {(work / 'lab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not start within 60 s")
        with browser() as b:
            yield url, token, b
    finally:
        os.killpg(proc.pid, signal.SIGTERM)             # the server and the kernels it started
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def start_kernel(url, token, notebook):
    """Start the notebook's kernel session through the REST API, so that the page opens connected to it (a
    notebook that never ran asks which kernel to start, and a Run All clicked meanwhile can be lost)."""
    body = json.dumps({"path": notebook, "name": notebook, "type": "notebook", "kernel": {"name": "python3"}})
    request = urllib.request.Request(f"{url}/api/sessions?token={token}", data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["kernel"]["id"]


def open_and_run_all(b, url, token, notebook, timeout_s=420):
    start_kernel(url, token, notebook)
    page = b.new_page(viewport={"width": 1400, "height": 1000})
    # a fresh workspace per notebook: only this notebook open, nothing restored from a previous test
    workspace = notebook.replace(".ipynb", "").replace("_", "-")
    page.goto(f"{url}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={token}", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle'], .jp-DebuggerBugButton", timeout=60000)
    dismiss_dialogs(page)
    # clear the stored outputs first, so that "every cell has an execution count" means "all ran"
    page.click("div.lm-MenuBar-itemLabel:text-is('Edit')")
    page.click("li.lm-Menu-item[data-command='editmenu:clear-all']")
    page.wait_for_function("() => ![...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
                           ".some(e => /\\[\\d+\\]/.test(e.textContent))", timeout=20000)
    started = time.time()
    run_all(page, notebook)
    reruns = 0
    idle_since = None
    # done when every code cell shows an execution count [n], or as soon as a cell shows an error. On a loaded
    # machine the kernel can die or restart mid-run: the queued cells then fall back to [ ] with nothing
    # running; after 15 s in that state the run is started again (twice at most).
    while True:
        state = page.evaluate(PROMPTS + " const out = [...document.querySelectorAll('.jp-OutputArea-output')];"
                              " return {done: p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent)),"
                              " error: out.some(e => e.innerText.includes('Traceback')),"
                              " busy: p.some(e => /\\[\\*\\]/.test(e.textContent))}; }")
        if state["done"] or state["error"]:
            return page
        if time.time() - started > timeout_s:
            page.screenshot(path=str(shot_dir() / f"lab-{notebook}-timeout.png"), full_page=True)
            log = LAB_LOG[0].read_text()[-3000:] if LAB_LOG[0] and LAB_LOG[0].exists() else ""
            raise AssertionError(f"{notebook}: the cells did not all run within {timeout_s} s ({reruns} re-runs); "
                                 f"the end of the JupyterLab log:\n{log}")
        idle_since = None if state["busy"] else (idle_since or time.time())
        if idle_since and time.time() - idle_since > 15 and reruns < 2:
            page.screenshot(path=str(shot_dir() / f"lab-{notebook}-rerun-{reruns}.png"))
            reruns, idle_since = reruns + 1, None
            run_all(page, notebook)
        time.sleep(1)


def run_all(page, notebook):
    """Run > Run All Cells; retried when no cell starts within 30 s (a click lost while the kernel starts)."""
    for attempt in range(3):
        dismiss_dialogs(page)
        page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
        page.click("li.lm-Menu-item[data-command='runmenu:run-all']")
        try:    # progress: some cell busy [*] or numbered [n] within 30 s, else the click was lost: retry
            page.wait_for_function(PROMPTS + " return p.some(e => /\\[(\\d+|\\*)\\]/.test(e.textContent)); }", timeout=30000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError
            page.screenshot(path=str(shot_dir() / f"lab-{notebook}-no-progress-{attempt}.png"))


PROMPTS = "() => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];"


def shot_dir():
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


def dismiss_dialogs(page):
    """Accept a kernel-selection or any other modal dialog JupyterLab may show on a fresh workspace."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        accept = dialog.locator("button.jp-mod-accept")
        (accept.first.click() if accept.count() else page.keyboard.press("Escape"))


def cell_errors(page):
    return page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output')]"
                         ".map(e => e.innerText).filter(t => t.includes('Traceback') || /\\w+Error:/.test(t))")


def widget_image(widget):
    img = widget.locator("img").last
    img.wait_for(timeout=20000)
    return img.get_attribute("src")


def wait_for_new_image(widget, before, timeout_s=10):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        src = widget.locator("img").last.get_attribute("src")
        if src and src != before:
            return src
        time.sleep(0.1)
    raise AssertionError("the widget's figure did not change")


def move_slider(widget, presses=1):
    handle = widget.locator(".noUi-handle, .widget-slider .ui-slider-handle").first
    handle.focus()
    for _ in range(presses):
        handle.press("ArrowRight")


@pytest.fixture(scope="module")
def widgets_page(lab):
    """The widget notebook, opened and run once; its page is shared by the tests below (one per widget)."""
    url, token, b = lab
    page = open_and_run_all(b, url, token, NOTEBOOK)
    try:
        yield page
    finally:
        page.close()


def widget_of(page, chapter):
    """The (outermost) widget in the output of the cell built from `chapter`."""
    cell = page.locator(".jp-CodeCell", has_text=marker(chapter)).first
    widget = cell.locator(".jp-OutputArea-output .widget-vbox").first
    widget.scroll_into_view_if_needed()
    return widget


def test_no_cell_shows_an_error(widgets_page):
    assert cell_errors(widgets_page) == []
    assert widgets_page.locator(".jp-CodeCell").count() == 1 + len(WIDGETS)


def test_lab_does_not_ask_about_jupyter_news(lab, widgets_page):
    """`make lab` installs overrides.json into the venv: fetchNews is "false", so no news prompt."""
    url, token, _ = lab
    with urllib.request.urlopen(f"{url}/lab/api/settings/@jupyterlab/apputils-extension:notification?token={token}",
                                timeout=10) as response:
        settings = json.load(response)
    # overrides.json replaces the schema's defaults (the user's own settings, here none, would still win)
    fetch_news = settings["settings"].get("fetchNews", settings["schema"]["properties"]["fetchNews"]["default"])
    assert fetch_news == "false", f"fetchNews is {fetch_news!r}: is {sys.prefix}/share/jupyter/lab/settings/overrides.json there?"
    assert widgets_page.get_by_text(NEWS_PROMPT).count() == 0, "JupyterLab asks about Jupyter news"


def test_perceptron_widget_in_jupyterlab(widgets_page):
    page = widgets_page
    widget = widget_of(page, "01_perceptron")
    before = widget_image(widget)
    t0 = time.time()
    widget.locator("button:has-text('10 steps')").click()
    after_click = wait_for_new_image(widget, before)
    click_seconds = time.time() - t0
    assert "w = (0.00, 0.00)" not in widget.inner_text()      # ten updates moved w
    move_slider(widget)
    wait_for_new_image(widget, after_click)
    text = widget.inner_text()
    assert "1.00" not in text and "w = (0.00, 0.00)" in text    # new lr, restarted from w = 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    widget.screenshot(path=str(SHOTS / "lab-01_perceptron-widget.png"))
    assert click_seconds < 5, f"the figure took {click_seconds:.1f} s to update after a click"
    assert cell_errors(page) == []


def drive_slider(page, chapter, slider_label, shot_name):
    """Move the slider labelled `slider_label` of the chapter's widget, expect a new figure; return seconds."""
    assert cell_errors(page) == [], f"{chapter}: cells show errors"
    widget = widget_of(page, chapter)
    before = widget_image(widget)
    slider = widget.locator(".widget-slider", has=page.locator(f"label:text-is('{slider_label}')")).first
    readout = slider.locator(".widget-readout").first.inner_text()
    t0 = time.time()
    move_slider(slider)
    wait_for_new_image(widget, before, timeout_s=20)
    seconds = time.time() - t0
    assert slider.locator(".widget-readout").first.inner_text() != readout
    SHOTS.mkdir(parents=True, exist_ok=True)
    widget.screenshot(path=str(SHOTS / shot_name))
    assert cell_errors(page) == []
    return seconds


# (chapter, slider label, screenshot) for every slider the test moves, in the order the chapters come
SLIDERS = [("04_optimization", "lr", "lab-04_optimization-lr-widget.png"),
           ("05_regularization", "drop p", "lab-05_regularization-dropout-widget.png"),
           ("08_segmentation", "confidence", "lab-08_segmentation-detection-widget.png"),
           ("08_segmentation", "NMS IoU", "lab-08_segmentation-nms-widget.png"),
           ("09_vae_gan", "z1", "lab-09_vae_gan-latent-widget.png"),
           ("10_diffusion", "t", "lab-10_diffusion-noise-widget.png"),
           ("12_transformers", "temperature", "lab-12_transformers-sampling-widget.png"),
           ("13_saliency_adversarial", "epsilon", "lab-13_saliency-epsilon-widget.png"),
           ("15_deep_rl", "discount", "lab-15_deep_rl-discount-widget.png"),
           ("15_deep_rl", "epsilon", "lab-15_deep_rl-epsilon-widget.png")]


@pytest.mark.parametrize("chapter, label, shot", SLIDERS, ids=[f"{c}-{label}" for c, label, _ in SLIDERS])
def test_widget_redraws_in_jupyterlab(widgets_page, chapter, label, shot):
    seconds = drive_slider(widgets_page, chapter, label, shot)
    assert seconds < 5, f"the {chapter} widget took {seconds:.1f} s to redraw after the {label} slider"


def test_every_slider_widget_is_driven():
    """Every chapter of WIDGETS except the perceptron stepper (buttons, tested above) has a slider in SLIDERS."""
    assert {c for c, _, _ in SLIDERS} == set(WIDGETS) - {"01_perceptron"}


def test_widgets_are_named_and_keyboard_operable(widgets_page):
    """Screen readers and keyboards: every widget figure is an <img> with a non-empty alt text (the explorer's
    alt_text), every slider handle has an accessible name (its description), and a slider reached by Tab
    (after a click on its label) moves with ArrowRight and the figure and its alt text change."""
    page = widgets_page
    assert cell_errors(page) == []
    widget = widget_of(page, "10_diffusion")
    img = widget.locator(".widget-html img").last
    img.wait_for(timeout=20000)
    before, alt_before = img.get_attribute("src"), img.get_attribute("alt")
    slider = widget.locator(".widget-slider", has=page.locator("label:text-is('t')")).first
    t = int(slider.locator("[role=slider]").get_attribute("aria-valuetext"))   # another test may have moved it
    assert alt_before.startswith(f"Diffusion step t = {t} of "), alt_before
    slider.locator(".widget-label").click()               # the focus starts here; Tab reaches the handle
    visited = []                                          # (JupyterLab may first pass its cell toolbar)
    for _ in range(12):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => [document.activeElement.getAttribute('role'), "
                                "document.activeElement.getAttribute('aria-label') || document.activeElement.title]")
        visited.append(focused)
        if focused == ["slider", "t"]:
            break
    assert visited[-1] == ["slider", "t"], f"Tab never reached the slider 't'; focus went to {visited}"
    page.keyboard.press("ArrowRight")
    wait_for_new_image(widget, before, timeout_s=20)
    assert img.get_attribute("alt").startswith(f"Diffusion step t = {t + 1} of ")
    assert slider.locator("[role=slider]").get_attribute("aria-valuetext") == str(t + 1)
    # every widget of the page: figures with alt texts, named slider handles, labelled dropdowns
    alts = page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output .widget-vbox .widget-html img')]"
                         ".map(i => i.getAttribute('alt') || '')")
    assert len(alts) == len(WIDGETS) and all(len(a) > 20 for a in alts), alts
    names = page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output [role=slider]')]"
                          ".map(h => h.getAttribute('aria-label') || '')")
    assert len(names) >= len(WIDGETS) and all(names), names
    selects = page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output .widget-dropdown select')]"
                            ".map(s => s.labels.length ? s.labels[0].textContent.trim() : '')")
    assert selects and all(selects), selects
    SHOTS.mkdir(parents=True, exist_ok=True)
    widget.screenshot(path=str(SHOTS / "lab-keyboard-diffusion-widget.png"))
