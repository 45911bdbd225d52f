# The two commands of the README's quick start: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
ARCHDSL := $(VENV)/bin/archdsl
# Every install goes through the constraints file: it pins the PyTorch whose CPU build this
# project's machines hold on disk (see the file). PIP_ARGS adds pip options, e.g. an index of
# CPU-only PyTorch wheels elsewhere (README.md, "Install").
CONSTRAINTS ?= constraints-cpu.txt
PIP_ARGS ?=
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) $(PIP_ARGS)
# What is installed: the frameworks only (the demo), or everything the tests and tools need.
DEMO_STAMP := $(VENV)/.installed-frameworks
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install demo test test-light lint bench fuzz parser golden wheel clean vscode

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEMO_STAMP): pyproject.toml $(CONSTRAINTS) | $(PY)
	$(PIP_INSTALL) -e ".[frameworks]"
	@touch $@

# dev holds the frameworks too, so the demo needs nothing more after it.
$(DEV_STAMP): pyproject.toml $(CONSTRAINTS) | $(PY)
	$(PIP_INSTALL) -e ".[dev]"
	@touch $@ $(DEMO_STAMP)

install: $(DEV_STAMP)

DEMO_SPEC ?= examples/card_cnn.arch
DEMO_OUT := out

# The main job on an example: check, generate both targets and run them, diff, verify.
demo: $(DEMO_STAMP)
	$(ARCHDSL) check $(DEMO_SPEC)
	@mkdir -p $(DEMO_OUT)
	$(ARCHDSL) generate $(DEMO_SPEC) --target keras -o $(DEMO_OUT)/model_keras.py
	$(ARCHDSL) generate $(DEMO_SPEC) --target torch -o $(DEMO_OUT)/model_torch.py
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) $(DEMO_OUT)/model_keras.py 2>/dev/null
	$(PY) $(DEMO_OUT)/model_torch.py
	$(ARCHDSL) diff $(DEMO_SPEC)
	$(ARCHDSL) diff $(DEMO_SPEC) --format html -o $(DEMO_OUT)/diff.html
	$(ARCHDSL) verify $(DEMO_SPEC)
	@echo "demo: the generated code, and the diff as a web page, are in $(DEMO_OUT)/"

# A missing framework fails the run instead of skipping the tests marked `frameworks`.
test: $(DEV_STAMP)
	ARCHDSL_REQUIRE_FRAMEWORKS=1 $(PY) -m pytest -n auto

LIGHT := .venv-light

# The wheel as installed without TensorFlow, PyTorch or numpy: all but the framework tests
# pass there. tests/conftest.py refuses to run unless the wheel is what the tests import.
test-light: wheel
	rm -rf $(LIGHT)
	$(PYTHON) -m venv $(LIGHT)
	$(LIGHT)/bin/pip install --quiet --disable-pip-version-check "$$(echo dist/archdsl-*.whl)[test]"
	ARCHDSL_EXPECT_INSTALLED=1 PYTHONSAFEPATH=1 $(LIGHT)/bin/pytest -m "not frameworks" -p no:cacheprovider -n auto

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check archdsl tests benchmarks
	$(VENV)/bin/ruff format --check archdsl tests benchmarks
	$(ARCHDSL) fmt --check $(filter-out examples/multi_model.arch,$(wildcard examples/*.arch))

# The performance report of docs/performance.md (about 3 minutes; run it on a quiet machine).
# BENCH_ARGS: --quick, --only SECTION, --strict, --json PATH, --pyperf PATH (benchmarks/run.py --help).
bench: $(DEV_STAMP)
	$(PY) benchmarks/run.py $(BENCH_ARGS)

# The fuzz campaign of docs/fuzzing.md (100,000 inputs, about 4 minutes on 2 cores).
FUZZ_COUNT ?= 100000
fuzz: $(DEV_STAMP)
	$(PY) -m tests.fuzz_campaign --count $(FUZZ_COUNT) --seed 0 --mode both

# The compiled parser shipped beside the grammar: run after changing grammars/arch.lark.
parser: $(DEV_STAMP)
	$(PY) -c "from archdsl.frontend.parser import write_parser_artifact as w; print('wrote', w())"

golden: $(DEV_STAMP)
	$(PY) -m tests.golden_update

wheel: $(DEV_STAMP)
	rm -f dist/archdsl-*.whl
	$(PY) -m build --wheel --outdir dist .

clean:
	rm -rf $(VENV) $(LIGHT) dist build .pytest_cache .hypothesis editors/vscode/node_modules $(VSIX)

# The VS Code extension (editors/vscode/): its Node packages from package-lock.json, then the
# .vsix built offline (nothing is published) and checked to hold the grammar and the client.
# tests/test_vscode.py tokenizes every example with it under Node once this has run.
VSIX := editors/vscode/archdsl.vsix
vscode: $(DEV_STAMP)
	cd editors/vscode && npm ci --no-audit --no-fund --loglevel=error
	cd editors/vscode && npx --no-install vsce package --allow-missing-repository --out archdsl.vsix
	$(PY) -c "import sys, zipfile; names = set(zipfile.ZipFile(sys.argv[1]).namelist()); \
	missing = {'extension/package.json', 'extension/extension.js', 'extension/syntaxes/arch.tmLanguage.json', \
	'extension/language-configuration.json', 'extension/node_modules/vscode-languageclient/node.js'} - names; \
	sys.exit(f'{sys.argv[1]} lacks {sorted(missing)}' if missing else 0)" $(VSIX)
