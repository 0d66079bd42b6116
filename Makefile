# Two entry points for a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint schemas bench matrix

PLUGIN := examples/plugin-stage

$(STAMP): pyproject.toml $(PLUGIN)/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# the example plug-in stage, which the suite loads through its entry point
	$(BIN)/python -m pip install --quiet --no-deps -e $(PLUGIN)
	touch $(STAMP)

serve: $(STAMP)  ## start the server on routes/ (127.0.0.1:8000)
	$(BIN)/engine serve --routes routes

test: $(STAMP)  ## lint, type-check and run the whole test suite
	$(BIN)/ruff check engine stages tests examples
	$(BIN)/mypy
	$(BIN)/pytest

schemas: $(STAMP)  ## regenerate schemas/ from the config models
	$(BIN)/engine schema --shipped --write schemas

bench: $(STAMP)  ## run the benchmarks in tests/bench (not part of `make test`)
	$(BIN)/python -m tests.bench.run

MATRIX_RESULTS ?= build/matrix-results.json

matrix: $(STAMP)  ## run the conformance matrix, then write its table into README.md
	mkdir -p $(dir $(MATRIX_RESULTS))
	MATRIX_REPORT=$(MATRIX_RESULTS) $(BIN)/pytest -q tests/e2e/matrix/test_matrix.py; \
	status=$$?; $(BIN)/python -m tests.e2e.matrix.report $(MATRIX_RESULTS) && exit $$status
