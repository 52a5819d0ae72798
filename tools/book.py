"""Build the course's Jupyter Book (1.x) offline, and check that it requests nothing from other hosts.

    python -m tools.book                 # student site    -> _build/html
    python -m tools.book --instructor    # adds solutions  -> _build/instructor/html

From Python: ``tools.book.build(root)`` returns the html folder and raises ``RuntimeError`` (with the end
of the build log) when the build fails or emits a warning; ``tools.book.external_references(html_dir)``
lists every script, stylesheet, image, frame or CSS import that a page would load from another host.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
LOG_TAIL_LINES = 60


def _jupyter_book() -> str:
    """The jupyter-book executable of the running interpreter's environment (the course venv)."""
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.exists():
        return str(exe)
    found = shutil.which("jupyter-book")
    if found:
        return found
    raise RuntimeError(
        f"jupyter-book is not installed next to {sys.executable}; run `make setup` "
        "(it installs the dev extra: jupyter-book, sphinx-mathjax-offline)"
    )


def build(root: Path, instructor: bool = False) -> Path:
    """Build the book rooted at ``root`` with warnings as errors; return the folder of the HTML site.

    The student book (``_toc.yml``) goes to ``root/_build/html``. The instructor book
    (``_toc_instructor.yml``, which adds the solutions) is built in ``root/_build/.instructor`` (its own
    Sphinx cache, so the two builds never share state) and published to ``root/_build/instructor/html``.
    Notebooks are not executed (``execute_notebooks: "off"``): the pages show their stored outputs.
    Every build is a full one (``--all``), so a warning can never hide in Sphinx's cache.
    """
    root = Path(root).resolve()
    cmd = [_jupyter_book(), "build", str(root)]
    if instructor:
        work = root / "_build" / ".instructor"
        cmd += ["--toc", str(root / "_toc_instructor.yml")]
    else:
        work = root
    # --all: always read every page. An incremental Sphinx build only re-reads changed pages, so a
    # warning in an unchanged page (or one caused by a change elsewhere) would not be reported again.
    cmd += ["--path-output", str(work), "-W", "-n", "--keep-going", "--all"]
    built = work / "_build" / "html"

    proc = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)  # drop terminal colours
    # Sphinx reports warnings on the log even where -W turns them into a failed exit status; check both
    # so that a warning can never slip through.
    warnings = [line for line in log.splitlines() if re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line)]
    if proc.returncode != 0 or warnings or not (built / "index.html").exists():
        tail = "\n".join(log.splitlines()[-LOG_TAIL_LINES:])
        listed = "\n".join(warnings[:20])
        raise RuntimeError(
            f"book build failed (exit status {proc.returncode}): {' '.join(cmd)}\n"
            + (f"--- warnings/errors ---\n{listed}\n" if listed else "")
            + f"--- end of the build log ---\n{tail}"
        )

    _vendor_widget_fonts(root, built)
    if not instructor:
        return built
    published = root / "_build" / "instructor" / "html"
    if published.exists():
        shutil.rmtree(published)
    shutil.copytree(built, published)
    return published


def _vendor_widget_fonts(root: Path, built: Path) -> None:
    """The widget renderer requests its icon fonts *relative to the page*
    (``<page dir>/@jupyter-widgets/html-manager/dist/*.woff2``): give every folder of pages a copy."""
    fonts = root / "book" / "vendor" / "extra" / "@jupyter-widgets"
    for folder in {p.parent for p in built.rglob("*.html")}:
        if folder.name.startswith(("_", ".")) or any(part.startswith("_") for part in folder.relative_to(built).parts):
            continue
        target = folder / "@jupyter-widgets"
        if not target.exists():
            shutil.copytree(fonts, target)


# --------------------------------------------------------------------------------------------------
# Offline check
# --------------------------------------------------------------------------------------------------

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _is_external(url: str) -> bool:
    """True when loading ``url`` would contact another host (http://, https://, or protocol-relative //)."""
    url = url.strip()
    low = url.lower()
    if not (low.startswith("http://") or low.startswith("https://") or low.startswith("//")):
        return False
    host = (urlsplit(url if not low.startswith("//") else "http:" + url).hostname or "").lower()
    return host not in _LOCAL_HOSTS


class _ResourceParser(HTMLParser):
    """Collects the URLs a browser fetches while loading a page (not plain <a href> links)."""

    _ATTRS = {
        "script": ("src",),
        "link": ("href",),
        "img": ("src", "srcset"),
        "iframe": ("src",),
        "source": ("src", "srcset"),
        "video": ("src", "poster"),
        "audio": ("src",),
        "embed": ("src",),
        "object": ("data",),
        "track": ("src",),
        "input": ("src",),
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self._in_style = False
        self.styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = self._ATTRS.get(tag, ())
        for name, value in attrs:
            if value is None:
                continue
            if name in names:
                if name == "srcset":
                    self.urls.extend(part.strip().split(" ")[0] for part in value.split(",") if part.strip())
                else:
                    self.urls.append(value)
            elif name == "style":
                self.styles.append(value)
        if tag == "style":
            self._in_style = True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "style":
            self._in_style = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"""@import\s+(['"])([^'"]+)\1""", re.IGNORECASE)


def _css_urls(css: str) -> list[str]:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)  # comments often contain licence URLs
    return [m.group(2) for m in _CSS_URL.finditer(css)] + [m.group(2) for m in _CSS_IMPORT.finditer(css)]


def external_references(html_dir: Path) -> list[str]:
    """Every resource a page of the built site would fetch from another host, as ``"file: url"``.

    Looks at <script src>, <link href> (any rel), <img src/srcset>, <iframe src> and other embedded
    media in every ``*.html`` under ``html_dir``, at inline ``<style>`` blocks and ``style=""`` attributes,
    and at ``@import`` and ``url(...)`` in every ``*.css`` under ``_static``. A URL counts as external
    when it starts with ``http://``, ``https://`` or ``//`` and its host is not 127.0.0.1/localhost.
    Hyperlinks (``<a href>``) are not resources and are not reported.
    """
    html_dir = Path(html_dir)
    found: list[str] = []
    for page in sorted(html_dir.rglob("*.html")):
        parser = _ResourceParser()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        parser.close()
        urls = parser.urls + [u for style in parser.styles for u in _css_urls(style)]
        rel = page.relative_to(html_dir).as_posix()
        found.extend(f"{rel}: {url}" for url in urls if _is_external(url))
    for sheet in sorted(html_dir.glob("_static/**/*.css")):
        rel = sheet.relative_to(html_dir).as_posix()
        css = sheet.read_text(encoding="utf-8", errors="replace")
        found.extend(f"{rel}: {url}" for url in _css_urls(css) if _is_external(url))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the course book offline (Jupyter Book 1.x).")
    parser.add_argument("--instructor", action="store_true", help="include the solutions (_toc_instructor.yml)")
    parser.add_argument("--root", type=Path, default=ROOT, help="book root (default: the repository)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        html = build(args.root, instructor=args.instructor)
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    external = external_references(html)
    print(f"book built in {seconds:.1f} s: {html / 'index.html'}")
    if external:
        print("pages request files from other hosts (the book must work offline):", file=sys.stderr)
        print("\n".join(f"  {line}" for line in external), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
