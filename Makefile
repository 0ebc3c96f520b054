# The README's two commands: `make up` and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Running needs only the run-time dependencies; developing adds the `dev` extra (tests,
# linters, the type checker, the benchmark's driver).
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-dev

.PHONY: up test install provision lint typecheck pytest contracts clean

up: $(RUN_STAMP)  ## install the run-time dependencies and run all five services in one process (embedded, SQLite)
	$(BIN)/leadfarm up

test: $(STAMP) provision lint typecheck pytest  ## install, provision Kafka + PostgreSQL + helm, run everything

$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $(RUN_STAMP)

install: $(STAMP)

provision:  ## real Kafka (Maven Central jars), PostgreSQL (Debian packages) and helm (Go module proxy), when absent
	bash deploy/local/provision.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/typos

typecheck: $(STAMP)
	$(BIN)/mypy .

pytest: $(STAMP)
	$(BIN)/pytest

contracts: $(STAMP)  ## regenerate contracts/schemas and contracts/asyncapi.json
	$(BIN)/leadfarm contracts generate

clean:
	rm -rf $(VENV) leadfarm-data .pytest_cache .mypy_cache .ruff_cache
