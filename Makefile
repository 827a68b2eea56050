# Two commands do everything on a fresh machine:
#   make run   - set up .venv (once) and run the main job (binary pose network, embedded data)
#   make test  - set up .venv (once) and run the test suite
# Both are idempotent: the venv is rebuilt only when requirements/lock.txt changes.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mmbinary-installed
WORKERS ?= 2
XDIST  := $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadgroup)

.PHONY: setup run test lint format clean-venv

setup: $(STAMP)

$(STAMP): requirements/lock.txt setup.py tools/setup_env.sh
	bash tools/setup_env.sh $(PYTHON) $(VENV)
	touch $(STAMP)

run: $(STAMP)
	$(PY) tools/main_job.py $(ARGS)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	# Two runs: OpenVINO / ONNX Runtime / NNCF are loaded only by the deploy and demo tests, so
	# the rest of the suite never shares a process with their native thread pools. Each run uses
	# $(WORKERS) pytest-xdist workers of one torch thread each (WORKERS=0: one process, no xdist);
	# a module stays on one worker (tests/conftest.py).
	$(PY) -m pytest -q $(XDIST) tests --ignore=tests/test_deploy --ignore=tests/test_demo $(ARGS)
	$(PY) -m pytest -q $(XDIST) tests/test_deploy tests/test_demo $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff format .

clean-venv:
	rm -rf $(VENV)
