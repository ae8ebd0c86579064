# qdloc: a reader runs `make preview`; a researcher runs `make book` and `make test`.
PYTHON ?= python3
# torch on a busy 2-core machine: OpenMP threads that spin while they wait make it many times slower
export OMP_WAIT_POLICY ?= PASSIVE
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.qdloc-installed
# the chapters, in order (each notebooks/NN_*.py is paired with notebooks/NN_*.ipynb)
CHAPTERS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
EXECUTED := $(patsubst notebooks/%,book/chapters/%,$(CHAPTERS))

.PHONY: help venv book execute html test test-unit test-notebooks test-book bench outputs clean sweep lint

help:
	@echo "make preview - the book from the outputs stored in notebooks/*.ipynb: no execution, no torch"
	@echo "make book   - create .venv, run the chapters with papermill (JOBS=2 at a time; only those whose"
	@echo "              notebook, imported modules or input data changed), build _build/html"
	@echo "make test   - lint, unit tests (pytest -n 2), make book, the executed chapters against their"
	@echo "              stored outputs (nbval's comparison), the built book in headless Chromium"
	@echo "              (make test-browser; BROWSER=0 skips it)"
	@echo "make test-unit - the unit tests only; make test-notebooks - make book and the chapter tests"
	@echo "make lint   - import-linter's layer contracts and ruff (make test runs them first)"
	@echo "make bench  - throughput benchmarks (ratios against references measured in the same run)"
	@echo "make outputs - re-execute the chapters and store their outputs in notebooks/*.ipynb"
	@echo "make sweep  - run chapter 08 over its (D, N_qd) grid with papermill into data/sweep (resumes;"
	@echo "              make book runs it when chapter 08 or what it imports changed)"
	@echo "make publish [REMOTE=origin] - push _build/html to the gh-pages branch with ghp-import"

$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

# ---------------------------------------------------------------- make book: incremental, parallel
# Each chapter runs at its default parameters with papermill into book/chapters/ (never over the
# paired sources in notebooks/), JOBS at a time, the longest first. A chapter runs again only
# when something it uses changed: its notebook, the environment, the qdloc modules it imports
# (followed transitively), the shipped models it names, or the output of a chapter it reads
# (e.g. 05 reads chapter 04's sets, 09 chapter 06's table1.json). tools/chapter_deps.py derives
# these from the sources into $(DEPS_MK), which make regenerates when a source changes.
JOBS    ?= 2
DEPS_MK := build/chapter_deps.mk
QDLOC_SOURCES := $(shell find qdloc -name '*.py' -not -path '*/__pycache__/*' 2>/dev/null)
# The parameter sweep of chapter 08 (qdloc.study.sweep): one papermill run of the chapter per
# (D, N_qd) point, kept in data/sweep/runs/, gathered into data/sweep/table.csv. Cached like a
# chapter: $(SWEEP_STAMP) is rewritten when it has finished, and the sweep runs again only when
# chapter 08's notebook or what it imports changed. The sweep itself skips points whose code is
# unchanged, so after a change to the package make passes --force.
SWEEP_STAMP := data/sweep/.make-stamp
SWEEP := $(BIN)/qdloc sweep --preset default --out data/sweep --jobs 2
# jupyter-book's build, skipped when nothing it reads changed: the executed chapters, the pages
# in book/, the configuration, the package (the API page's autodoc) and the build's own tools.
HTML_STAMP := _build/html/.make-stamp
BOOK_INPUTS := $(EXECUTED) $(wildcard book/*.md) _config.yml _toc.yml tools/bookstatus.py \
  tools/mathjax_offline.py $(QDLOC_SOURCES) $(STAMP)
# The sweep (two kernels of its own, beside the other slot) and the longest chapters first
# (measured times: the status page), so that the two slots end together.
LONGEST_FIRST := $(SWEEP_STAMP) $(filter %/07_tracking.ipynb,$(EXECUTED)) $(filter %/06_evaluation.ipynb,$(EXECUTED))

$(DEPS_MK): tools/chapter_deps.py tools/chapter_stats.py $(wildcard notebooks/[0-9][0-9]_*.py) $(QDLOC_SOURCES)
	@$(PYTHON) -m tools.chapter_deps --out $@
include $(DEPS_MK)

book/chapters/%.ipynb: notebooks/%.ipynb $(STAMP)
	@mkdir -p book/chapters
	$(BIN)/papermill --cwd notebooks -k python3 --no-progress-bar $< $@.part.ipynb
	mv $@.part.ipynb $@

execute: $(LONGEST_FIRST) $(EXECUTED)

sweep: venv
	$(SWEEP)
	touch $(SWEEP_STAMP)

$(SWEEP_STAMP): notebooks/08_sweep.ipynb $(DEPS_08_sweep) $(STAMP)
	$(SWEEP)$(if $(wildcard $@),$(if $(filter qdloc/% data/models/% $(STAMP),$?), --force))
	touch $@

# -W: a warning fails the build; Sphinx's cache (_build/.doctrees) is then dropped, so that the
# next build reads every page again and reports the warning again.
$(HTML_STAMP): $(LONGEST_FIRST) $(BOOK_INPUTS)
	$(BIN)/python tools/bookstatus.py book/chapters
	$(BIN)/jupyter-book build . --path-output . -W -n --keep-going || { rm -rf _build/.doctrees; exit 1; }
	touch $@

html: $(HTML_STAMP)

book: venv
	$(MAKE) -j$(JOBS) html
	@echo "The book is in _build/html/index.html"

# ---------------------------------------------------------------- tests
# make test executes each chapter once: `make book` (only what changed since the last one),
# then the executed chapters are compared with the outputs stored in notebooks/*.ipynb by
# nbval's own comparison (tools/nbcompare.py, tests/nbval_sanitize.cfg; the tests marked `book`
# in tests/test_notebooks.py) instead of executing them again under nbval.
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider
test-unit: venv
	$(PYTEST) -n 2 --dist worksteal tests -m "not book and not notebook"

test-notebooks: venv
	$(MAKE) book
	$(PYTEST) tests/test_notebooks.py -m "book or notebook"

# The whole book again from nothing: every chapter executed, a full Sphinx build.
test-book: venv
	rm -rf _build/html _build/.doctrees book/chapters
	$(MAKE) book

# The built book in headless Chromium (qdloc.booktest; Debian's chromium, see .ci/run):
# every page, its images, internal links, JavaScript errors and chapter figures; it
# saves _build/screenshots/06_evaluation.png. Tests marked `book` need _build/html.
.PHONY: test-browser
test-browser: venv
ifeq ($(BROWSER),0)
	@$(REFUSE_SKIP_IN_CI)
	@echo "BROWSER=0: the built book in Chromium (tests/browser, -m book) is skipped on request"
else
	$(BIN)/python -m pytest -m book tests/browser
endif

# The form of the code: import-linter's layer contracts and ruff (both configured in pyproject.toml).
.PHONY: lint
lint: venv
	$(BIN)/lint-imports
	$(BIN)/ruff check .

test: venv lint
	$(PYTEST) -n 2 --dist worksteal tests -m "not book"
	$(MAKE) book
	$(PYTEST) tests/test_notebooks.py tests/test_figures.py -m book
	$(MAKE) test-browser

bench: venv
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

outputs: venv
	cd notebooks && for nb in [0-9][0-9]_*.py; do ../$(BIN)/jupytext --sync --execute $$nb || exit 1; done

clean:
	rm -rf _build book/chapters build

# ---------------------------------------------------------------- browser check, publishing
# `make test` needs Chromium: tests/browser run in its first pytest pass and after the book
# build. check-browser says so at once, in one line with the install command (as root:
# apt-get install -y chromium). `make test BROWSER=0` skips the browser tests on request:
# make says so, pytest reports them as skipped (tests/browser/conftest.py); refused in CI.
export QDLOC_BROWSER_TESTS := $(if $(filter 0,$(BROWSER)),0,1)
REFUSE_SKIP_IN_CI = if [ -n "$$CI" ]; then \
	echo "make: BROWSER=0 is refused in CI: the browser tests always run there" >&2; exit 1; fi

.PHONY: check-browser publish
test: check-browser
check-browser: venv
ifeq ($(BROWSER),0)
	@$(REFUSE_SKIP_IN_CI)
	@echo "BROWSER=0: the browser tests (tests/browser) are skipped on request"
else
	@$(BIN)/python tools/booktest.py --check-chromium
endif

# make publish [REMOTE=origin]: push the built book (_build/html; make book first) to the
# gh-pages branch of REMOTE (a remote's name, a URL or a path) with ghp-import: one commit
# with no history, forced, and a .nojekyll file so that GitHub Pages serves _static/ and
# _images/ as they are. The local gh-pages branch is a build output: it is deleted first
# (ghp-import's --no-history alone keeps it as parent when REMOTE is a URL or a path), so the
# branch does not grow with every build. CI deploys with GitHub's Pages actions instead
# (.github/workflows/book.yml).
REMOTE ?= origin
PUBLISH_DIR ?= _build/html
PUBLISH_MESSAGE ?= Book built from $(shell git rev-parse --short HEAD 2>/dev/null || echo '?')

publish: venv
	@test -f $(PUBLISH_DIR)/index.html || { echo "make publish: $(PUBLISH_DIR)/index.html \
	is missing: build the book first (make book)" >&2; exit 1; }
	git update-ref -d refs/heads/gh-pages
	$(BIN)/ghp-import --no-jekyll --no-history --force --push --remote "$(REMOTE)" \
	  --branch gh-pages --message "$(PUBLISH_MESSAGE)" $(PUBLISH_DIR)
	@echo "published $(PUBLISH_DIR) to the gh-pages branch of $(REMOTE)"

# ---------------------------------------------------------------- make preview: the book to read
# The book built from the outputs stored in notebooks/*.ipynb (written by make outputs, checked
# by nbval in make test): nothing is executed and torch is not installed. Its own small
# environment, .venv-preview (requirements-preview.txt: Jupyter Book, the offline MathJax, and
# what the API page's autodoc imports). The chapters are copied into a source tree of its own,
# _build/preview/, never into book/chapters/ (make book's papermill outputs, which make would
# then take as executed); the status page gives their stored execution (bookstatus --stored).
# The same _toc.yml and the same `jupyter-book build -W -n` into _build/html; the config is
# _config.yml plus PREVIEW_MOCK for autodoc (so the API page imports qdloc's torch modules
# against a mock; their classes' signatures then read (*args, **kwargs) in the preview only).
PREVIEW_VENV  := .venv-preview
PREVIEW_BIN   := $(PREVIEW_VENV)/bin
PREVIEW_STAMP := $(PREVIEW_VENV)/.qdloc-preview-installed
PREVIEW_SRC   := _build/preview
PREVIEW_MOCK  := torch torchvision

# _config.yml ($1) to the preview's config ($2): autodoc_mock_imports from $3..., and the
# local extensions' folders made absolute (Jupyter Book resolves them against the config's folder)
define PREVIEW_CONFIG
import os, sys, yaml
src, dst, mock = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(src, encoding="utf-8") as f:
    config = yaml.safe_load(f)
sphinx = config.setdefault("sphinx", {})
sphinx.setdefault("config", {})["autodoc_mock_imports"] = mock
local = sphinx.get("local_extensions") or {}
for name, folder in local.items():
    local[name] = os.path.join(os.path.dirname(os.path.abspath(src)), folder)
with open(dst, "w", encoding="utf-8") as f:
    yaml.safe_dump(config, f, allow_unicode=True, sort_keys=False)
endef
export PREVIEW_CONFIG

.PHONY: preview
$(PREVIEW_STAMP): requirements-preview.txt constraints.txt
	test -x $(PREVIEW_BIN)/python || $(PYTHON) -m venv $(PREVIEW_VENV)
	$(PREVIEW_BIN)/python -m pip install --quiet --disable-pip-version-check \
	  -r requirements-preview.txt -c constraints.txt
	touch $@

preview: $(PREVIEW_STAMP)
	rm -rf $(PREVIEW_SRC)
	mkdir -p $(PREVIEW_SRC)
	cp _toc.yml $(PREVIEW_SRC)/
	$(PREVIEW_BIN)/python -c "$$PREVIEW_CONFIG" _config.yml $(PREVIEW_SRC)/_config.yml $(PREVIEW_MOCK)
	cp -R book $(PREVIEW_SRC)/book
	rm -rf $(PREVIEW_SRC)/book/chapters
	mkdir $(PREVIEW_SRC)/book/chapters
	cp $(CHAPTERS) $(PREVIEW_SRC)/book/chapters/
	PYTHONPATH="$(CURDIR)" $(PREVIEW_BIN)/python tools/bookstatus.py --stored $(PREVIEW_SRC)/book/chapters
	PYTHONPATH="$(CURDIR)" $(PREVIEW_BIN)/jupyter-book build $(PREVIEW_SRC) --path-output . \
	  -W -n --keep-going
	@echo "The book (stored outputs, nothing executed) is in _build/html/index.html"
