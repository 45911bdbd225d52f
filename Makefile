# The two commands of the README's quick start: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
ARCHDSL := $(VENV)/bin/archdsl
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint golden wheel clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(ARCHDSL) check examples/card_cnn.arch
	$(ARCHDSL) check examples/card_rnn.arch

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check archdsl tests
	$(VENV)/bin/ruff format --check archdsl tests

wheel: $(STAMP)
	$(PY) -m build --wheel --outdir dist .

clean:
	rm -rf $(VENV) dist build .pytest_cache .hypothesis
