"""The repository documents itself and stands alone: docs/architecture.md, CONTRIBUTING.md and README.md
stay true to the code, no file refers to anything outside the repository, and the instructor book's table
of contents is generated from the student one (`python -m tools.course toc`)."""
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT
from tools import course

ARCHITECTURE = ROOT / "docs" / "architecture.md"

# Files that only exist outside the repository (the course's original design notes, a shared folder, a
# machine's checkout path). Spelled in pieces so that this file does not mention them itself.
OUTSIDE = ["COURSE" + ".md", "LECTURES" + ".md", "STYLE" + ".md", ".." + "/shared", "/wo" + "rk/"]


def repository_files():
    """Every file git tracks, plus new files it does not ignore (about to be committed)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return sorted({ROOT / name for name in out.decode().split("\0") if name and (ROOT / name).is_file()})


def section(text: str, heading: str) -> str:
    """The body of the level-2 section ``## heading`` of a markdown text."""
    m = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert m, f"no '## {heading}' section"
    return m.group(1)


# ------------------------------------------------------------------------------------------------
# the repository stands alone
def test_docs_no_file_refers_to_files_outside_the_repository():
    found = []
    for path in repository_files():
        data = path.read_bytes()
        if b"\0" in data:
            continue                                        # binary (fonts, images)
        for lineno, line in enumerate(data.decode("utf-8", errors="ignore").splitlines(), start=1):
            found += [f"{path.relative_to(ROOT)}:{lineno}: {word}" for word in OUTSIDE if word in line]
    assert not found, "files outside the repository are referred to:\n" + "\n".join(found)


def test_docs_outside_reference_scan_sees_every_kind_of_file():
    names = {p.relative_to(ROOT).as_posix() for p in repository_files()}
    assert {"README.md", "CONTRIBUTING.md", "docs/architecture.md", "tools/course.py", "Makefile",
            "chapters/01_perceptron.ipynb", "tests/conftest.py"} <= names


# ------------------------------------------------------------------------------------------------
# CONTRIBUTING.md and README.md
def test_docs_contributing_points_to_the_architecture():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    assert "docs/architecture.md" in text
    assert ARCHITECTURE.exists()


def test_docs_contributing_checklist_names_every_file_and_command():
    checklist = section((ROOT / "CONTRIBUTING.md").read_text(), "Add chapter NN")
    needed = ["_toc.yml", "README.md", "solutions/", "dlcourse/checks/", "dlcourse/widgets/",
              "tests/test_checks_", "tests/test_widgets_", "tests/test_numpy_nn_", "chapters/NN_slug.py",
              "exercises/", "make export", "make notebooks", "make exercises", "make check", "make test"]
    missing = [word for word in needed if word not in checklist]
    assert not missing, f"the 'Add chapter NN' checklist does not name {missing}"
    block = re.search(r"```bash\n(.*?)```", checklist, re.DOTALL)
    assert block, "the checklist ends with the commands to run, in a ```bash block"
    commands = block.group(1)
    order = [commands.find(cmd) for cmd in ("make export", "make notebooks NOTEBOOKS=", "make exercises",
                                             "make check", "make test")]
    assert -1 not in order and order == sorted(order), f"the checklist's commands are missing or out of order:\n{commands}"
    assert re.search(r"^1\. ", checklist, re.MULTILINE), "the checklist is a numbered list"


def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))


@pytest.mark.parametrize("doc", ["README.md", "CONTRIBUTING.md", "docs/architecture.md", "book/instructor.md",
                                 "book/setup.md"])
def test_docs_every_make_command_exists(doc):
    commands = set(re.findall(r"`make ([a-z][\w-]*)", (ROOT / doc).read_text()))
    unknown = commands - make_targets()
    assert not unknown, f"{doc} mentions make targets the Makefile lacks: {unknown}"


def test_docs_contributing_commands_table_lists_every_maintainer_target():
    table = section((ROOT / "CONTRIBUTING.md").read_text(), "The commands")
    listed = set(re.findall(r"`make ([a-z][\w-]*)", table))
    assert make_targets() - {"clean"} <= listed, make_targets() - listed


def test_docs_readme_keeps_the_two_commands_and_points_contributors_on():
    text = (ROOT / "README.md").read_text()
    quick = section(text, "Quick start")
    assert "make lab" in quick and "make test" in quick
    for needed in ("make check", "docs/architecture.md", "CONTRIBUTING.md"):
        assert needed in text


@pytest.mark.parametrize("doc", ["README.md", "book/intro.md"])
def test_docs_chapter_table_lists_every_chapter_as_ready(doc):
    text = (ROOT / doc).read_text()
    for py in course.notebook_sources(ROOT, "chapters"):
        number = py.stem[:2]
        row = re.search(rf"^\| {number} \|.*$", text, re.MULTILINE)
        assert row, f"{doc} has no row for chapter {number}"
        assert "planned" not in row.group(0), f"{doc} says chapter {number} is planned: {row.group(0)}"


# ------------------------------------------------------------------------------------------------
# docs/architecture.md stays true to the code
def test_docs_architecture_names_every_module_of_the_package():
    text = ARCHITECTURE.read_text()
    modules = [p.stem for p in (ROOT / "dlcourse").glob("[a-z]*.py")]
    modules += [p.name for p in (ROOT / "dlcourse").iterdir() if (p / "__init__.py").exists()]
    missing = [m for m in modules if f"dlcourse.{m}" not in text]
    assert not missing, f"docs/architecture.md does not describe dlcourse.{missing}"
    topics = [p.stem for p in (ROOT / "dlcourse" / "numpy_nn").glob("[a-z]*.py")]
    assert all(f"`{t}`" in text for t in topics), topics


def test_docs_architecture_states_the_enforced_rules():
    text = ARCHITECTURE.read_text()
    for heading in course.TEMPLATE_SECTIONS:
        assert f"## {heading}" in text, heading
    assert f"{course.MAX_MODULE_LINES} lines" in text
    assert f"{course.MAX_CELL_LINES} lines" in text
    assert course.SETUP_RE.search("rng, device = dlcourse.setup(seed=0, threads=1)")
    for needed in ("rng, device = dlcourse.setup(seed=0, threads=1)", "SCALE = 1", "from torch import nn",
                   "dlcourse.train.accuracy", "SEEDS = dlcourse.seeds(n)", "NBVAL_CHECK_OUTPUT",
                   "#| export numpy_nn.conv", "dlcourse/numpy_nn/conv.py", "@add_to_class",
                   "twin_errors", "assert_twins", "loss_twin_errors", "float64", "25 random configurations",
                   "batch size 1", "load_state_dict", "make exercises", "DLCOURSE_SEED_SHIFT", "120 s",
                   "20 minutes", "_toc_instructor.yml", "python -m tools.course toc"):
        assert needed in text, needed


# ------------------------------------------------------------------------------------------------
# the instructor toc is generated from the student toc
def test_toc_instructor_file_is_the_rendering_of_the_student_toc():
    assert (ROOT / "_toc_instructor.yml").read_text() == course.render_instructor_toc(ROOT), \
        "run `python -m tools.course toc`"
    assert course.instructor_toc(ROOT, check=True) == []


def test_toc_instructor_rendering_is_the_student_toc_plus_solutions():
    student = yaml.safe_load((ROOT / "_toc.yml").read_text())
    instructor = yaml.safe_load(course.render_instructor_toc(ROOT))
    solutions = [f"solutions/{p.stem}" for p in course.notebook_sources(ROOT, "solutions")]
    assert solutions
    assert instructor["parts"][:-1] == student["parts"]
    assert {k: v for k, v in instructor.items() if k != "parts"} == {k: v for k, v in student.items() if k != "parts"}
    assert instructor["parts"][-1] == {"caption": "Solutions", "chapters": [{"file": f} for f in solutions]}


@pytest.fixture
def toc_copy(tmp_path):
    """The two tables of contents and the solutions, in a throw-away folder."""
    for name in ("_toc.yml", "_toc_instructor.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "solutions").mkdir()
    for py in course.notebook_sources(ROOT, "solutions"):
        shutil.copy(py, tmp_path / "solutions" / py.name)
    return tmp_path


def test_toc_edited_student_toc_is_flagged_until_regenerated(toc_copy):
    assert course.instructor_toc(toc_copy, check=True) == []
    toc = toc_copy / "_toc.yml"
    toc.write_text(toc.read_text().replace("caption: Getting started", "caption: First steps"))
    problems = course.instructor_toc(toc_copy, check=True)
    assert problems and "_toc_instructor.yml" in problems[0] and "tools.course toc" in problems[0]
    assert problems[0] in course.all_problems(toc_copy)              # so `make check` fails too
    assert course.instructor_toc(toc_copy) == ["wrote _toc_instructor.yml"]
    assert course.instructor_toc(toc_copy, check=True) == []
    assert "caption: First steps" in (toc_copy / "_toc_instructor.yml").read_text()


def test_toc_new_solution_or_hand_edit_is_flagged(toc_copy):
    first = course.notebook_sources(toc_copy, "solutions")[0]
    shutil.copy(first, toc_copy / "solutions" / "99_new.py")
    assert course.instructor_toc(toc_copy, check=True)
    course.instructor_toc(toc_copy)
    assert "      - file: solutions/99_new\n" in (toc_copy / "_toc_instructor.yml").read_text()
    target = toc_copy / "_toc_instructor.yml"
    target.write_text(target.read_text() + "      - file: book/extra\n")
    assert course.instructor_toc(toc_copy, check=True)
    target.unlink()
    assert "is missing" in course.instructor_toc(toc_copy, check=True)[0]


def test_toc_command_line(capsys):
    assert course.main(["toc", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
