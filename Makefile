# The routines a newcomer and CI run alike. `make test` and `make demo` work on a fresh
# machine: they create .venv, install opsbook into it, and install missing system parts.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo lint typecheck unit bench system install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

system:
	@scripts/ensure-system

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Bytecode first: where PYTHONDONTWRITEBYTECODE is set (CI images often set it) every
# `opsbook` process a test starts would compile the whole package again (~1 s each).
# One pytest-xdist worker per core, each with its own PostgreSQL cluster; a file's tests
# stay together in one worker (module fixtures are built once, in order).
unit: $(STAMP) system
	$(BIN)/python -m compileall -q src
	$(BIN)/pytest -n auto --dist loadfile

test: lint typecheck unit

# `make demo SCENARIO=bad-deploy` (or outage) tells that story instead of the tour.
demo: $(STAMP) system
	$(BIN)/opsbook demo $(if $(SCENARIO),--scenario $(SCENARIO))

bench: $(STAMP) system
	@scripts/ensure-system bench
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
