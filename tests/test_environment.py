"""pyproject.toml and environment.yml must pin the same packages; the Makefile and CI use them."""
import re
import tomllib

import pytest

from conftest import ROOT


def pyproject_pins(path=ROOT / "pyproject.toml") -> dict:
    project = tomllib.loads(path.read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return dict(_parse(r) for r in reqs)


def environment_pins(path=ROOT / "environment.yml") -> dict:
    pins, in_pip = {}, False
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("- pip:"):
            in_pip = True
            continue
        if in_pip and stripped.startswith("- ") and "==" in stripped:
            name, version = _parse(stripped[2:].split("#")[0].strip())
            pins[name] = version
    return pins


def _parse(req: str):
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)\s*", req)
    if not m:
        raise ValueError(f"requirement {req!r} is not pinned as name==version")
    return m.group(1).lower().replace("_", "-"), m.group(2)


def compare_pins(a: dict, b: dict) -> list[str]:
    problems = [f"{k}: pyproject {a[k]} vs environment.yml {b.get(k, 'missing')}" for k in a if a[k] != b.get(k)]
    problems += [f"{k}: only in environment.yml" for k in b if k not in a]
    return problems


def test_pyproject_and_environment_yml_agree():
    assert compare_pins(pyproject_pins(), environment_pins()) == []


def test_torch_pins_match_the_machines():
    pins = pyproject_pins()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert pins["jupyter-book"].startswith("1."), "the design card means Jupyter Book 1.x (Sphinx)"


def test_pin_comparison_detects_drift(tmp_path):
    broken = tmp_path / "environment.yml"
    text = (ROOT / "environment.yml").read_text()
    broken.write_text(text.replace("numpy==", "numpy==0.0.0+").replace("    - tqdm==", "    - notqdm=="))
    problems = compare_pins(pyproject_pins(), environment_pins(broken))
    assert any(p.startswith("numpy") for p in problems)
    assert any("notqdm" in p for p in problems) and any(p.startswith("tqdm") for p in problems)


def test_unpinned_requirement_is_rejected():
    with pytest.raises(ValueError, match="not pinned"):
        _parse("numpy>=2")


def test_ci_calls_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and re.search(r"^make test\s*$", ci, re.MULTILINE)
