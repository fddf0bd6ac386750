# collapse-lab: two commands do all the set-up on a fresh machine.
#   make course [PROFILE=quick|standard|paper]   execute the course headless -> build/
#   make test                                    unit tests + nbval (quick profile)
#   make test-fast                               the same without the tests marked slow (a developer's loop)
#   make benchmark [PROFILE=...]                 the build's wall time, CPU time and peak memory
#   make lab                                     JupyterLab on the course
# Without make: pip install . then python -m collapse_lab course|lab (README.md, "Set up"): these targets call that.

PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
PROFILE ?= standard
# notebooks the course build runs side by side (empty: from the cores and the free memory, course.build_workers)
WORKERS ?=
# torch is pinned here, not in pyproject.toml: torch==2.13.0 is the CPU build; an unpinned torch pulls CUDA (GBs).
TORCH   ?= torch==2.13.0
# tests run on every core, a whole file per worker (module fixtures such as a trained chain are built once), the
# longest files first (tests/durations.json, refreshed by PYTEST_ARGS=--store-durations) so the workers finish
# together (collapse_lab/nbtiming.py); one worker more than the cores, because the sandboxed grading tests and
# the notebooks mostly wait for their kernels (on 2 cores: 3 workers ran the six slowest files in 207 s, 2 in 367 s)
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
PYTEST_JOBS ?= -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
PYTEST_ARGS ?=
# what nbval runs (CI: solutions only; the browser test runs notebooks/ in the quick profile, the course build in
# the standard one)
NBVAL ?= notebooks solutions
# e.g. BROWSER_ARGS=--no-site: the browser test without the audit of build/ (CI audits it after the build)
BROWSER_ARGS ?=

.PHONY: course test test-fast test-browser test-site test-hub benchmark lab install exercises bundle clean help

help:
	@echo "make course [PROFILE=quick|standard|paper]  execute the course into build/"
	@echo "make test                                   unit tests + nbval on notebooks/ and solutions/"
	@echo "make test-fast                              unit tests without those marked slow"
	@echo "make benchmark [PROFILE=quick]              the course build's wall time, CPU time and peak memory"
	@echo "make test-browser                           every chapter live in JupyterLab + headless Chromium"
	@echo "make test-site                              axe-core (WCAG 2.x A/AA) on every page make course built"
	@echo "make test-hub                               the workshop JupyterHub with 3 simulated students"
	@echo "make lab                                    open JupyterLab on the course (notebooks, exercises)"
	@echo "make bundle DIR=../class                     what students receive (no solutions) into DIR"
	@echo "make exercises                              regenerate exercises/ from solutions/"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-install only when pyproject.toml changes; torch first, so the project's torch>=... is already met.
# pip byte-compiles what it installs (about 30 of the set-up's 77 CPU s, on one core): kept, because where
# PYTHONDONTWRITEBYTECODE is set (as on the CI machine) Python never writes .pyc files itself, so without them
# every process would compile torch and transformers again (a CI run with --no-compile: the course build 803
# CPU s against about 650).
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[test,lab,paper,browser,hub]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" >/dev/null
	touch $@

install: $(VENV)/.installed

# every chapter runs even when one fails; the command exits 1 at the end if one did
course: install
	COLLAPSE_LAB_WORKERS=$(WORKERS) $(PY) -m collapse_lab course --profile $(PROFILE) --out build

benchmark: install
	COLLAPSE_LAB_WORKERS=$(WORKERS) $(PY) benchmarks/build.py --profile $(PROFILE) --out build

test: install
	$(PY) -m collapse_lab.cli build-exercises --check
	COLLAPSE_LAB_PROFILE=quick COLLAPSE_LAB_QUIET=1 $(PY) -m pytest tests $(PYTEST_JOBS) --durations=15 $(PYTEST_ARGS)
	COLLAPSE_LAB_PROFILE=quick COLLAPSE_LAB_QUIET=1 COLLAPSE_LAB_STATIC=1 MPLBACKEND=Agg \
		$(PY) -m pytest --nbval-lax $(NBVAL) -p collapse_lab.nbtiming $(PYTEST_JOBS) $(PYTEST_ARGS)

test-fast: install
	COLLAPSE_LAB_PROFILE=quick COLLAPSE_LAB_QUIET=1 $(PY) -m pytest tests $(PYTEST_JOBS) -m "not slow" --durations=15 \
		$(PYTEST_ARGS)

# The course as a learner sees it (tests/browser/run.py): needs /usr/bin/chromium (installed with apt-get when run
# as root, else it says what to install) and Playwright (the `browser` extra, installed by the script from PyPI).
test-browser: install
	$(PY) tests/browser/run.py $(BROWSER_ARGS)

# axe-core on every page `make course` wrote into build/ (tests/browser/run.py --axe-only; docs/accessibility.md)
test-site: install
	$(PY) tests/browser/run.py --axe-only --site build

# The workshop hub (docs/workshop.md) with 3 simulated students in headless Chromium (tests/hub/loadtest.py): needs
# node/npm for the proxy (installed by the script into deploy/jupyterhub/node_modules) and the `hub` extra.
test-hub: install
	$(PY) tests/hub/loadtest.py --students 3

exercises: install
	$(PY) -m collapse_lab.cli build-exercises

lab: install
	$(PY) -m collapse_lab lab

bundle: install
	@test -n "$(DIR)" || (echo "usage: make bundle DIR=../class-folder"; exit 2)
	$(PY) -m collapse_lab bundle --student "$(DIR)"

clean:
	rm -rf build
