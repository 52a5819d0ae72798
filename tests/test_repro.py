"""Reproducibility: executing a chapter twice gives identical output in its checked cells."""
import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

CHAPTER = ROOT / "chapters" / "01_perceptron.ipynb"


def checked_outputs(path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream")
            for c in nb.cells if c.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in c.source]


@pytest.mark.slow
def test_chapter_checked_cells_are_identical_on_two_runs():
    first, second = checked_outputs(CHAPTER), checked_outputs(CHAPTER)
    assert first and first == second
