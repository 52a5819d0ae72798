"""Notebook tooling: pairing, the chapter template, the export to dlcourse, the generated exercises
and nbval. Each checker is run on the repository (must be clean) and on a copy broken on purpose
(must notice)."""
import subprocess
import sys
import textwrap

import nbformat
import pytest

from conftest import ROOT
from tools import course


def _edit_py_cell(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


# ---- pairing -----------------------------------------------------------------------------------
def test_every_pair_is_in_sync_and_executed():
    assert course.pairing_problems(ROOT) == []


def test_pairing_check_notices_an_edited_source(repo_copy):
    _edit_py_cell(repo_copy / "chapters/01_perceptron.py", "## Intuition", "## Intuition, edited")
    problems = course.pairing_problems(repo_copy)
    assert any("chapters/01_perceptron.py and its .ipynb differ" in p for p in problems)


def test_pairing_check_notices_missing_outputs_and_missing_twins(repo_copy):
    nb_path = repo_copy / "solutions/01_perceptron.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, nb_path)
    (repo_copy / "chapters/01_perceptron.ipynb").unlink()
    problems = course.pairing_problems(repo_copy)
    assert any("solutions/01_perceptron.ipynb is not fully executed" in p for p in problems)
    assert any("chapters/01_perceptron.py has no paired .ipynb" in p for p in problems)


# ---- the chapter template ------------------------------------------------------------------------
def test_every_chapter_follows_the_template():
    assert course.template_problems(ROOT) == []


@pytest.mark.parametrize("old,new,message", [
    ("## Check against PyTorch", "## Comparison", "section '## Check against PyTorch' is missing"),
    ("*Runs in ~", "*Takes ~", "no 'runs in ~N s' line"),
    ("# NBVAL_CHECK_OUTPUT", "# claims", "no '# NBVAL_CHECK_OUTPUT' cell"),
    ("(../exercises/01_perceptron.ipynb)", "(elsewhere)", "does not link to exercises/01_perceptron"),
])
def test_template_check_names_chapter_and_section(repo_copy, old, new, message):
    path = repo_copy / "chapters/01_perceptron.py"
    text = path.read_text()
    if old == "(../exercises/01_perceptron.ipynb)":
        text = text.replace("exercises/01_perceptron", "elsewhere")
    else:
        text = text.replace(old, new)
    path.write_text(text)
    problems = course.template_problems(repo_copy)
    assert any(p.startswith("chapter 01_perceptron:") and message in p for p in problems), problems


def test_template_check_notices_sections_out_of_order_and_stored_errors(repo_copy):
    path = repo_copy / "chapters/01_perceptron.py"
    text = path.read_text().replace("## Summary", "## Wrap-up").replace("## Learning goals", "## Summary")
    path.write_text(text)
    nb_path = path.with_suffix(".ipynb")
    nb = nbformat.read(nb_path, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs.append(nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[]))
    nbformat.write(nb, nb_path)
    problems = course.template_problems(repo_copy)
    assert any("'## Learning goals' is missing" in p for p in problems)
    assert any("'## Summary' is out of order" in p for p in problems)
    assert any("is an error" in p for p in problems)


# ---- the book's table of contents ------------------------------------------------------------------
def test_every_chapter_and_exercise_is_in_the_book():
    assert course.toc_problems(ROOT) == []


def test_toc_check_notices_a_missing_chapter(tmp_path):
    for name in ("chapters", "exercises", "solutions"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "09_new.py").write_text("# %%\n")
    (tmp_path / "_toc.yml").write_text("root: book/intro\nparts:\n  - chapters:\n      - file: solutions/09_new\n")
    (tmp_path / "_toc_instructor.yml").write_text("root: book/intro\n")
    problems = course.toc_problems(tmp_path)
    assert "chapters/09_new is not in _toc.yml" in problems
    assert "exercises/09_new is not in _toc_instructor.yml" in problems
    assert "solutions/09_new must not be in the student book (_toc.yml)" in problems


# ---- export of reference code --------------------------------------------------------------------
def test_package_is_in_sync_with_the_chapters():
    assert course.export(ROOT, check=True) == []


def test_export_check_notices_drift_both_ways(repo_copy):
    _edit_py_cell(repo_copy / "chapters/01_perceptron.py", "return w + lr * y * x", "return w + 2 * lr * y * x")
    assert course.export(repo_copy, check=True) == [
        "dlcourse/perceptron.py differs from the chapters' export cells: run `make export`"]
    course.export(repo_copy)                                   # regenerating repairs it
    assert course.export(repo_copy, check=True) == []
    assert "return w + 2 * lr * y * x" in (repo_copy / "dlcourse/perceptron.py").read_text()
    mod = repo_copy / "dlcourse/perceptron.py"                  # a hand edit of the package is drift too
    mod.write_text(mod.read_text() + "\n# hand edit\n")
    assert course.export(repo_copy, check=True)


def test_exported_module_is_importable_and_generated():
    import dlcourse.perceptron as p

    assert "AUTOGENERATED" in (ROOT / "dlcourse/perceptron.py").read_text()[:300]
    assert callable(p.perceptron_update) and callable(p.train_perceptron)


# ---- exercises generated from solutions ----------------------------------------------------------
def test_exercises_are_generated_from_solutions():
    assert course.exercises(ROOT, check=True) == []


def test_exercise_drift_is_noticed(repo_copy):
    _edit_py_cell(repo_copy / "exercises/01_perceptron.py", "raise NotImplementedError", "return w")
    assert any("exercises/01_perceptron.py is out of date" in p for p in course.exercises(repo_copy, check=True))
    course.exercises(repo_copy)
    assert course.exercises(repo_copy, check=True) == []


def test_strip_solutions_keeps_everything_else_and_indentation():
    text = textwrap.dedent("""\
        def f(x):
            \"\"\"doc\"\"\"
            ### BEGIN SOLUTION
            return 2 * x
            ### END SOLUTION

        print(f)
        """)
    assert course.strip_solutions(text) == textwrap.dedent("""\
        def f(x):
            \"\"\"doc\"\"\"
            raise NotImplementedError  # your code here

        print(f)
        """)


@pytest.mark.parametrize("text,message", [
    ("### BEGIN SOLUTION\nx\n", "is never closed"),
    ("x\n### END SOLUTION\n", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "nested"),
])
def test_strip_solutions_rejects_broken_markers(text, message):
    with pytest.raises(ValueError, match=message):
        course.strip_solutions(text, "sol.py")


def _execute(path):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def _check_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and "check" in c.metadata.get("tags", [])]


def _errors(cell):
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


@pytest.mark.slow
@pytest.mark.parametrize("solution", course.notebook_sources(ROOT, "solutions"), ids=lambda p: p.stem)
def test_exercise_checks_fail_on_blanks(solution):
    """Every `check`-tagged cell of the generated exercise notebook raises CheckFailed "not implemented yet".

    Only the exercise is executed here. That the solutions pass their checks is proven by nbval, which
    executes every notebook in solutions/ (testpaths in pyproject.toml): a check cell that fails raises
    CheckFailed and fails that cell. Each notebook thus executes once per `make test`."""
    exercise = _execute(ROOT / "exercises" / solution.with_suffix(".ipynb").name)
    checks = _check_cells(exercise)
    assert len(checks) >= 3, "each exercise notebook needs at least three tagged check cells"
    for cell in checks:
        errors = _errors(cell)
        assert errors and errors[0].ename == "CheckFailed", f"check cell did not fail on the blank:\n{cell.source}"
        assert "not implemented yet" in errors[0].evalue


def test_every_solution_check_cell_calls_its_check_and_nbval_executes_solutions():
    """What nbval's run of solutions/ proves: each solution notebook has tagged check cells that call a check."""
    import tomllib

    assert "solutions" in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"]
    for solution in course.notebook_sources(ROOT, "solutions"):
        checks = _check_cells(nbformat.read(solution.with_suffix(".ipynb"), as_version=4))
        assert len(checks) >= 3 and all("check." in c.source for c in checks), solution
        for cell in checks:                                    # and the stored run says they passed
            text = "".join(o.get("text", "") for o in cell.outputs)
            assert "correct on" in text or "\u2714" in text, (solution, cell.source)


# ---- nbval: the NBVAL_CHECK_OUTPUT comparison and the sanitizers really bite ---------------------------
def _notebook_with_output(path, source, stored):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(source, execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored)]
    nb.cells.append(cell)
    nbformat.write(nb, path)


def _nbval(path):
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(path.parent),
           "-c", str(path.parent / "empty.ini"), "--nbval-lax", "--nbval-current-env",
           "--nbval-sanitize-with", str(ROOT / "tests/nbval_sanitize.cfg"), str(path)]
    (path.parent / "empty.ini").write_text("[pytest]\n")
    return subprocess.run(cmd, capture_output=True, text=True, cwd=path.parent)


@pytest.mark.slow
def test_nbval_compares_check_output_cells_and_applies_sanitizers(tmp_path):
    good, bad, timed = tmp_path / "good.ipynb", tmp_path / "bad.ipynb", tmp_path / "timed.ipynb"
    _notebook_with_output(good, "# NBVAL_CHECK_OUTPUT\nprint(1 + 1)", "2\n")
    _notebook_with_output(bad, "# NBVAL_CHECK_OUTPUT\nprint(1 + 1)", "3\n")
    _notebook_with_output(timed, "# NBVAL_CHECK_OUTPUT\nimport random\nprint(f'took {random.random():.3f} s')",
                          "took 0.123 s\n")
    assert _nbval(good).returncode == 0
    result = _nbval(bad)
    assert result.returncode != 0 and "3" in result.stdout
    assert _nbval(timed).returncode == 0, _nbval(timed).stdout[-2000:]


def test_pytest_is_configured_to_run_chapters_and_solutions_with_nbval():
    import tomllib

    opts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert {"chapters", "solutions"} <= set(opts["testpaths"]) and "exercises" not in opts["testpaths"]
    for flag in ("--nbval-lax", "--nbval-current-env", "--nbval-sanitize-with"):
        assert flag in opts["addopts"]
