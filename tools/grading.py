"""Grading for instructors (nbgrader, offline) and progress for students.

    python -m tools.grading grade SUBMISSIONS [--csv _build/grades.csv] [--course _build/nbgrader]
    python -m tools.grading progress [exercises/01_perceptron.ipynb ...]

`grade` autogrades submitted exercise notebooks with nbgrader. SUBMISSIONS holds the notebooks of one
student (named like the exercises, ``01_perceptron.ipynb``; the folder's name is the student's id) or
one folder per student holding such notebooks. It prepares an nbgrader course directory (rebuilt on
every run, `_build/nbgrader` by default): ``source/NN_slug/NN_slug.ipynb`` is the solution with its
nbgrader metadata (`tools.course.nbgrader_source`, the same metadata the generated exercises carry),
``nbgrader generate_assignment`` makes the release version and the gradebook from it, the student files
are copied to ``submitted/<student>/NN_slug/``, and ``nbgrader autograde`` executes them (offline: a
local kernel, nothing is fetched) and scores the `check` cells. The CSV has one row per student and
notebook: ``score`` and ``max_score`` are the autograded check points; the written answers are graded
by hand in nbgrader's formgrader (``written_answered`` of ``written_total``, worth ``written_max_score``).

`progress` executes each exercise notebook of the student's checkout (nbclient, errors allowed, nothing
written back) and prints which checks pass, fail or are not implemented yet, and how many written
questions are answered.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tools import course

ROOT = course.ROOT
DEFAULT_COURSE = ROOT / "_build" / "nbgrader"
DEFAULT_CSV = ROOT / "_build" / "grades.csv"
CSV_FIELDS = ["student", "notebook", "score", "max_score", "written_answered", "written_total",
              "written_max_score"]
CELL_TIMEOUT = 300

def nbgrader_config(course_dir: Path) -> str:
    """The course directory's nbgrader_config.py."""
    return "\n".join([
        "# Written by tools/grading.py (make grade); the course directory is rebuilt on every run.",
        "c = get_config()  # noqa: F821",
        'c.CourseDirectory.course_id = "dlcourse"',
        f"c.CourseDirectory.root = {str(course_dir.resolve())!r}",
        f"c.Execute.timeout = {CELL_TIMEOUT}",
        "# The release version nbgrader makes is the generated exercise (tools/course.py: the same stubs).",
        f"c.ClearSolutions.code_stub = {{'python': {course.CODE_STUB!r}}}",
        f"c.ClearSolutions.text_stub = {course.TEXT_STUB!r}",
        ""])


# ------------------------------------------------------------------------------------------------
# grade: nbgrader autograde into a CSV
def find_submissions(folder: Path, assignments: set[str]) -> dict[str, dict[str, Path]]:
    """{student: {assignment: notebook}}: the folder's own NN_slug.ipynb (student = the folder's name),
    and one level of sub-folders (student = the sub-folder's name)."""
    def notebooks(d: Path) -> dict[str, Path]:
        return {p.stem: p for p in sorted(d.glob("[0-9][0-9]_*.ipynb")) if p.stem in assignments}

    found = {}
    if notebooks(folder):
        found[folder.resolve().name] = notebooks(folder)
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if notebooks(sub):
            found[sub.name] = notebooks(sub)
    return found


def _venv_on_path() -> None:
    """nbgrader's gradebook runs the `alembic` command of its environment: put the venv's bin/ first."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join(filter(None, [bin_dir, os.environ.get("PATH")]))


def _nbgrader(args: list[str], course_dir: Path) -> None:
    _venv_on_path()
    env = dict(os.environ, DLCOURSE_PROGRESS="0", PYDEVD_DISABLE_FILE_VALIDATION="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def prepare_course(course_dir: Path, assignments: list[str], root: Path = ROOT) -> None:
    """A fresh nbgrader course directory with the source (solution + metadata) of each assignment."""
    if course_dir.exists():
        shutil.rmtree(course_dir)
    course_dir.mkdir(parents=True)
    (course_dir / "nbgrader_config.py").write_text(nbgrader_config(course_dir))
    for name in assignments:
        source = course.nbgrader_source(course.read(root / "solutions" / f"{name}.py"), name)
        (course_dir / "source" / name).mkdir(parents=True)
        nbformat.write(source, course_dir / "source" / name / f"{name}.ipynb")
        _nbgrader(["generate_assignment", name, "--force"], course_dir)


def gradebook_rows(course_dir: Path) -> list[dict]:
    from nbgrader.api import Gradebook

    _venv_on_path()
    rows = []
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", "dlcourse") as gb:
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            for submission in sorted(assignment.submissions, key=lambda s: s.student.id):
                for nb in submission.notebooks:
                    written = [g for g in nb.grades if g.cell.cell_type == "markdown"]
                    rows.append({
                        "student": submission.student.id, "notebook": nb.name,
                        "score": _num(nb.code_score), "max_score": _num(nb.max_code_score),
                        "written_answered": sum(g.auto_score is None for g in written),
                        "written_total": len(written), "written_max_score": _num(nb.max_written_score),
                    })
    return rows


def _num(x: float):
    return int(x) if float(x).is_integer() else round(float(x), 3)


def grade(submissions: Path, csv_path: Path = DEFAULT_CSV, course_dir: Path = DEFAULT_COURSE,
          root: Path = ROOT) -> list[dict]:
    """Autograde every submitted notebook with nbgrader and write the CSV; returns its rows."""
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise SystemExit(f"SUBMISSIONS={submissions} is not a folder")
    names = {p.stem for p in course.notebook_sources(root, "solutions")}
    found = find_submissions(submissions, names)
    if not found:
        raise SystemExit(f"no notebook named like exercises/NN_slug.ipynb in {submissions} or its sub-folders")
    assignments = sorted({a for nbs in found.values() for a in nbs})
    prepare_course(course_dir, assignments, root)
    for student, nbs in found.items():
        for name, path in nbs.items():
            dest = course_dir / "submitted" / student / name
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / f"{name}.ipynb")
    for name in assignments:
        _nbgrader(["autograde", name, "--force"], course_dir)
    rows = gradebook_rows(course_dir)
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


# ------------------------------------------------------------------------------------------------
# progress: which checks pass in the student's own notebooks
@dataclass
class Progress:
    notebook: str
    checks: list[tuple[str, str, str]] = field(default_factory=list)   # (name, status, message)
    answered: int = 0
    questions: int = 0

    def count(self, status: str) -> int:
        return sum(s == status for _, s, _ in self.checks)

    def summary(self) -> str:
        parts = [f"{self.count('pass')} of {len(self.checks)} checks pass"]
        parts += [f"{self.count(s)} {s}" for s in ("fail", "not implemented", "not run") if self.count(s)]
        line = f"{self.notebook}: " + ", ".join(parts)
        if self.questions:
            line += f"; written answers: {self.answered} of {self.questions}"
        return line


MARKS = {"pass": "✔", "fail": "✘", "not implemented": "·", "not run": "?"}


def _is_check(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and ("check" in cell.metadata.get("tags", [])
                                         or (meta.get("grade") and not meta.get("solution")))


def _is_answer(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "markdown" and ("answer" in cell.metadata.get("tags", [])
                                             or (meta.get("grade") and meta.get("solution")))


def _answered(cell) -> bool:
    from nbgrader.utils import compute_checksum

    if course.TEXT_STUB in cell.source or not cell.source.strip():
        return False
    meta = cell.metadata.get("nbgrader", {})
    return not ("checksum" in meta and "grade_id" in meta and meta["checksum"] == compute_checksum(cell))


def check_status(cell) -> tuple[str, str]:
    """('pass' | 'fail' | 'not implemented' | 'not run', first line of the message) of an executed check cell."""
    if cell.get("execution_count") is None and not cell.get("outputs"):
        return "not run", ""
    errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
    if not errors:
        return "pass", ""
    message = (errors[0].get("evalue") or "").strip().splitlines()
    first = message[0] if message else ""
    if errors[0].ename == "CheckFailed" and "not implemented yet" in first:
        return "not implemented", first
    return "fail", f"{errors[0].ename}: {first}" if errors[0].ename != "CheckFailed" else first


def notebook_progress(nb, name: str) -> Progress:
    """Read the progress off an executed notebook."""
    report = Progress(name)
    for cell in nb.cells:
        if _is_check(cell):
            label = cell.metadata.get("nbgrader", {}).get("grade_id") or cell.source.strip().splitlines()[0]
            report.checks.append((label.removeprefix("check_"), *check_status(cell)))
        elif _is_answer(cell):
            report.questions += 1
            report.answered += _answered(cell)
    return report


def execute(path: Path, timeout: int = CELL_TIMEOUT):
    """Execute a notebook in memory (errors allowed, nothing written back)."""
    from nbclient import NotebookClient

    os.environ.update(DLCOURSE_PROGRESS="0", PYDEVD_DISABLE_FILE_VALIDATION="1")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def progress(paths: list[Path] | None = None, root: Path = ROOT, out=None) -> list[Progress]:
    """Execute each exercise notebook and print which checks pass; returns the reports."""
    out = out or sys.stdout
    paths = [Path(p) for p in paths] if paths else sorted((root / "exercises").glob("[0-9][0-9]_*.ipynb"))
    reports = []
    for path in paths:
        try:
            name = path.resolve().relative_to(root).as_posix()
        except ValueError:
            name = str(path)
        report = notebook_progress(execute(path), name)
        reports.append(report)
        print(report.summary(), file=out)
        for label, status, message in report.checks:
            if status == "not implemented" and "helper" not in message:
                message = "not implemented yet"
            print(f"  {MARKS[status]} {label}" + (f": {message}" if message and status != "pass" else ""), file=out)
        out.flush()
    return reports


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("grade", help="autograde submitted notebooks with nbgrader into a CSV")
    s.add_argument("submissions", type=Path)
    s.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    s.add_argument("--course", type=Path, default=DEFAULT_COURSE, help="nbgrader course directory (rebuilt)")
    s = sub.add_parser("progress", help="which checks pass in your exercise notebooks")
    s.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "grade":
        rows = grade(args.submissions, args.csv, args.course)
        for r in rows:
            print(f"{r['student']:>16} {r['notebook']:<22} {r['score']:>5} / {r['max_score']:<5} "
                  f"written answers to grade by hand: {r['written_answered']} of {r['written_total']}")
        print(f"wrote {args.csv} ({len(rows)} rows); nbgrader course directory: {args.course}")
        return 0
    reports = progress(args.paths)
    passed = sum(r.count("pass") for r in reports)
    print(f"overall: {passed} of {sum(len(r.checks) for r in reports)} checks pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
