"""Grading with nbgrader and the students' progress report (tools/grading.py), and the nbgrader metadata
of the generated exercises (tools/course.py). The slow part autogrades chapter 01 offline (the offline
guard of conftest.py covers nbgrader and its kernels): the solution scores full points, the blank
exercise zero, and a planted wrong answer in between."""
import copy
import re
import textwrap

import jupytext
import nbformat
import pytest

from conftest import ROOT
from tools import course, grading

SLUG = "01_perceptron"
SOLUTION = ROOT / "solutions" / f"{SLUG}.py"


# ---- the generator: nbgrader's ClearSolutions and the text view agree -----------------------------------
@pytest.mark.parametrize("solution", course.notebook_sources(ROOT, "solutions"), ids=lambda p: p.stem)
def test_exercise_made_by_nbgrader_equals_the_text_stripping(solution):
    assert course.exercise_text(solution) == course.strip_solutions(solution.read_text(), solution.name)


def test_generated_exercises_carry_nbgrader_metadata():
    nb = nbformat.read(ROOT / "exercises" / f"{SLUG}.ipynb", as_version=4)
    metas = [c.metadata.get("nbgrader") for c in nb.cells]
    ids = [m["grade_id"] for m in metas if m]
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    checks = [c for c in nb.cells if "check" in c.metadata.get("tags", [])]
    tasks = [c for c in nb.cells if course.CODE_STUB in c.source]
    assert len(checks) >= 3 and len(tasks) >= 3
    for cell in checks:                          # autograder tests: graded, locked, read-only, with points
        m = cell.metadata.nbgrader
        assert m["grade"] and m["locked"] and not m["solution"] and m["points"] > 0 and m["schema_version"] == 3
        assert cell.metadata.editable is False and cell.metadata.deletable is False
    for cell in tasks:                           # solution cells: editable, not graded
        m = cell.metadata.nbgrader
        assert m["solution"] and not m["grade"] and not m["locked"] and cell.metadata.get("editable", True)
    for cell in nb.cells:                        # the task statements are read-only
        if cell.cell_type == "markdown" and "answer" not in cell.metadata.get("tags", []):
            assert cell.metadata.nbgrader["locked"] and cell.metadata.editable is False
    # stable: generating twice gives the same ids and checksums
    again = course.exercise_notebooks(SOLUTION)[1]
    assert course.grading_signature(again) == course.grading_signature(course.exercise_notebooks(SOLUTION)[1])


SYNTHETIC = textwrap.dedent('''\
    # %% [markdown]
    # # Exercises 99

    # %%
    import numpy as np

    # %%
    def double(x):
        ### BEGIN SOLUTION
        return 2 * x
        ### END SOLUTION


    # %% tags=["check", "points=2"]
    assert double(1) == 2

    # %% [markdown]
    # **Think.** Why?

    # %% [markdown] tags=["answer"]
    # ### BEGIN SOLUTION
    # Because.
    # ### END SOLUTION

    # %% [markdown]
    # <details><summary>Discussion</summary>
    #
    # It is.
    # </details>

    # %%
    print(double(3))
    ''')


def _solution_file(tmp_path, text=SYNTHETIC):
    path = tmp_path / "99_synthetic.py"
    path.write_text(text)
    return path


def test_written_answers_points_tags_and_free_cells(tmp_path):
    source, release = course.exercise_notebooks(_solution_file(tmp_path))
    meta = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in source.cells
            if "nbgrader" in c.metadata}
    assert meta["double"]["solution"] and not meta["double"]["grade"]
    assert meta["check_1"]["points"] == 2 and meta["check_1"]["grade"]
    assert meta["answer_1"] == {"grade": True, "solution": True, "locked": False, "points": 1,
                                "grade_id": "answer_1", "schema_version": 3}
    assert "nbgrader" not in source.cells[-1].metadata          # a free code cell after the tasks
    answer = next(c for c in release.cells if "answer" in c.metadata.get("tags", []))
    assert answer.source == course.TEXT_STUB
    text = course.exercise_text(_solution_file(tmp_path))
    assert "# %% [markdown] tags=[\"answer\"]\n# YOUR ANSWER HERE\n" in text and "Because" not in text
    assert "<summary>Discussion</summary>" in text and "nbgrader" not in text
    assert "    raise NotImplementedError  # your code here\n" in text


@pytest.mark.parametrize("old,new,message", [
    ('# %% [markdown] tags=["answer"]', "# %% [markdown]", "tag it `answer`"),
    ("# ### BEGIN SOLUTION\n# Because.\n# ### END SOLUTION", "# Because.", "has no"),
    ('tags=["check", "points=2"]\nassert', 'tags=["check"]\n### BEGIN SOLUTION\n### END SOLUTION\nassert',
     "tagged `check` and holds a solution"),
])
def test_misplaced_markers_are_rejected(tmp_path, old, new, message):
    assert old in SYNTHETIC
    with pytest.raises(ValueError, match=message):
        course.exercise_notebooks(_solution_file(tmp_path, SYNTHETIC.replace(old, new)))


# ---- make grade and make progress on chapter 01 ---------------------------------------------------------
def _filled_in(release, source, wrong_first_task=False):
    """The student version with its solution cells filled in as the solution does; with
    `wrong_first_task` the first task gets a typical wrong answer instead: the function returns its
    first argument unchanged (e.g. weights never updated)."""
    nb = copy.deepcopy(release)
    solved = {c.metadata.nbgrader["grade_id"]: c.source for c in source.cells
              if c.metadata.get("nbgrader", {}).get("solution")}
    planted = False
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solved:
            cell.source = "\n".join(line for line in solved[grade_id].splitlines()
                                    if cell.cell_type == "code" or "SOLUTION" not in line)
            if wrong_first_task and not planted and cell.cell_type == "code":
                first_arg = re.search(r"def \w+\(\s*(\w+)", cell.source).group(1)
                cell.source = re.sub(r"( *)### BEGIN SOLUTION.*?### END SOLUTION",
                                     lambda m: f"{m.group(1)}return {first_arg}", cell.source, flags=re.S)
                planted = True
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    source, release = course.exercise_notebooks(SOLUTION)
    students = {"solution": _filled_in(release, source), "blank": release,
                "wrong": _filled_in(release, source, wrong_first_task=True)}
    for student, nb in students.items():
        (tmp / "submissions" / student).mkdir(parents=True)
        nbformat.write(nb, tmp / "submissions" / student / f"{SLUG}.ipynb")
    rows = grading.grade(tmp / "submissions", tmp / "grades.csv", tmp / "course")
    return tmp, {r["student"]: r for r in rows}


@pytest.mark.slow
def test_make_grade_scores_solution_blank_and_a_wrong_answer(graded):
    tmp, rows = graded
    assert set(rows) == {"solution", "blank", "wrong"} and {r["notebook"] for r in rows.values()} == {SLUG}
    full = rows["solution"]["max_score"]
    assert full >= 3 and all(r["max_score"] == full for r in rows.values())
    assert rows["solution"]["score"] == full
    assert rows["blank"]["score"] == 0
    assert 0 < rows["wrong"]["score"] < full
    assert rows["solution"]["written_answered"] == rows["solution"]["written_total"]
    assert rows["blank"]["written_answered"] == 0
    header = (tmp / "grades.csv").read_text().splitlines()[0]
    assert header.startswith("student,notebook,score,max_score")
    # what nbgrader releases from the source is exactly the generated exercise
    release = nbformat.read(tmp / "course" / "release" / SLUG / f"{SLUG}.ipynb", as_version=4)
    assert course.grading_signature(release) == course.grading_signature(course.exercise_notebooks(SOLUTION)[1])


@pytest.mark.slow
def test_make_progress_reports_blank_and_solution(graded, capsys):
    tmp, _ = graded
    (blank,) = grading.progress([ROOT / "exercises" / f"{SLUG}.ipynb"])
    assert blank.checks and all(status == "not implemented" for _, status, _ in blank.checks)
    assert blank.answered == 0
    out = capsys.readouterr().out
    assert f"exercises/{SLUG}.ipynb: 0 of {len(blank.checks)} checks pass" in out and "not implemented" in out
    # the solution, as nbgrader executed it: every check passes, every question answered
    executed = nbformat.read(tmp / "course" / "autograded" / "solution" / SLUG / f"{SLUG}.ipynb", as_version=4)
    solved = grading.notebook_progress(executed, SLUG)
    assert solved.checks and all(status == "pass" for _, status, _ in solved.checks)
    assert solved.answered == solved.questions
    wrong = grading.notebook_progress(nbformat.read(
        tmp / "course" / "autograded" / "wrong" / SLUG / f"{SLUG}.ipynb", as_version=4), SLUG)
    assert [s for _, s, _ in wrong.checks].count("fail") == 1


def test_find_submissions_accepts_one_student_or_one_folder_per_student(tmp_path):
    (tmp_path / "ann").mkdir()
    (tmp_path / f"{SLUG}.ipynb").write_text("{}")
    (tmp_path / "ann" / f"{SLUG}.ipynb").write_text("{}")
    (tmp_path / "ann" / "notes.ipynb").write_text("{}")
    found = grading.find_submissions(tmp_path, {SLUG})
    assert set(found) == {tmp_path.name, "ann"} and list(found["ann"]) == [SLUG]


def test_check_status_reads_the_outputs():
    def cell(*outputs, count=1):
        return nbformat.v4.new_code_cell("check.f(f)", execution_count=count, outputs=list(outputs))

    err = nbformat.v4.new_output
    assert grading.check_status(cell(err("stream", name="stdout", text="✔ f: correct")))[0] == "pass"
    assert grading.check_status(cell(err("error", ename="CheckFailed", evalue="f is not implemented yet: x",
                                         traceback=[])))[0] == "not implemented"
    assert grading.check_status(cell(err("error", ename="NameError", evalue="name 'f' is not defined",
                                         traceback=[]))) == ("fail", "NameError: name 'f' is not defined")
    assert grading.check_status(cell(count=None))[0] == "not run"
