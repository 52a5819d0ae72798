# From NumPy to GPU — the front door.
#   make lab        set up (once) and start JupyterLab in chapters/   (LAB_ARGS="--no-browser --port 8899")
#   make test       set up (once) and run the whole test suite (unit tests, notebooks, book)
#   make book       set up (once) and build the Jupyter Book into _build/html (offline)
# Maintainer targets: make check | check-seeds | exercises | export | notebooks | book-instructor | clean
# Grading: make grade SUBMISSIONS=dir (instructors, nbgrader) | make progress (students: which checks pass)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dlcourse-installed
LAB_ARGS ?=
PYTEST_ARGS ?=
# Notebooks executed by `make notebooks` (all chapters and solutions by default).
NOTEBOOKS ?= $(wildcard chapters/[0-9][0-9]_*.py solutions/[0-9][0-9]_*.py)

.PHONY: setup browser lab test test-fast check check-seeds check-repro book book-instructor exercises export notebooks grade progress clean

setup: $(STAMP)

# The venv is (re)built only when pyproject.toml changes: a second `make test` installs nothing.
$(STAMP): pyproject.toml
	@echo "== setting up $(VENV) (first time: about 2 minutes) =="
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev]" 2>&1 | grep -v "is ignored" ; test $${PIPESTATUS[0]} -eq 0
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (dlcourse)" >/dev/null
	@# JupyterLab opens without the "get notified about official Jupyter news?" prompt (and never fetches news)
	mkdir -p $(VENV)/share/jupyter/lab/settings
	echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}, "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": true}}' \
	  > $(VENV)/share/jupyter/lab/settings/overrides.json
	@# nbgrader is the instructors' grading tool (make grade); students' Lab starts without its menus
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1
	for e in formgrader validate_assignment assignment_list course_list; do \
	  $(BIN)/jupyter server extension disable --sys-prefix nbgrader.server_extensions.$$e >/dev/null 2>&1; done
	@$(MAKE) --no-print-directory browser
	touch $(STAMP)

# The browser tests use Debian's chromium (never a browser download). Installed when missing and possible.
browser:
	@if command -v chromium >/dev/null; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "== installing Debian's chromium for the browser tests =="; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "WARNING: could not install chromium: the browser (e2e) tests will fail"; \
	else echo "NOTE: install Debian's chromium (sudo apt-get install chromium) to run the browser (e2e) tests"; fi

lab: setup
	cd chapters && DLCOURSE_PROGRESS=auto ../$(BIN)/jupyter lab --allow-root $(LAB_ARGS)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything except notebook execution and the book build (quick feedback while editing).
test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS) tests

# Execute chapter 01 once more (another PYTHONHASHSEED) and compare its checked cells with the stored ones (also part of make test).
check-repro: setup
	$(BIN)/python -m pytest -q tests/test_repro.py

book: setup
	$(BIN)/python -m tools.course book

# The instructor toc is generated from _toc.yml (plus the solutions): regenerate it, then build.
book-instructor: setup
	$(BIN)/python -m tools.course toc
	$(BIN)/python -m tools.course book --instructor

exercises: setup
	$(BIN)/python -m tools.course exercises

export: setup
	$(BIN)/python -m tools.course export

# Re-execute paired notebooks from their .py source (the source of truth) and store outputs.
# The export runs first: widgets and later chapters import the exported code, never a stale copy.
notebooks: setup
	$(BIN)/python -m tools.course export
	$(BIN)/python -m tools.course execute $(NOTEBOOKS)

# The notebook checks: pairing, chapter template, export and exercise drift, tables of contents.
check: setup
	$(BIN)/python -m tools.course check

# Re-execute the chapters on seeds nobody looked at (DLCOURSE_SEED_SHIFT, default 1000) and list every
# claim that fails (not part of make test; takes as long as executing the chapters). CHAPTERS= to pick.
SEED_SHIFT ?= 1000
CHAPTERS ?=
check-seeds: setup
	$(BIN)/python -m tools.seeds --shift $(SEED_SHIFT) $(CHAPTERS)

# Autograde submitted exercise notebooks with nbgrader, offline (tools/grading.py). SUBMISSIONS holds one
# student's notebooks named like exercises/NN_slug.ipynb, or one folder per student. The nbgrader course
# directory is rebuilt in $(GRADING_COURSE); the CSV (student, notebook, score, max_score, written answers)
# goes to $(GRADES). Written answers are then graded by hand in nbgrader's formgrader.
SUBMISSIONS ?=
GRADES ?= _build/grades.csv
GRADING_COURSE ?= _build/nbgrader
grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=dir [GRADES=_build/grades.csv]"; exit 2; }
	$(BIN)/python -m tools.grading grade "$(SUBMISSIONS)" --csv "$(GRADES)" --course "$(GRADING_COURSE)"

# Students: execute your exercise notebooks (exercises/*.ipynb, or EXERCISES="exercises/01_perceptron.ipynb")
# without changing them, and print which checks pass, fail or are not implemented yet, and how many
# written questions you answered.
EXERCISES ?=
progress: setup
	$(BIN)/python -m tools.grading progress $(EXERCISES)

clean:
	rm -rf _build .pytest_cache
