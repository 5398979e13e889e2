# Impartial: every target creates .venv when missing, then calls the `impartial` command line.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
OUT     ?= outputs
TORCH   := torch==2.13.0

.PHONY: setup demo test inspect ingest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check $(TORCH)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

## make demo: inspect the built-in procedural data and write it as validated canonical Parquet
demo: $(STAMP)
	$(BIN)/impartial inspect procedural --count 3 --png $(OUT)/demo/procedural.png
	$(BIN)/impartial ingest procedural --count 20 --out $(OUT)/demo/canonical

## make test: the test suite (the same command CI runs)
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

inspect: $(STAMP)
	$(BIN)/impartial inspect $(or $(DATA),procedural)

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(OUT) .pytest_cache
