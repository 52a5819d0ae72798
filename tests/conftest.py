"""Shared fixtures. Progress bars off and a non-interactive matplotlib backend for every test
(and for the notebook kernels nbval starts, which inherit this environment)."""
import fcntl
import os
import shutil
import sys
import time
import uuid
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


def pytest_addoption(parser, pluginmanager):
    """With `-p no:xdist` (one process, e.g. a targeted run) accept and ignore the -n/--dist of addopts."""
    if not pluginmanager.has_plugin("xdist"):
        group = parser.getgroup("xdist", "accepted and ignored: pytest-xdist is disabled")
        group._addoption("-n", "--numprocesses", dest="numprocesses", default=None, help="ignored without xdist")
        group._addoption("--dist", dest="dist", default="no", help="ignored without xdist")


def phase_of(nodeid: str) -> str:
    """Which phase of the suite a test belongs to, for the timing summary."""
    path = nodeid.split("::")[0]                      # parameter ids may mention notebooks too
    if path.endswith(".ipynb"):
        return "notebooks"
    if "test_book" in path:
        return "book"
    if "test_e2e" in path:
        return "e2e"
    return "unit"


class PhaseTimer:
    """Time per phase of the suite: the sum of every test's setup + call + teardown durations (nbval starts a
    notebook's kernel in the setup of its first cell), so with two xdist workers the phases add up the
    workers' time, and the suite's wall time is printed beside them. Registered as a global plugin in
    pytest_configure, because hooks defined in this conftest would only see the tests under tests/, not
    the notebooks. With xdist the reports of every worker arrive here, in the controller."""

    def __init__(self):
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.notebooks = {}
        self.started = time.perf_counter()

    def pytest_sessionstart(self, session):
        self.started = time.perf_counter()

    def pytest_runtest_logreport(self, report):
        self.seconds[phase_of(report.nodeid)] += report.duration
        name = report.nodeid.split("::")[0]
        if name.endswith(".ipynb"):
            self.notebooks[name] = self.notebooks.get(name, 0.0) + report.duration


_timer = PhaseTimer()


def pytest_configure(config):
    config.pluginmanager.register(_timer, "dlcourse-phase-timer")


def pytest_terminal_summary(terminalreporter):
    """Print the time each phase took (summed over the workers), so slow phases are visible in the CI log."""
    terminalreporter.section("time per phase")
    for phase in PHASES:
        terminalreporter.write_line(f"{phase:<10} {_timer.seconds[phase]:7.1f} s")
    for name, seconds in _timer.notebooks.items():
        over = "   OVER the 120 s budget of a chapter (CONTRIBUTING.md, Adding a chapter)" if seconds > 120 else ""
        terminalreporter.write_line(f"  {name:<40} {seconds:6.1f} s{over}")
    config = terminalreporter.config
    workers = getattr(config.option, "numprocesses", None) if config.pluginmanager.has_plugin("xdist") else None
    terminalreporter.write_line(f"{'total':<10} {sum(_timer.seconds.values()):7.1f} s (summed over the tests)")
    terminalreporter.write_line(f"{'wall':<10} {time.perf_counter() - _timer.started:7.1f} s"
                                + (f" ({workers} workers)" if workers and workers not in ("0", 0) else ""))


# One id per `pytest` run, the same in every xdist worker (xdist sets PYTEST_XDIST_TESTRUNUID before the
# conftest is imported).
RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex


def built_book(instructor: bool = False) -> Path:
    """The book built once per test run (tools.book.build), shared by tests/test_book.py and
    tests/test_e2e_book.py also when they run on different xdist workers at the same time: the first
    caller builds under a file lock and stamps the build with RUN_ID, the others wait and reuse it.
    Raises tools.book's RuntimeError (with the build log) when the build fails."""
    from tools import book

    build_dir = ROOT / "_build"
    build_dir.mkdir(exist_ok=True)
    kind = "instructor" if instructor else "student"
    stamp = build_dir / f".{kind}-book.run"
    with open(build_dir / f".{kind}-book.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)                # released when the file is closed
        html = build_dir / "instructor" / "html" if instructor else build_dir / "html"
        if stamp.exists() and stamp.read_text() == RUN_ID and (html / "index.html").exists():
            return html
        stamp.unlink(missing_ok=True)
        html = book.build(ROOT, instructor=instructor)
        stamp.write_text(RUN_ID)
        return html


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


@pytest.fixture
def one_thread():
    """Torch on one thread for the test (restored after): small networks train several times faster on one
    thread than on two competing with other work, and outcome checks stay deterministic."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
