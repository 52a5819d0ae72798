"""The Jupyter Book builds with warnings as errors and works offline.

The slow tests build the student book (``_toc.yml`` -> ``_build/html``) and the instructor book
(``_toc_instructor.yml`` -> ``_build/instructor/html``) once each, exactly as ``make book`` does, then check
that every page in the table of contents exists, that math reaches the page as MathJax input with a local
MathJax, that the widget renderer is the vendored one, and that no page fetches anything from another host.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conftest import built_book  # noqa: E402
from tools import book  # noqa: E402

SCRIPT_SRC = re.compile(r"""<script\b[^>]*?\bsrc\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def toc_files(toc: Path) -> list[str]:
    """Every document of a jb-book table of contents (root, chapters and sections), without suffix."""
    data = yaml.safe_load(toc.read_text(encoding="utf-8"))
    files = [data["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in data.get("parts", []):
        walk(part.get("chapters"))
    walk(data.get("chapters"))
    return [str(Path(f).with_suffix("")) if Path(f).suffix in {".md", ".ipynb"} else f for f in files]


def script_srcs(page: Path) -> list[str]:
    return SCRIPT_SRC.findall(page.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------------
# Fast: the offline checker itself
# --------------------------------------------------------------------------------------------------


def test_external_references_finds_remote_resources(tmp_path):
    (tmp_path / "_static").mkdir()
    (tmp_path / "page.html").write_text(
        "<html><head>"
        '<script src="https://cdn.example.org/x.js"></script>'
        '<link rel="stylesheet" href="//fonts.example.com/a.css">'
        '<script src="_static/x.js"></script>'
        '<script src="http://127.0.0.1:8000/dev.js"></script>'
        '<link rel="stylesheet" href="_static/local.css">'
        "</head><body>"
        '<a href="https://example.org/paper.pdf">a hyperlink is not a resource</a>'
        '<img src="https://img.example.net/logo.png">'
        "</body></html>",
        encoding="utf-8",
    )
    (tmp_path / "_static" / "theme.css").write_text(
        '/* see https://example.org/licence */\n@import "https://fonts.example.com/b.css";\n'
        "body { background: url(images/bg.png); }\n"
        "@font-face { src: url('https://fonts.example.com/c.woff2'); }\n",
        encoding="utf-8",
    )
    found = book.external_references(tmp_path)
    assert "page.html: https://cdn.example.org/x.js" in found
    assert "page.html: //fonts.example.com/a.css" in found
    assert "page.html: https://img.example.net/logo.png" in found
    assert "_static/theme.css: https://fonts.example.com/b.css" in found
    assert "_static/theme.css: https://fonts.example.com/c.woff2" in found
    assert len(found) == 5, found  # not the local script/stylesheet, localhost, the <a> link, the comment


def test_external_references_accepts_a_local_page(tmp_path):
    (tmp_path / "index.html").write_text(
        '<script src="_static/x.js"></script><link rel="icon" href="../_static/favicon.png">',
        encoding="utf-8",
    )
    assert book.external_references(tmp_path) == []


def test_instructor_toc_is_the_student_toc_plus_solutions():
    student = toc_files(ROOT / "_toc.yml")
    instructor = toc_files(ROOT / "_toc_instructor.yml")
    assert instructor[: len(student)] == student
    extra = instructor[len(student):]
    assert extra and all(f.startswith("solutions/") for f in extra), extra
    assert not any(f.startswith("solutions/") for f in student), "solutions must not be in the student book"


# --------------------------------------------------------------------------------------------------
# Slow: the real builds
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def student_html() -> Path:
    try:
        return built_book()                 # shared with tests/test_e2e_book.py: built once per run
    except RuntimeError as err:  # the message carries the warnings and the end of the build log
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="module")
def instructor_html() -> Path:
    try:
        return built_book(instructor=True)
    except RuntimeError as err:
        pytest.fail(str(err), pytrace=False)


@pytest.mark.slow
def test_student_book_builds_with_every_toc_page(student_html):
    assert student_html == ROOT / "_build" / "html"
    assert (student_html / "index.html").exists()
    missing = [f for f in toc_files(ROOT / "_toc.yml") if not (student_html / f"{f}.html").exists()]
    assert not missing, f"pages in _toc.yml without an html page: {missing}"
    chapters = [f for f in toc_files(ROOT / "_toc.yml") if f.startswith(("chapters/", "exercises/"))]
    assert any(f.startswith("chapters/") for f in chapters) and any(f.startswith("exercises/") for f in chapters)
    assert not (student_html / "solutions").exists(), "the student book must not contain the solutions"


@pytest.mark.slow
def test_student_book_requests_nothing_from_other_hosts(student_html):
    assert book.external_references(student_html) == []


@pytest.mark.slow
def test_math_is_typeset_by_the_local_mathjax(student_html):
    pages = [f for f in toc_files(ROOT / "_toc.yml") if f.startswith("chapters/")] + ["book/notation"]
    for name in pages:
        page = student_html / f"{name}.html"
        text = page.read_text(encoding="utf-8")
        assert "\\(" in text or "\\[" in text, f"{name}: no MathJax input (\\( or \\[) on the page"
        mathjax = [src for src in script_srcs(page) if "mathjax" in src.lower()]
        assert mathjax, f"{name}: the page loads no MathJax"
        for src in mathjax:
            assert re.match(r"^(\.\./)*_static/mathjax/", src), f"{name}: MathJax is not the local copy: {src}"
            local = student_html / Path(name).parent / src.split("?")[0]
            assert local.resolve().is_file(), f"{name}: {src} is missing from the site"


@pytest.mark.slow
def test_widgets_use_the_vendored_renderer(student_html):
    for js in ("require.js", "embed-amd.js"):
        assert (student_html / "_static" / "js" / js).is_file(), f"_static/js/{js} was not copied"
    fonts = list((student_html / "@jupyter-widgets" / "html-manager" / "dist").glob("*.woff*"))
    assert fonts, "the widget icon fonts are not at /@jupyter-widgets/html-manager/dist/"
    assert not (student_html / "_static" / "extra").exists(), "widget fonts copied twice"
    for page in student_html.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if WIDGET_VIEW not in text:
            continue
        srcs = [s.split("?")[0] for s in script_srcs(page)]
        for js in ("require.js", "embed-amd.js"):
            used = [s for s in srcs if s.endswith("/" + js)]
            assert used, f"{page.relative_to(student_html)} shows a widget but does not load {js}"
            assert all(re.match(r"^(\.\./)*_static/js/", s) for s in used), used


@pytest.mark.slow
def test_instructor_book_adds_the_solutions(instructor_html):
    assert instructor_html == ROOT / "_build" / "instructor" / "html"
    missing = [f for f in toc_files(ROOT / "_toc_instructor.yml") if not (instructor_html / f"{f}.html").exists()]
    assert not missing, f"pages in _toc_instructor.yml without an html page: {missing}"
    assert book.external_references(instructor_html) == []


# --------------------------------------------------------------------------------------------------
# Alt texts: every figure of the built book says what it shows
# --------------------------------------------------------------------------------------------------

IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
ALT_ATTR = re.compile(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
SRC_ATTR = re.compile(r"""\bsrc\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
FILE_NAME_ALT = re.compile(r"(\.(png|jpe?g|svg|gif|webp)\s*$)|_images/", re.IGNORECASE)


def bad_alt_texts(html_dir: Path, pages: list[str]) -> list[str]:
    """``page: <img src>: why`` for every image without an alt, with an empty one or with a file name."""
    import html as html_lib

    found = []
    for name in pages:
        for tag in IMG_TAG.findall((html_dir / f"{name}.html").read_text(encoding="utf-8")):
            m, src = ALT_ATTR.search(tag), (SRC_ATTR.search(tag) or [None, "?"])[1]
            src = src[:40] + "..." if src.startswith("data:") else src
            alt = html_lib.unescape(next(g for g in m.groups() if g is not None)) if m else None
            if alt is None:
                found.append(f"{name}: <img src={src!r}> has no alt text")
            elif not alt.strip():
                found.append(f"{name}: <img src={src!r}> has an empty alt text")
            elif FILE_NAME_ALT.search(alt.strip()):
                found.append(f"{name}: <img src={src!r}> has a file name as alt text ({alt[:60]!r})")
    return found


def test_bad_alt_texts_are_found(tmp_path):
    (tmp_path / "p.html").write_text(
        '<img src="a.png"><img src="b.png" alt=""><img alt="../_images/af75.png" src="../_images/af75.png">'
        '<img src="c.svg" alt="plot.svg"><img src="d.png" alt="Loss falls from 2.3 to 0.1 in 10 epochs">'
        "<IMG SRC='e.png' ALT='Two moons: the classes interleave'>", encoding="utf-8")
    found = bad_alt_texts(tmp_path, ["p"])
    assert found == ["p: <img src='a.png'> has no alt text", "p: <img src='b.png'> has an empty alt text",
                     "p: <img src='../_images/af75.png'> has a file name as alt text ('../_images/af75.png')",
                     "p: <img src='c.svg'> has a file name as alt text ('plot.svg')"], found


@pytest.mark.slow
@pytest.mark.parametrize("build", ["student", "instructor"])
def test_every_image_of_the_book_has_a_meaningful_alt_text(build, request):
    html = request.getfixturevalue(f"{build}_html")
    toc = ROOT / ("_toc.yml" if build == "student" else "_toc_instructor.yml")
    found = bad_alt_texts(html, toc_files(toc))
    assert not found, (f"images of the {build} book whose alt text says nothing (give the cell that draws the "
                       'figure a header like `# %% mystnb={"image": {"alt": "What is plotted and the point it '
                       'makes"}}`):\n' + "\n".join(found))
