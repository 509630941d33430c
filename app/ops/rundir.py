"""The server's runtime directory, shared by every gunicorn worker of one server.

gunicorn's master creates it at startup (app.ops.gunicorn_config.on_starting) and passes
it to workers in GROK_WEB_API_RUNTIME_DIR; workers coordinate through files in it
(the session watcher's lock and shared state, Prometheus multiprocess metrics).
Outside gunicorn (tests, scripts) each app has a private temporary directory of its own.
Code that needs the directory takes it from its app's runtime (`Runtime.rundir`), never from
this module: two apps in one process must not share files (nor export one to the other).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

ENV_VAR = "GROK_WEB_API_RUNTIME_DIR"


def create() -> Path:
    """Create a fresh runtime directory and export it to child processes (gunicorn's master only)."""
    path = Path(tempfile.mkdtemp(prefix="grok-web-api-"))
    os.environ[ENV_VAR] = str(path)
    return path


def shared() -> Path | None:
    """The runtime directory of the gunicorn server this process belongs to, if any."""
    value = os.environ.get(ENV_VAR)
    return Path(value) if value and os.path.isdir(value) else None


def private() -> Path:
    """A directory of one's own (an app outside gunicorn, e.g. under Flask's test client)."""
    return Path(tempfile.mkdtemp(prefix="grok-web-api-app-"))


SERVER_FILE = "server.json"


def mark_started(directory: Path) -> None:
    """Record when the server (gunicorn's master) started, for /status uptime."""
    from .atomicfile import write_json

    write_json(directory / SERVER_FILE, {"started_at": time.time(), "pid": os.getpid()})
