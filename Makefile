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
	$(PY) -m pytest -q tests $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff format .

clean-venv:
	rm -rf $(VENV)
