"""JupyterLab end to end, as a student uses it: start `jupyter lab` from the project's venv, open a
chapter in headless Debian chromium, run all cells, move a widget's slider (and press its buttons) and
check that the figure really changes and that no cell shows an error. Screenshots go to _build/e2e/.

The notebooks are copied to a temporary folder first: JupyterLab autosaves, and the test must never
rewrite the committed notebooks.
"""
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from browser import browser, free_port
from conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SHOTS = ROOT / "_build" / "e2e"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 with a token, serving a copy of chapters/; killed by PID."""
    work = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "chapters", work / "chapters", ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))
    port, token = free_port(), secrets.token_hex(16)
    jupyter = Path(sys.executable).with_name("jupyter")
    env = dict(os.environ, DLCOURSE_PROGRESS="0", JUPYTER_CONFIG_DIR=str(work / "config"),
               JUPYTER_RUNTIME_DIR=str(work / "runtime"))
    env.pop("MPLBACKEND", None)                         # as on a student's machine: the inline backend
    # render every cell (no virtual scrolling), so the page shows the whole notebook to the test
    settings = work / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    notifications = work / "settings" / "@jupyterlab" / "apputils-extension"
    notifications.mkdir(parents=True)
    (notifications / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    env["JUPYTERLAB_SETTINGS_DIR"] = str(work / "settings")
    log = open(work / "lab.log", "w")
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


def open_and_run_all(b, url, token, notebook, timeout_s=420):
    page = b.new_page(viewport={"width": 1400, "height": 1000})
    # a fresh workspace per notebook: only this notebook open, nothing restored from a previous test
    workspace = notebook.replace(".ipynb", "").replace("_", "-")
    page.goto(f"{url}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={token}", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle'], .jp-DebuggerBugButton", timeout=60000)
    # clear the stored outputs first, so that "every cell has an execution count" means "all ran"
    page.click("div.lm-MenuBar-itemLabel:text-is('Edit')")
    page.click("li.lm-Menu-item[data-command='editmenu:clear-all']")
    page.wait_for_function("() => ![...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
                           ".some(e => /\\[\\d+\\]/.test(e.textContent))", timeout=20000)
    started = time.time()
    for attempt in range(3):
        dismiss_dialogs(page)
        page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
        page.click("li.lm-Menu-item[data-command='runmenu:run-all']")
        # progress: some cell busy [*] or numbered [n] within 30 s, else the click was lost: retry
        try:
            page.wait_for_function(PROMPTS + " return p.some(e => /\\[(\\d+|\\*)\\]/.test(e.textContent)); }", timeout=30000)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError
            page.screenshot(path=str(shot_dir() / f"lab-{notebook}-no-progress-{attempt}.png"))
    remaining = max(10.0, timeout_s - (time.time() - started))
    try:   # done when every code cell shows an execution count [n], or as soon as a cell shows an error
        page.wait_for_function(PROMPTS + " return (p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent)))"
                               " || [...document.querySelectorAll('.jp-OutputArea-output')].some(e => e.innerText.includes('Traceback')); }",
                               timeout=remaining * 1000)
    except Exception:
        page.screenshot(path=str(shot_dir() / f"lab-{notebook}-timeout.png"), full_page=True)
        raise
    return page


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


def test_perceptron_widget_in_jupyterlab(lab):
    url, token, b = lab
    page = open_and_run_all(b, url, token, "01_perceptron.ipynb")
    try:
        assert cell_errors(page) == []
        widget = page.locator(".jp-OutputArea-output .widget-vbox").first
        widget.scroll_into_view_if_needed()
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
        page.screenshot(path=str(SHOTS / "lab-01_perceptron-widget.png"))
        assert click_seconds < 5, f"the figure took {click_seconds:.1f} s to update after a click"
        assert cell_errors(page) == []
    finally:
        page.close()


def drive_slider(page, notebook_label, slider_label, shot_name):
    """Find the widget whose slider is labelled `slider_label`, move that slider, expect a new figure."""
    assert cell_errors(page) == [], f"{notebook_label}: cells show errors"
    widget = page.locator(".jp-OutputArea-output .widget-vbox", has=page.locator(f"label:text-is('{slider_label}')")).first
    widget.scroll_into_view_if_needed()
    before = widget_image(widget)
    slider = widget.locator(".widget-slider", has=page.locator(f"label:text-is('{slider_label}')")).first
    readout = slider.locator(".widget-readout").first.inner_text()
    t0 = time.time()
    move_slider(slider)
    wait_for_new_image(widget, before, timeout_s=20)
    seconds = time.time() - t0
    assert slider.locator(".widget-readout").first.inner_text() != readout
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / shot_name))
    assert cell_errors(page) == []
    return seconds


def test_dropout_widget_in_jupyterlab(lab):
    url, token, b = lab
    page = open_and_run_all(b, url, token, "05_regularization.ipynb")
    try:
        seconds = drive_slider(page, "chapter 05", "drop p", "lab-05_regularization-dropout-widget.png")
        assert seconds < 5, f"the dropout widget took {seconds:.1f} s to redraw in the browser"
    finally:
        page.close()


def test_learning_rate_widget_in_jupyterlab(lab):
    url, token, b = lab
    page = open_and_run_all(b, url, token, "04_optimization.ipynb")
    try:
        seconds = drive_slider(page, "chapter 04", "lr", "lab-04_optimization-lr-widget.png")
        assert seconds < 5, f"the learning-rate widget took {seconds:.1f} s to redraw in the browser"
    finally:
        page.close()
