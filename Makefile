# The two commands of the README:
#   make run   set everything up (venv, install, .env) and start the server
#   make test  set everything up and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint bench bench-hostile bench-two-hosts soak check clean

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "grok-web-api needs Python 3.11 or newer (set PYTHON=python3.x)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $(STAMP)

# The test extra (openai, litellm, llm, playwright, schemathesis, ...) only for make test.
$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(TEST_STAMP)

.env:
	install -m 600 .env.example .env
	@echo "created .env from .env.example: fill in your grok.com cookies (see http://localhost:3000/setup)"

run: $(STAMP) .env
	$(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

# The /setup page is tested in a real headless Chromium: Debian's package, never a browser
# download. As root (CI) it is installed here; elsewhere the message says what to run.
CHROMIUM ?= /usr/bin/chromium

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "make test needs Debian's chromium at $(CHROMIUM) for the /setup browser tests:"; \
		echo "  sudo apt-get install -y chromium   (or run make test as root)"; exit 1; \
	fi

# The shared-state tests run Debian's redis-server (started by the test fixtures on free
# ports, never a system service). As root it is installed here; elsewhere the message says what to run.
REDIS_SERVER ?= /usr/bin/redis-server

$(REDIS_SERVER):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	else \
		echo "make test needs Debian's redis-server at $(REDIS_SERVER) for the shared-state tests:"; \
		echo "  sudo apt-get install -y redis-server   (or run make test as root)"; exit 1; \
	fi

# The agent APIs are proven with the real coding agents (Codex CLI, Claude Code) from npm,
# pinned in tests/agents/package.json and installed there, never globally. Node.js and npm
# come from Debian when missing (as root); without them those tests skip and say why.
AGENTS := tests/agents/node_modules/.installed

$(AGENTS): tests/agents/package.json tests/agents/package-lock.json
	@if ! command -v npm >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	fi
	@if command -v npm >/dev/null; then \
		cd tests/agents && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else \
		echo "no node/npm: the Codex CLI and Claude Code tests will skip (sudo apt-get install -y nodejs npm)"; \
	fi

# loadscope keeps each module's gunicorn servers in one pytest worker.
# The linter and the formatter first: a finding stops the run before the (long) suite.
test: $(TEST_STAMP) $(CHROMIUM) $(REDIS_SERVER) $(AGENTS) lint
	$(PY) -m pytest -n 4 --dist loadscope

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

check: $(STAMP)
	$(VENV)/bin/grok-web-api check

clean:
	rm -rf $(VENV) .pytest_cache

# Benchmarks print figures (docs/benchmarks.md); they are not tests.
bench: $(STAMP)
	$(PY) -m bench

soak: $(STAMP)
	$(PY) -m bench.soak

# /health while hostile requests run (huge images, tool and stop floods): docs/benchmarks.md
bench-hostile: $(STAMP)
	$(PY) -m bench.hostile

# Two hosts on one Redis beside one host, the same burst (make bench runs it too): docs/benchmarks.md
bench-two-hosts: $(STAMP)
	$(PY) -m bench.two_hosts
