# The README's two commands: `make demo` (the main job) and `make test`.
# Each creates .venv and installs the pinned dependencies when they are missing.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# Two workers: the Ray tests one after another on one, the unit tier beside them (conftest).
PYTEST_ARGS ?= -n 2 --dist loadgroup

.PHONY: test demo bench lint venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

DEMO_STORAGE ?= results

demo: $(STAMP)
	$(BIN)/gradsweep validate sweeps/demo.yaml
	rm -rf $(DEMO_STORAGE)/demo
	$(BIN)/gradsweep launch sweeps/demo.yaml --storage $(DEMO_STORAGE)
	$(BIN)/gradsweep report demo --storage $(DEMO_STORAGE)

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
