"""Shared fixtures. Progress bars off and a non-interactive matplotlib backend for every test
(and for the notebook kernels nbval starts, which inherit this environment)."""
import os
import shutil
import sys
from pathlib import Path

os.environ["DLCOURSE_PROGRESS"] = "0"
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture
def root():
    return ROOT


@pytest.fixture
def repo_copy(tmp_path):
    """A throw-away copy of the course's notebooks and package, to break on purpose."""
    dst = tmp_path / "repo"
    for folder in ("chapters", "solutions", "exercises", "dlcourse"):
        shutil.copytree(ROOT / folder, dst / folder, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    return dst
