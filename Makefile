# Two commands: `make run` serves the API on PORT (8000); `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
PORT   ?= 8000
STAGE  ?= dev

.PHONY: install run test bench soak package clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

run: install
	PORT=$(PORT) $(BIN)/python scripts/run_local.py

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build test-output .pytest_cache
