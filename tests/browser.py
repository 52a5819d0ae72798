"""Shared helpers for the browser (e2e) tests: Debian's chromium driven by Playwright, local servers.

Never downloads a browser: Playwright launches /usr/bin/chromium. Every process started here is
stopped by its fixture, also when a test fails.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "Debian's chromium is not installed: run `make browser` (sudo apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)           # in CI a missing browser is a setup bug, never a skip
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def static_server(directory: Path):
    """Serve a folder on 127.0.0.1 at a free port; yields the base URL."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def browser():
    """A headless Debian chromium under Playwright; closed on exit."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# --------------------------------------------------------------------------------------------------
# Accessibility: axe-core (the engine of the browsers' accessibility tools), pinned and offline: the
# axe.min.js bundled in the axe-playwright-python wheel is injected into the page, nothing is fetched.
# --------------------------------------------------------------------------------------------------

BLOCKING_IMPACTS = ("critical", "serious")


def axe_violations(page) -> list[dict]:
    """Run axe-core on the loaded page; one dict per violated rule: rule, impact, help, helpUrl and the
    offending elements (CSS selectors and the start of their HTML)."""
    from axe_playwright_python.sync_playwright import Axe

    response = Axe().run(page, options={"resultTypes": ["violations"]}).response
    return [{"rule": v["id"], "impact": v.get("impact") or "minor", "help": v["help"], "helpUrl": v["helpUrl"],
             "nodes": [{"target": " ".join(map(str, n["target"])), "html": n["html"][:160]} for n in v["nodes"]]}
            for v in response["violations"]]


def describe_violations(page_name: str, violations: list[dict], limit: int = 5) -> str:
    """A readable account of violations: rule, impact, what it asks, and the first offending elements."""
    lines = []
    for v in violations:
        lines.append(f"{page_name}: {v['rule']} ({v['impact']}, {len(v['nodes'])} elements): {v['help']}")
        lines += [f"    {n['target']}    {n['html']}" for n in v["nodes"][:limit]]
        if len(v["nodes"]) > limit:
            lines.append(f"    ... and {len(v['nodes']) - limit} more")
    return "\n".join(lines)
