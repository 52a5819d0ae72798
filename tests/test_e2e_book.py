"""The built book through a reader's eyes: every page in a real (headless) browser, offline.

For the intro, every chapter and every exercise page: no console errors, math typeset by the bundled
MathJax (no raw $$ left), every image loaded, no request to any host but 127.0.0.1, the "next" link
works, and axe-core (pinned, offline: the copy bundled in axe-playwright-python) finds no critical or
serious accessibility violation; the instructor build's solution pages get the same axe check. Every
violation, moderate and minor ones included, is written to _build/e2e/axe-report.json and .md.
The precomputed explorers (sliders that swap stored figures, no kernel) are moved with the keyboard,
and the book's controls are reached with Tab and operated with Enter, Space and the arrow keys.
Screenshots of the intro and the chapters are saved in _build/e2e/ for humans.
"""
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from browser import BLOCKING_IMPACTS, axe_violations, browser, describe_violations, static_server
from conftest import ROOT, built_book

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SHOTS = ROOT / "_build" / "e2e"
EXPLORER_CALL = "widgets.precomputed("


def toc_pages(toc_name="_toc.yml"):
    toc = yaml.safe_load((ROOT / toc_name).read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [c["file"] for c in part.get("chapters", [])]
    return [re.sub(r"\.(md|ipynb)$", "", p) for p in pages]


def solution_pages():
    return [p for p in toc_pages("_toc_instructor.yml") if p.startswith("solutions/")]


@pytest.fixture(scope="module")
def chromium():
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def site(chromium):
    html = built_book()                     # the build tests/test_book.py checks (once per run, file lock)
    with static_server(html) as url:
        yield url, chromium


@pytest.fixture(scope="module")
def instructor_site(chromium):
    try:
        html = built_book(instructor=True)
    except RuntimeError as err:
        pytest.fail(str(err), pytrace=False)
    with static_server(html) as url:
        yield url, chromium


@pytest.fixture(scope="module")
def axe_report():
    """Collects every page's violations; written to _build/e2e/axe-report.json and .md at the end."""
    report = {}
    yield report
    if not report:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "axe-report.json").write_text(json.dumps(report, indent=1, sort_keys=True))
    totals = Counter()
    for violations in report.values():
        for v in violations:
            totals[(v["rule"], v["impact"])] += len(v["nodes"])
    order = ("critical", "serious", "moderate", "minor")
    lines = ["# axe-core report of the built book", "",
             f"{len(report)} pages scanned; elements per rule and impact (all pages together):", "",
             "| rule | impact | elements | pages |", "|---|---|---|---|"]
    for (rule, impact), n in sorted(totals.items(), key=lambda kv: (order.index(kv[0][1]), kv[0][0])):
        pages = sum(any(v["rule"] == rule for v in vs) for vs in report.values())
        lines.append(f"| {rule} | {impact} | {n} | {pages} |")
    if not totals:
        lines.append("| (none) | | 0 | 0 |")
    lines += ["", "## Per page", ""]
    for doc, violations in sorted(report.items()):
        if violations:
            lines += [describe_violations(doc, violations), ""]
    (SHOTS / "axe-report.md").write_text("\n".join(lines) + "\n")


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


def check_accessible(page, doc, axe_report):
    """axe-core on the loaded page: record everything, fail on critical or serious violations."""
    violations = axe_violations(page)
    axe_report[doc] = violations
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, ("critical/serious accessibility violations (axe-core):\n"
                          + describe_violations(doc, blocking))


@pytest.mark.parametrize("doc", toc_pages())
def test_page_reads_well_offline(site, axe_report, doc):
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
        check_accessible(page, doc, axe_report)
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


@pytest.mark.parametrize("doc", solution_pages())
def test_solution_page_is_accessible(instructor_site, axe_report, doc):
    base, b = instructor_site
    page, errors, offsite = reader_visit(b, f"{base}/{doc}.html")
    try:
        assert offsite == [], f"{doc}: requests left 127.0.0.1: {offsite}"
        check_accessible(page, doc, axe_report)
    finally:
        page.close()


def test_chapter_math_is_typeset(site):
    base, b = site
    page, _, _ = reader_visit(b, f"{base}/chapters/01_perceptron.html")
    try:
        assert page.locator("mjx-container").count() >= 10
    finally:
        page.close()


# --------------------------------------------------------------------------------------------------
# Precomputed explorers: sliders that swap stored figures, no kernel, no network
# --------------------------------------------------------------------------------------------------


def chapters_with_explorers() -> list[str]:
    """The chapter pages whose source shows a precomputed explorer (``widgets.precomputed(...)``)."""
    return [f"chapters/{py.stem}" for py in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py"))
            if EXPLORER_CALL in py.read_text(encoding="utf-8") and f"chapters/{py.stem}" in toc_pages()]


def figure_state(explorer):
    figure = explorer.locator("img.dl-explorer-figure")
    return figure.get_attribute("src"), figure.get_attribute("alt")


def test_every_chapter_with_an_explorer_shows_it_in_the_book(site):
    expected = chapters_with_explorers()
    if not expected:
        pytest.skip(f"no chapter calls {EXPLORER_CALL}...) yet: no precomputed explorer to look for")
    html = built_book()
    missing = [doc for doc in expected if 'class="dl-explorer"' not in (html / f"{doc}.html").read_text(encoding="utf-8")]
    assert not missing, (f"these chapters call {EXPLORER_CALL}...) but their book page has no .dl-explorer "
                         f"(is the cell's output stored, or removed by a tag?): {missing}")


@pytest.mark.parametrize("doc", chapters_with_explorers() or ["(none)"])
def test_precomputed_explorers_follow_the_keyboard_offline(site, doc):
    if doc == "(none)":
        pytest.skip(f"no chapter calls {EXPLORER_CALL}...) yet")
    base, b = site
    page, errors, offsite = reader_visit(b, f"{base}/{doc}.html")
    try:
        explorers = page.locator(".dl-explorer")
        assert explorers.count() > 0, f"{doc}: no precomputed explorer on the page"
        for e in range(explorers.count()):
            explorer = explorers.nth(e)
            sliders = explorer.locator("input.dl-explorer-slider[data-control]")
            assert sliders.count() > 0, f"{doc}: explorer {e + 1} has no slider"
            for s in range(sliders.count()):
                slider = sliders.nth(s)
                name = slider.get_attribute("data-control")
                start = figure_state(explorer)
                value, top = int(slider.input_value()), int(slider.get_attribute("max"))
                assert top > 0, f"{doc}: slider {name!r} has a single value"
                slider.focus()
                keys = ["ArrowRight", "End"] if value < top else ["ArrowLeft", "Home"]
                for key in keys:
                    before = slider.input_value()
                    page.keyboard.press(key)
                    if slider.input_value() == before:     # e.g. End right after ArrowRight reached the top
                        continue
                    now = figure_state(explorer)
                    assert now[0] != start[0], f"{doc}: {key} moved slider {name!r} but the figure stayed the same"
                    assert now[1] != start[1], f"{doc}: {key} moved slider {name!r} but the alt text stayed {now[1]!r}"
                    assert now[1].strip(), f"{doc}: slider {name!r}: the figure lost its alt text"
                assert slider.input_value() != str(value), f"{doc}: the keys {keys} did not move slider {name!r}"
                if value < top:
                    assert slider.input_value() == str(top), f"{doc}: End did not move slider {name!r} to its last value"
        assert offsite == [], f"{doc}: requests left 127.0.0.1: {offsite}"
        assert errors == [], f"{doc}: console errors: {errors}"
    finally:
        page.close()


# --------------------------------------------------------------------------------------------------
# Keyboard: the controls are reached with Tab and work with Enter, Space and arrow keys
# --------------------------------------------------------------------------------------------------

FOCUSED = """() => { const a = document.activeElement; if (!a || a === document.body) return null;
  return {tag: a.tagName.toLowerCase(), cls: a.className && a.className.baseVal === undefined ? a.className : '',
          text: (a.innerText || a.getAttribute('aria-label') || a.value || '').trim().slice(0, 60),
          href: a.getAttribute('href') || ''}; }"""


def tab_through(page, limit=1500):
    """Press Tab from the top of the page until the focus comes back round; the focused elements, in order."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUSED)
        if now is None:
            continue
        if seen and now == seen[0]:
            break
        seen.append(now)
    return seen


def test_keyboard_reaches_and_operates_the_book_controls(site):
    base, b = site
    exercise = next(p for p in toc_pages() if p.startswith("exercises/"))
    page, errors, _ = reader_visit(b, f"{base}/{exercise}.html")
    try:
        reached = tab_through(page)
        kinds = [(r["tag"], r["cls"], r["text"], r["href"]) for r in reached]
        assert any(t == "a" and "skip" in text.lower() for t, _, text, _ in kinds), f"no skip link first: {kinds[:5]}"
        assert any(t == "a" and "right-next" in c for t, c, _, _ in kinds), "Tab never reaches the 'next' link"
        assert any(t == "a" and h.endswith("chapters/01_perceptron.html") for t, _, _, h in kinds), \
            "Tab never reaches the chapters in the navigation"
        assert any(t == "summary" for t, _, _, _ in kinds), "Tab never reaches a Discussion <details> summary"
        # a Discussion toggle opens with Enter and closes with Space
        summary = page.locator("details > summary").first
        summary.focus()
        opened = "el => el.parentElement.open"
        assert not summary.evaluate(opened)
        page.keyboard.press("Enter")
        assert summary.evaluate(opened), "Enter did not open the Discussion"
        page.keyboard.press("Space")
        assert not summary.evaluate(opened), "Space did not close the Discussion"
        # the 'next' link follows Enter
        page.locator("a.right-next").focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        pages = toc_pages()
        assert page.url.split("?")[0].endswith(f"{pages[pages.index(exercise) + 1]}.html"), page.url
        assert errors == [], errors
    finally:
        page.close()
    explored = chapters_with_explorers()
    if explored:                            # the explorer's slider is in the Tab order and moves with arrows
        page, _, _ = reader_visit(b, f"{base}/{explored[0]}.html")
        try:
            page.locator(".dl-explorer").first.scroll_into_view_if_needed()
            reached = tab_through(page)
            assert any(r["tag"] == "input" and "dl-explorer-slider" in r["cls"] for r in reached), \
                f"{explored[0]}: Tab never reaches the explorer's slider"
        finally:
            page.close()
