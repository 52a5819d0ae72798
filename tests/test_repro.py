"""Reproducibility across processes: chapter 01, executed once more in a fresh kernel whose Python hash
seed differs from the one nbval's kernel had, prints exactly the stored output in its checked cells.

nbval already executes every chapter once and compares its `# NBVAL_CHECK_OUTPUT` cells with the stored
outputs (same machine, fresh kernel). This test adds ONE execution of one small chapter that changes what
a process may silently depend on: string hashing (PYTHONHASHSEED, which orders sets and salts hash(str))
and the dlcourse seed shift set to 0. Run on its own with `make check-repro`."""
import configparser
import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

CHAPTER = ROOT / "chapters" / "01_perceptron.ipynb"


def sanitize(text):
    """The replacements nbval applies before comparing (tests/nbval_sanitize.cfg)."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "tests" / "nbval_sanitize.cfg", encoding="utf-8")
    for section in cfg.sections():
        text = re.sub(cfg[section]["regex"], cfg[section]["replace"], text)
    return text


def checked_outputs(nb):
    return [sanitize("".join(o.get("text", "") for o in c.outputs if o.output_type == "stream"))
            for c in nb.cells if c.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in c.source]


@pytest.mark.slow
def test_checked_cells_do_not_depend_on_the_hash_seed(monkeypatch):
    stored = nbformat.read(CHAPTER, as_version=4)
    nb = nbformat.read(CHAPTER, as_version=4)
    seed = "12345" if os.environ.get("PYTHONHASHSEED") != "12345" else "54321"
    monkeypatch.setenv("PYTHONHASHSEED", seed)             # the kernel process inherits this environment
    monkeypatch.setenv("DLCOURSE_SEED_SHIFT", "0")
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(CHAPTER.parent)}}).execute()
    assert checked_outputs(stored), "chapter 01 has no stored # NBVAL_CHECK_OUTPUT output"
    assert checked_outputs(nb) == checked_outputs(stored)
