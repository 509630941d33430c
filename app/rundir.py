"""The server's runtime directory, shared by every gunicorn worker of one server.

gunicorn's master creates it at startup (app.gunicorn_config.on_starting) and passes
it to workers in GROK_WEB_API_RUNTIME_DIR; workers coordinate through files in it
(the session watcher's lock and shared state, Prometheus multiprocess metrics).
Outside gunicorn (tests, scripts) a private temporary directory is used.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ENV_VAR = "GROK_WEB_API_RUNTIME_DIR"


def create() -> Path:
    """Create a fresh runtime directory and export it to child processes."""
    path = Path(tempfile.mkdtemp(prefix="grok-web-api-"))
    os.environ[ENV_VAR] = str(path)
    return path


def path() -> Path:
    value = os.environ.get(ENV_VAR)
    if not value or not os.path.isdir(value):
        return create()
    return Path(value)
