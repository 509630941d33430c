"""The per-worker runtime: current settings, the one GrokClient, process counters.

Stored on the app (`app.extensions["grok_web_api"]`), created once per app in
`create_app`. Nothing here is per-request: request state lives in locals.

The operations parts live here too, each backed by files in the server's runtime
directory so that every gunicorn worker reports the same: `counters` (requests,
streams, failures), `health` (the shared upstream conditions and last failure),
`session_check` (the single-flight, cached session check) and `reloader` (applies
a settings reload requested by update-keys --reload or /setup).
"""

from __future__ import annotations

import shutil
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app

from . import rundir as rundirs
from .atomicfile import read_json
from .counters import ACTIVE_STREAMS, WorkerCounters
from .grok.client import ClientConfig, GrokClient
from .grok.session import SessionState
from .grok.shared_health import SharedHealth
from .grok.watch import SessionCheck, SessionWatcher
from .problems import not_configured
from .settings import Settings

EXTENSION = "grok_web_api"


class _CountFailures:
    """SessionState observer feeding the shared failure counters."""

    def __init__(self, counters: WorkerCounters):
        self.counters = counters

    def success(self, method) -> None:
        pass

    def failure(self, error, method) -> None:
        self.counters.failure(error.failure_class)


@dataclass
class Runtime:
    settings: Settings
    client: GrokClient
    state: SessionState
    started_at: float = field(default_factory=time.time)
    rundir: Path | None = None
    watcher: SessionWatcher | None = None

    def __post_init__(self):
        if self.rundir is None:
            shared = rundirs.shared()
            self.rundir = shared or rundirs.private()
            if shared is None:
                weakref.finalize(self, shutil.rmtree, self.rundir, True)
        from .reloader import SettingsReloader

        self.counters = WorkerCounters(self.rundir)
        self.health = SharedHealth(self.rundir)
        self.session_check = SessionCheck(self.rundir, self.client)
        self.reloader = SettingsReloader(self)
        self.state.observers.extend([self.health, _CountFailures(self.counters)])

    @property
    def active_streams(self) -> int:
        """Streams this worker is relaying right now."""
        return self.counters.get(ACTIVE_STREAMS)

    @property
    def server_started_at(self) -> float:
        """When gunicorn's master started (this worker's start outside gunicorn)."""
        data = read_json(self.rundir / rundirs.SERVER_FILE, {}) or {}
        started = data.get("started_at")
        return started if isinstance(started, (int, float)) else self.started_at

    def apply(self, settings: Settings) -> None:
        """Switch to new settings; in-flight requests finish with the old credentials."""
        self.settings = settings
        self.client.reconfigure(ClientConfig.from_settings(settings))


def runtime() -> Runtime:
    return current_app.extensions[EXTENSION]


def settings() -> Settings:
    return runtime().settings


def grok() -> GrokClient:
    """The upstream client, or a 503 not_configured problem when credentials are missing."""
    rt = runtime()
    if not rt.settings.configured:
        raise not_configured(rt.settings.missing)
    return rt.client
