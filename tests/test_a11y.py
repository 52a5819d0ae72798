"""Alt texts of figures, checked at the source: `python -m tools.course check` names every code cell of a
chapter or solution whose stored outputs hold an image but whose metadata gives the book no alt text
(myst-nb's ``mystnb.image.alt``; without it the page's <img> is read out as its own file path)."""
from __future__ import annotations

import base64

import jupytext
import nbformat
import pytest

from tools import course

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


def pair(root, header: str, outputs, folder: str = "chapters", name: str = "01_tiny"):
    """Write folder/name.py with one code cell under ``header`` and its .ipynb carrying ``outputs``."""
    (root / folder).mkdir(parents=True, exist_ok=True)
    py = root / folder / f"{name}.py"
    py.write_text("# %% [markdown]\n# A tiny chapter.\n\n" + header + "\nplt.plot([1, 2])\n")
    nb = jupytext.read(py)
    code = nb.cells[1]
    code.execution_count = 1
    code.outputs = outputs
    jupytext.write(nb, py.with_suffix(".ipynb"), fmt="ipynb")
    return py


def figure():
    return [nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]


def test_a_figure_without_alt_text_is_named_with_the_header_to_write(tmp_path, monkeypatch):
    pair(tmp_path, "# %%", figure())
    problems = course.alt_text_problems(tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith("chapters/01_tiny.py: code cell 2 ('plt.plot([1, 2])') draws a figure but has no alt text")
    assert '# %% mystnb={"image": {"alt": ' in problems[0]
    assert "jupytext --to ipynb --update chapters/01_tiny.py" in problems[0]
    for other in ("pairing_problems", "template_problems", "toc_problems"):   # they need a whole course
        monkeypatch.setattr(course, other, lambda root: [])
    monkeypatch.setattr(course, "export", lambda root, check: [])
    monkeypatch.setattr(course, "exercises", lambda root, check: [])
    monkeypatch.setattr(course, "instructor_toc", lambda root, check: [])
    assert course.all_problems(tmp_path) == problems                    # so `make check` fails too


def test_a_figure_with_an_alt_text_passes(tmp_path):
    pair(tmp_path, '# %% mystnb={"image": {"alt": "A rising line: the loss grows from 1 to 2"}}', figure())
    pair(tmp_path, '# %% tags=["nbval-ignore-output"] mystnb={"image": {"alt": "Two points joined by a line"}}',
         figure(), folder="solutions", name="02_tiny")
    assert course.alt_text_problems(tmp_path) == []


@pytest.mark.parametrize("alt", ["", "   ", "../_images/af75e0.png", "figure.svg", "_images/x"])
def test_an_empty_or_file_name_alt_text_is_flagged(tmp_path, alt):
    pair(tmp_path, '# %% mystnb={"image": {"alt": "' + alt + '"}}', figure(), folder="solutions")
    problems = course.alt_text_problems(tmp_path)
    assert len(problems) == 1 and problems[0].startswith("solutions/01_tiny.py: code cell 2"), problems


def test_cells_without_images_or_hidden_from_the_book_need_no_alt_text(tmp_path):
    text = [nbformat.v4.new_output("stream", name="stdout", text="loss 0.1\n")]
    pair(tmp_path, "# %%", text)
    pair(tmp_path, '# %% tags=["remove-output"]', figure(), name="02_tiny")
    assert course.alt_text_problems(tmp_path) == []


def test_an_alt_text_edited_in_the_py_but_not_synced_is_flagged(tmp_path):
    py = pair(tmp_path, '# %% mystnb={"image": {"alt": "Old text of the figure"}}', figure())
    py.write_text(py.read_text().replace("Old text", "New text"))
    problems = course.alt_text_problems(tmp_path)
    assert len(problems) == 1 and "differs from the .ipynb's" in problems[0], problems


def test_every_figure_of_the_course_has_an_alt_text():
    assert course.alt_text_problems(course.ROOT) == []
