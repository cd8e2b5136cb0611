# Two entry points: `make demo` (the main job) and `make test` (ruff + pytest).
# Both create or reuse .venv and install what they need. torch is pinned first, on its own,
# so nothing that depends on it pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean mutation

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/latentid demo --out demo-out --force

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# Tests read MNIST / Fashion-MNIST from the shared data folder beside the checkout (never downloaded).
test: lint
	LATENTID_DATA="$${LATENTID_DATA:-$(abspath ../shared/data)}" $(BIN)/python -m pytest

# Mutation check (not in CI: tens of minutes on 2 cores). Installs mutmut into the venv on demand,
# mutates the modules listed under [tool.mutmut] in pyproject.toml, runs the tests that cover each
# mutant and prints the kill rate per module. MUTANTS narrows the run to mutant-name globs, e.g.
# make mutation MUTANTS='latentid.oracle.*'; results are cached in mutants/ between runs.
MUTMUT_CHILDREN ?= 1
MUTANTS ?=

mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'mutmut>=3.8,<4'
	OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children $(MUTMUT_CHILDREN) $(MUTANTS)
	$(BIN)/mutmut results --all true | $(BIN)/python tools/mutation_report.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache mutants
