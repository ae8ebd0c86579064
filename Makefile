# qdloc: the two commands a new user runs are `make book` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.qdloc-installed
# the chapters, in order (each notebooks/NN_*.py is paired with notebooks/NN_*.ipynb)
CHAPTERS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
EXECUTED := $(patsubst notebooks/%,book/chapters/%,$(CHAPTERS))
PYTEST_NB := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: help venv book execute html test test-unit test-notebooks test-book bench outputs clean

help:
	@echo "make book   - create .venv, run every chapter with papermill, build _build/html"
	@echo "make test   - unit tests, nbval over every chapter, papermill reruns, book build with -W"
	@echo "make bench  - throughput benchmarks (ratios against references measured in the same run)"
	@echo "make outputs - re-execute the chapters and store their outputs in notebooks/*.ipynb"

$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

# Run each chapter at its default parameters with papermill into book/chapters/
# (never over the paired sources in notebooks/).
book/chapters/%.ipynb: notebooks/%.ipynb $(STAMP) $(wildcard qdloc/*.py qdloc/*/*.py)
	@mkdir -p book/chapters
	$(BIN)/papermill --cwd notebooks -k python3 --no-progress-bar $< $@.part.ipynb
	mv $@.part.ipynb $@

execute: $(EXECUTED)

html: execute
	$(BIN)/python -m qdloc.bookstatus book/chapters
	$(BIN)/jupyter-book build . --path-output . -W -n --keep-going

book: html
	@echo "The book is in _build/html/index.html"

test-unit: venv
	$(BIN)/python -m pytest tests

test-notebooks: venv
	$(BIN)/python -m pytest $(PYTEST_NB) notebooks

test-book: venv
	rm -rf _build/html _build/.doctrees book/chapters
	$(MAKE) html

test: venv
	$(BIN)/python -m pytest tests notebooks $(PYTEST_NB)
	$(MAKE) test-book

bench: venv
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

outputs: venv
	cd notebooks && for nb in [0-9][0-9]_*.py; do ../$(BIN)/jupytext --sync --execute $$nb || exit 1; done

clean:
	rm -rf _build book/chapters
