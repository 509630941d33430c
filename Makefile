# The two commands of the README:
#   make run   set everything up (venv, install, .env) and start the server
#   make test  set everything up and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench check clean

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "grok-web-api needs Python 3.11 or newer (set PYTHON=python3.x)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

.env:
	install -m 600 .env.example .env
	@echo "created .env from .env.example: fill in your grok.com cookies (see http://localhost:3000/setup)"

run: $(STAMP) .env
	$(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

test: $(STAMP)
	$(PY) -m pytest

check: $(STAMP)
	$(VENV)/bin/grok-web-api check

clean:
	rm -rf $(VENV) .pytest_cache
