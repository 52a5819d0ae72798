"""Shared fixtures. Progress bars off and a non-interactive matplotlib backend for every test
(and for the notebook kernels nbval starts, which inherit this environment)."""
import os
import shutil
import sys
import time
from pathlib import Path

os.environ["DLCOURSE_PROGRESS"] = "0"
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Offline guard: this process and every Python subprocess (notebook kernels, the book build) refuse
# non-loopback connections. See tests/offline/dlcourse_offline.py.
OFFLINE_DIR = Path(__file__).resolve().parent / "offline"
os.environ["DLCOURSE_OFFLINE"] = "1"
os.environ["PYTHONPATH"] = os.pathsep.join([str(OFFLINE_DIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
sys.path.insert(0, str(OFFLINE_DIR))
import dlcourse_offline  # noqa: E402

dlcourse_offline.install()

PHASES = ("unit", "notebooks", "book", "e2e")


def phase_of(nodeid: str) -> str:
    """Which phase of the suite a test belongs to, for the timing summary."""
    if ".ipynb" in nodeid:
        return "notebooks"
    if "test_book" in nodeid:
        return "book"
    if "test_e2e" in nodeid:
        return "e2e"
    return "unit"


class PhaseTimer:
    """Wall time per phase of the suite. Registered as a global plugin in pytest_configure, because
    hooks defined in this conftest would only see the tests under tests/, not the notebooks."""

    def __init__(self):
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.notebooks = {}
        self.last = None

    def pytest_collection_finish(self, session):
        self.last = time.perf_counter()

    def pytest_runtest_logreport(self, report):
        now = time.perf_counter()       # time since the previous report, kernel start-ups included
        if self.last is not None:
            self.seconds[phase_of(report.nodeid)] += now - self.last
            if ".ipynb::" in report.nodeid:
                name = report.nodeid.split("::")[0]
                self.notebooks[name] = self.notebooks.get(name, 0.0) + now - self.last
        self.last = now


_timer = PhaseTimer()


def pytest_configure(config):
    config.pluginmanager.register(_timer, "dlcourse-phase-timer")


def pytest_terminal_summary(terminalreporter):
    """Print the time each phase took, so slow phases are visible in the CI log."""
    terminalreporter.section("time per phase")
    for phase in PHASES:
        terminalreporter.write_line(f"{phase:<10} {_timer.seconds[phase]:7.1f} s")
    for name, seconds in _timer.notebooks.items():
        over = "   OVER the 120 s budget of a chapter (COURSE.md section 7)" if seconds > 120 else ""
        terminalreporter.write_line(f"  {name:<40} {seconds:6.1f} s{over}")


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
