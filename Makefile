# Two commands do everything on a fresh machine:
#   make run   - set up .venv (once) and run the main job (binary pose network, embedded data)
#   make test  - set up .venv (once) and run the test suite
# Both are idempotent: the venv is rebuilt only when requirements/lock.txt changes.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mmbinary-installed

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
	# Two processes: OpenVINO / ONNX Runtime / NNCF are loaded only by the deploy and demo tests,
	# so the rest of the suite never shares a process with their native thread pools.
	$(PY) -m pytest -q tests --ignore=tests/test_deploy --ignore=tests/test_demo $(ARGS)
	$(PY) -m pytest -q tests/test_deploy tests/test_demo $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff format .

clean-venv:
	rm -rf $(VENV)
