# Two entry points for a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint schemas bench bench-instructions bench-litellm matrix

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

bench: $(STAMP)  ## the engine against null proxies, in one run (tests/bench; not in `make test`)
	$(BIN)/python -m tests.bench.run

bench-instructions: $(STAMP)  ## instructions per request under callgrind (needs valgrind)
	$(BIN)/python -m tests.bench.instructions --lanes null empty default anthropic

LITELLM_VENV ?= .venv-litellm

bench-litellm:  ## install LiteLLM in a venv of its own: the bench then measures it too
	test -x $(LITELLM_VENV)/bin/python || $(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/python -m pip install --quiet 'litellm[proxy]'

MATRIX_RESULTS ?= build/matrix-results.json

matrix: $(STAMP)  ## run the conformance matrix, then write its table into README.md
	mkdir -p $(dir $(MATRIX_RESULTS))
	MATRIX_REPORT=$(MATRIX_RESULTS) $(BIN)/pytest -q tests/e2e/matrix/test_matrix.py; \
	status=$$?; $(BIN)/python -m tests.e2e.matrix.report $(MATRIX_RESULTS) && exit $$status
