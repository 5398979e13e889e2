# Impartial: every target creates .venv when missing, then calls the `impartial` command line.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
OUT     ?= outputs
TORCH   := torch==2.13.0
## TORCH_INDEX: where pip takes the torch wheel from. Empty (the default) uses pip's configured index (here the
## local mirror serves the CPU wheel); TORCH_INDEX=https://download.pytorch.org/whl/cpu forces the small CPU-only
## wheel elsewhere, TORCH_INDEX=https://download.pytorch.org/whl/cu126 (or another cuNNN) a CUDA build
TORCH_INDEX ?=

REAL    ?= ../shared/data/real

.PHONY: setup demo test synth synth-real cv-real validate train-critic train-critic-real benchmark refine inspect bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

## make demo: the chain on small presets: inspect, synthesise, validate, draw a collision,
## train the impartial and optimistic critics, benchmark them, refine a driving policy with
## each (ends with the leaderboard and the closed-loop table)
demo: $(STAMP)
	$(BIN)/impartial inspect procedural --count 3 --png $(OUT)/demo/procedural.png
	$(BIN)/impartial synth --preset demo --out $(OUT)/demo/synth
	$(BIN)/impartial validate $(OUT)/demo/synth
	$(BIN)/impartial render procedural --count 1 --outcome COLLISION --png $(OUT)/demo/collision.png --gif $(OUT)/demo/collision.gif
	$(BIN)/impartial train-critic --preset demo --data $(OUT)/demo/synth --out $(OUT)/demo/critics/impartial --variant impartial
	$(BIN)/impartial train-critic --preset demo --data $(OUT)/demo/synth --out $(OUT)/demo/critics/optimistic --variant optimistic
	$(BIN)/impartial benchmark --data $(OUT)/demo/synth --critic impartial=$(OUT)/demo/critics/impartial \
		--critic optimistic=$(OUT)/demo/critics/optimistic --out $(OUT)/demo/benchmark
	$(BIN)/impartial refine --preset demo --data $(OUT)/demo/synth --critic impartial=$(OUT)/demo/critics/impartial \
		--critic optimistic=$(OUT)/demo/critics/optimistic --out $(OUT)/demo/refine
	@cat $(OUT)/demo/benchmark/leaderboard.md $(OUT)/demo/refine/closed_loop.md

## make synth: the default counterfactual dataset (about 240k rows, 1000 procedural scenes) into outputs/synth
synth: $(STAMP)
	$(BIN)/impartial synth --preset default --out $(OUT)/synth $(if $(SCHEDULER),--scheduler $(SCHEDULER))

## make synth-real: the real logs under REAL (default ../shared/data/real) with the real preset (4 s horizon,
## anchors every 2 s, every vehicle as ego) into outputs/synth-real
synth-real: $(STAMP)
	$(BIN)/impartial synth --preset real --source $(REAL) --out $(OUT)/synth-real $(if $(SCHEDULER),--scheduler $(SCHEDULER))

## make cv-real: five-fold cross-validation by log of the impartial critic on the real samples under REAL
## (builds outputs/synth-real first when it is missing); out-of-fold tables with intervals in outputs/cv-real
cv-real: $(STAMP)
	@test -d $(REAL) || { echo "no real data under $(REAL) (set REAL=DIR): nothing to cross-validate"; exit 2; }
	test -f $(OUT)/synth-real/_manifest.json || $(MAKE) synth-real
	$(BIN)/impartial cv --data $(OUT)/synth-real --folds 5 --variant impartial --variant optimistic --out $(OUT)/cv-real

## make train-critic: the impartial, optimistic and no-contrastive critics on outputs/synth (make synth first);
## when real logs are under REAL, also an impartial and an optimistic critic on the train logs of outputs/synth-real
## (built first when missing; preset real: about 6 min for impartial and 4 for optimistic on 2 cores), for the real-data
## section of make benchmark
train-critic: $(STAMP)
	$(BIN)/impartial train-critic --data $(OUT)/synth --out $(OUT)/critics/impartial --variant impartial
	$(BIN)/impartial train-critic --data $(OUT)/synth --out $(OUT)/critics/optimistic --variant optimistic
	$(BIN)/impartial train-critic --data $(OUT)/synth --out $(OUT)/critics/no-contrastive --variant no-contrastive
	@if [ -d $(REAL) ]; then $(MAKE) --no-print-directory train-critic-real; \
	else echo "real-data critics skipped: no real logs under $(REAL) (set REAL=DIR)"; fi

train-critic-real: $(STAMP)
	test -f $(OUT)/synth-real/_manifest.json || $(MAKE) --no-print-directory synth-real
	$(BIN)/impartial train-critic --preset real --data $(OUT)/synth-real --out $(OUT)/critics-real/impartial --variant impartial
	$(BIN)/impartial train-critic --preset real --data $(OUT)/synth-real --out $(OUT)/critics-real/optimistic --variant optimistic

CRITICS = $(foreach v,impartial no-contrastive optimistic,$(if $(wildcard $(OUT)/critics/$(v)/model.safetensors),--critic $(v)=$(OUT)/critics/$(v)))

REAL_CRITICS = $(foreach v,impartial optimistic,$(if $(wildcard $(OUT)/critics-real/$(v)/model.safetensors),--critic $(v)=$(OUT)/critics-real/$(v)))

## make benchmark: the Risk Foreseeing Benchmark of every trained critic (make train-critic first); with real
## critics (make train-critic with real logs under REAL) also a real-data section: those critics on the test logs
## of outputs/synth-real, with intervals over logs, in outputs/benchmark-real (skipped with a line otherwise)
benchmark: $(STAMP)
	$(BIN)/impartial benchmark --data $(OUT)/synth $(CRITICS) --out $(OUT)/benchmark
	$(BIN)/impartial recompute $(OUT)/benchmark
	@if [ -n "$(strip $(REAL_CRITICS))" ] && [ -f $(OUT)/synth-real/_manifest.json ]; then \
	  $(BIN)/impartial benchmark --data $(OUT)/synth-real $(REAL_CRITICS) --out $(OUT)/benchmark-real && \
	  $(BIN)/impartial recompute $(OUT)/benchmark-real; \
	elif [ -d $(REAL) ]; then echo "real-data section skipped: no critics in $(OUT)/critics-real (make train-critic-real)"; \
	else echo "real-data section skipped: no real logs under $(REAL) (set REAL=DIR)"; fi

## make refine: GRPO-refine one imitation policy with the impartial critic, the optimistic critic and the
## true pseudo-simulation reward; closed-loop table and plot in outputs/refine (make train-critic first)
refine: $(STAMP)
	$(BIN)/impartial refine --data $(OUT)/synth --critic impartial=$(OUT)/critics/impartial \
		--critic optimistic=$(OUT)/critics/optimistic --out $(OUT)/refine

validate: $(STAMP)
	$(BIN)/impartial validate $(OUT)/synth --docs $(OUT)/synth-docs

## make test: the test suite (the same command CI runs)
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

inspect: $(STAMP)
	$(BIN)/impartial inspect $(or $(DATA),procedural)

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/synth_throughput.py
	$(BIN)/python benchmarks/pipeline_scaling.py
	$(BIN)/python benchmarks/allocator.py
	$(BIN)/python benchmarks/critic_latency.py
	$(BIN)/python benchmarks/pseudo_sim.py
	@if [ -f $(OUT)/synth/_manifest.json ]; then $(BIN)/python benchmarks/train_memory.py $(OUT)/synth; \
	else echo "train_memory.py skipped: no $(OUT)/synth (make synth first)"; fi

clean:
	rm -rf $(OUT) .pytest_cache
