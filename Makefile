# The whole developer interface: make test, make demo, make bench, make fmt.
# Needs only Python >= 3.11 and make; everything else is installed into .venv, pinned by
# constraints.txt.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
MEMBERS := contracts hub $(wildcard spokes/*) $(wildcard plugins/*)
EDITABLES := $(foreach m,$(MEMBERS),-e ./$(m)$(if $(filter hub,$(m)),[postgres],))
PYPROJECTS := pyproject.toml $(foreach m,$(MEMBERS),$(m)/pyproject.toml)
PKG_TESTS := $(foreach m,$(MEMBERS),$(wildcard $(m)/tests))

.PHONY: setup test lint pytest demo bench fmt constraints clean

setup: $(VENV)/.installed

$(VENV)/.installed: $(PYPROJECTS) constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt uv
	$(UV) pip install --quiet --python $(BIN)/python -c constraints.txt $(EDITABLES) --group dev
	touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Test files run in parallel, one worker per CPU (a file stays on one worker, so a
# module's shared daemon is started once); PYTEST_WORKERS=0 runs them all in one process.
# pytest's exit 5 (no test collected) is not a failure here.
PYTEST_WORKERS ?= auto

pytest: setup
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PKG_TESTS) tests $(PYTEST_ARGS); \
		rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

test: lint pytest

demo: setup
	$(BIN)/python demo/run.py

# The benchmarks' peers (dlt, for bench/pull.py) are installed for them alone.
bench: setup
	$(UV) pip install --quiet --python $(BIN)/python -c constraints.txt --group bench
	$(BIN)/python bench/run.py $(BENCH_ARGS)

fmt: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Re-pin the whole dependency tree after changing a pyproject.toml.
constraints:
	test -x $(UV) || ($(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet uv)
	printf '%s\n' $(EDITABLES) | sed 's/^-e /-e /' > .constraints.in
	$(UV) pip compile --quiet --no-header --no-annotate --universal --python-version 3.11 \
		.constraints.in --group pyproject.toml:dev --group pyproject.toml:bench -o .constraints.out
	(echo "uv==$$($(UV) --version | cut -d' ' -f2)"; grep -v -E '^(-e |spokehub)' .constraints.out) \
		| sort -f > constraints.txt
	rm -f .constraints.in .constraints.out

clean:
	rm -rf $(VENV) build dist
