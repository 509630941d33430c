"""Keep the developer's settings out of the tests.

Two leaks are closed here:

* the test process: a library that calls python-dotenv's `load_dotenv()` at import (LiteLLM
  does) walks up from its own file, finds the checkout's `.env` (the virtualenv lives inside
  the checkout) and copies the developer's API_KEY, cookies and HOST into `os.environ`.
  `isolate_test_process()` turns such loading off and drops every setting the shell passed
  in, and the proxies and client defaults that would send the tests' own requests elsewhere,
  before any test module is imported (tests/conftest.py);
* the processes the tests start (gunicorn, the fake grok.com, the CLIs): they get
  `hermetic_environ()`, built from an allow-list, so nothing of the developer's environment
  reaches them unless a test passes it on purpose (proxies, OPENAI_* variables, gevent
  tuning, settings, ...).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from app.ops import rundir
from app.settings import BY_ENV_NAME, ENV_FILE_VARIABLE

# What a child process needs to run at all, and nothing that configures our code or a client.
ALLOWED = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "SYSTEMROOT"})
ALLOWED_PREFIXES = ("LC_",)
# python-dotenv's own switch: load_dotenv() does nothing while it is set (dotenv_values still reads).
NO_DOTENV = {"PYTHON_DOTENV_DISABLED": "1"}


def _ours(name: str) -> bool:
    """Variables that configure grok-web-api: its settings, the settings file, its internals."""
    return (
        name in BY_ENV_NAME
        or name in (ENV_FILE_VARIABLE, rundir.ENV_VAR, "PROMETHEUS_MULTIPROC_DIR")
        or name.startswith(("GROK_", "CHALLENGE_"))
    )


def _steers_clients(name: str) -> bool:
    """Variables that redirect or reconfigure the clients the tests themselves run: proxies (urllib,
    requests, httpx and libcurl obey them, and every test talks to loopback), the OpenAI SDK's and
    llm's defaults, gevent's resolver and hub tuning."""
    return name.lower().endswith("_proxy") or name.startswith(("OPENAI_", "LLM_", "GEVENT_"))


def isolate_test_process() -> None:
    """Drop our settings and the variables that steer clients from this process's environment,
    stop libraries loading .env files, and point ENV_FILE at an empty file, so an app built here
    without explicit settings (`create_app()`, `Settings.load()`) reads neither the shell's
    values nor the checkout's .env."""
    for name in [n for n in os.environ if _ours(n) or _steers_clients(n)]:
        del os.environ[name]
    os.environ.update(NO_DOTENV)
    empty = Path(tempfile.mkdtemp(prefix="grok-web-api-tests-")) / ".env"
    empty.write_text("")
    atexit.register(shutil.rmtree, empty.parent, ignore_errors=True)
    os.environ[ENV_FILE_VARIABLE] = str(empty)


def hermetic_environ(**extra: str) -> dict[str, str]:
    """The environment of a process under test: the allow-list, no .env loading, plus `extra`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if (name in ALLOWED or name.startswith(ALLOWED_PREFIXES)) and not _ours(name)
    }
    env.update(NO_DOTENV)
    env.update(extra)
    return env
