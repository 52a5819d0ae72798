"""The built book through a reader's eyes: every page in a real (headless) browser, offline.

For the intro, every chapter and every exercise page: no console errors, math typeset by the bundled
MathJax (no raw $$ left), every image loaded, no request to any host but 127.0.0.1, and the "next"
link works. Screenshots of two pages are saved in _build/e2e/ for humans.
"""
import re
from pathlib import Path

import pytest
import yaml

from browser import browser, static_server
from conftest import ROOT, built_book

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SHOTS = ROOT / "_build" / "e2e"


def toc_pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [c["file"] for c in part.get("chapters", [])]
    return [re.sub(r"\.(md|ipynb)$", "", p) for p in pages]


@pytest.fixture(scope="module")
def site():
    html = built_book()                     # the build tests/test_book.py checks (once per run, file lock)
    with static_server(html) as url, browser() as b:
        yield url, b


def reader_visit(b, url):
    """Open url; return (page, console errors, off-site requests)."""
    page = b.new_page(viewport={"width": 1200, "height": 900})
    errors, offsite = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    host = url.split("/")[2]
    page.on("request", lambda r: offsite.append(r.url) if not (r.url.startswith(("data:", "blob:", "about:"))
                                                               or r.url.split("/")[2] == host) else None)
    page.goto(url, wait_until="load")
    # pages with math load the bundled MathJax 3: wait until it has typeset the page
    page.wait_for_function("() => !document.querySelector('script[src*=\"mathjax/\"]')"
                           " || (window.MathJax && MathJax.startup && MathJax.startup.promise)", timeout=20000)
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
    page.wait_for_load_state("networkidle")
    return page, errors, offsite


@pytest.mark.parametrize("doc", toc_pages())
def test_page_reads_well_offline(site, doc):
    base, b = site
    page, errors, offsite = reader_visit(b, f"{base}/{doc}.html")
    try:
        assert offsite == [], f"{doc}: requests left 127.0.0.1: {offsite}"
        assert errors == [], f"{doc}: console errors: {errors}"
        text = page.inner_text("main")
        assert "$$" not in text, f"{doc}: raw $$ math left"
        if page.locator("main .math, main mjx-container").count():
            assert page.locator("mjx-container").count() > 0, f"{doc}: math present but not typeset by MathJax"
        broken = page.evaluate("() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        assert broken == [], f"{doc}: images that did not load: {broken}"
        pages = toc_pages()
        i = pages.index(doc)
        if i + 1 < len(pages):
            page.click("a.right-next")
            page.wait_for_load_state("load")
            assert page.url.split("?")[0].endswith(f"{pages[i + 1]}.html"), (page.url, pages[i + 1])
        if doc.startswith("chapters/") or doc == "book/intro":
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.goto(f"{base}/{doc}.html")
            page.screenshot(path=str(SHOTS / f"book-{Path(doc).name}.png"))
    finally:
        page.close()


def test_chapter_math_is_typeset(site):
    base, b = site
    page, _, _ = reader_visit(b, f"{base}/chapters/01_perceptron.html")
    try:
        assert page.locator("mjx-container").count() >= 10
    finally:
        page.close()
