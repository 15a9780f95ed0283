# SSL Workbench: `make run` opens the app, `make test` runs the whole suite, `make test-fast` the
# inner loop (no tests marked slow), `make lint` checks style and the layer rules (all set up .venv first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast lint bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/ssl-workbench gui

test: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

test-fast: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -m "not slow" -n auto

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/augment.py
	QT_QPA_PLATFORM=offscreen $(BIN)/python bench/scatter.py
	QT_QPA_PLATFORM=offscreen $(BIN)/python bench/gui.py
	$(BIN)/python bench/word2vec.py

screenshots: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m ui.screenshots docs/screenshots

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .import_linter_cache
