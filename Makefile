# Two commands: `make up` runs the platform, `make test` runs the test suite. Both create the virtualenv
# (outside the clone, keyed by the lock file) when it is missing.
SHELL := /bin/bash
VENV = $(shell scripts/ensure-venv.sh)
# This checkout's code, for every process the platform and the tests start.
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))
# Two workers (files kept together): most tests wait on servers and processes, so two share two cores well.
# Files are handed out in collection order (tests/conftest.py puts the slow ones first), not by test count.
PYTEST_ARGS ?= -n 2 --dist loadfile --no-loadscope-reorder

.PHONY: up down status test venv lock lint

venv:
	@scripts/ensure-venv.sh >/dev/null

up:
	@V="$(VENV)"; "$$V/bin/python" -m cli init && exec "$$V/bin/python" -m cli up

down:
	@"$(VENV)/bin/python" -m cli down

status:
	@"$(VENV)/bin/python" -m cli status

test:
	@V="$(VENV)"; scripts/test-prereqs.sh && "$$V/bin/python" -m pytest $(PYTEST_ARGS)

lint:
	@V="$(VENV)"; "$$V/bin/ruff" check . && "$$V/bin/ruff" format --check .

# Re-resolve the pins from pyproject.toml into requirements/lock.txt (needs the package registry).
lock:
	rm -rf /tmp/mlops-lock-venv && python3 -m venv /tmp/mlops-lock-venv
	/tmp/mlops-lock-venv/bin/pip install -q --upgrade "pip>=24" "setuptools>=68" wheel
	/tmp/mlops-lock-venv/bin/pip install -q -e ".[dev,vision]"
	/tmp/mlops-lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements/lock.txt
