# The two commands a new user runs: `make test` and `make demo`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test demo bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/edgeguard demo

bench: $(STAMP)
	$(BIN)/python -m pip install -e '.[dev,bench]'
	$(BIN)/python benchmarks/run.py

lint: $(STAMP)
	$(BIN)/ruff check edgeguard tests benchmarks
	$(BIN)/ruff format --check edgeguard tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
