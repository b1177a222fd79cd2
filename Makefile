# Two commands: `make run` and `make test`. Both set up the machine first (scripts/setup.sh).
VENV := .venv
PY := $(VENV)/bin/python
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba
# The tests keep their bytecode and rewritten asserts in __pycache__ (git-ignored) even where the
# environment sets PYTHONDONTWRITEBYTECODE: recompiling ~100 test modules costs ~8 s a run.
TESTENV := PYTHONDONTWRITEBYTECODE=

.PHONY: setup run test lint test-fast demo bench bench-quality bench-gui screenshots dist dist-test clean

setup:
	@bash scripts/setup.sh

run: setup
	@$(PY) -m app.launch

test: setup lint
	@$(TESTENV) $(PY) -m pytest -q

# The layer contracts (import-linter, pyproject's [tool.importlinter]) and the types of dsp,
# models and app.session (mypy, [tool.mypy]).
lint: setup
	@$(VENV)/bin/lint-imports --no-cache
	@$(PY) -m mypy

# The edit-test loop: everything but the tests marked slow (subprocess CLIs, real-time audio,
# whole batches, DNSMOS); about a minute. `make test` still runs everything.
test-fast: setup
	@$(TESTENV) $(PY) -m pytest -q -m "not slow" -n auto --dist loadfile

demo: setup
	@$(PY) scripts/make_demo.py

bench: setup
	@$(VENV)/bin/python -m pip install -q -e ".[bench]"
	@$(PY) bench/bench_speed.py

screenshots: setup
	@timeout 600 $(PY) scripts/screenshots.py

bench-gui: setup
	@$(PY) bench/bench_gui.py

dist: setup
	@bash installers/build.sh

dist-test: setup
	@test -x dist/roomtone/roomtone || bash installers/build.sh
	@$(PY) installers/smoke_test.py

clean:
	rm -rf .cache build dist *.egg-info
