"""The per-worker runtime: the one object that owns a worker's services.

Stored on the app (`app.extensions["grok_web_api"]`), created once per app in
`create_app`. Nothing here is per-request: request state lives in locals.

What it owns: `settings` (swapped by a reload), `client` (the GrokClient and its
transport), `state` (the client's session state), `store` (the shared-state store,
app/state: the run directory's, or Redis across hosts), `metrics` (every count, for
/metrics and /status alike, app/ops/metrics.py), `health` (the shared upstream
conditions and last failure), `session_check` (the single-flight, cached session
check), `modes` (grok.com's mode list), `reloader` (applies a settings reload
requested by update-keys --reload or /setup), `watcher` (the background session
check, started once per worker) and `media` (app/media's services, built on first use).
"""

from __future__ import annotations

import shutil
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app, request

from .grok.client import ClientConfig, GrokClient
from .grok.lanes import describe as describe_lane
from .grok.modes import ModeCatalogue
from .grok.session import SessionState
from .grok.transport import Transport
from .ops import metrics
from .ops import rundir as rundirs
from .ops.atomicfile import read_json
from .ops.lane_switch import StoreLaneSwitch
from .ops.shared_health import SharedHealth, automatic_action
from .ops.shared_values import StoreValues
from .ops.watch import SessionCheck, SessionWatcher
from .problems import not_configured
from .settings import Settings
from .state import Store, open_store

EXTENSION = "grok_web_api"


@dataclass
class Runtime:
    settings: Settings
    client: GrokClient
    state: SessionState
    started_at: float = field(default_factory=time.time)
    rundir: Path | None = None
    watcher: SessionWatcher | None = None
    store: Store | None = None

    def __post_init__(self):
        if self.rundir is None:
            shared = rundirs.shared()
            self.rundir = shared or rundirs.private()
            if shared is None:
                weakref.finalize(self, shutil.rmtree, self.rundir, True)
        from .ops.reloader import SettingsReloader

        if self.store is None:
            self.store = open_store(self.settings.redis_url, self.rundir, self.settings.redis_prefix)
        self.metrics = metrics.create()
        self.metrics.observe(self.state)
        self.metrics.worker_started()
        self.media = None  # app/media's services, built on first use (media.services)
        # Derived statsig values and the mode list: one copy for every worker (every host with Redis).
        self.client.shared = StoreValues(self.store)
        self.health = SharedHealth(
            self.store,
            automatic=lambda state: automatic_action(
                state, self.settings.statsig_mode, self.settings.session_check_interval, self.settings.chat_lane
            ),
        )
        self.session_check = SessionCheck(self.store, self.client)
        # The auto chat-lane choice is shared like the rest: every worker of every host sees it.
        self.client.lane_switch = StoreLaneSwitch(self.store)
        self.modes = ModeCatalogue()
        self.reloader = SettingsReloader(self)
        self.state.observers.append(self.health.observe)

    def chat_lane(self) -> dict:
        """The chat lane setting and the lane in use (for /status and /setup)."""
        return describe_lane(self.settings.chat_lane, self.client.lane_switch)

    @property
    def server_started_at(self) -> float:
        """When gunicorn's master started (this worker's start outside gunicorn)."""
        data = read_json(self.rundir / rundirs.SERVER_FILE, {}) or {}
        started = data.get("started_at")
        return started if isinstance(started, (int, float)) else self.started_at

    def apply(self, settings: Settings) -> None:
        """Switch to new settings; in-flight requests finish with the old credentials."""
        self.settings = settings
        self.client.reconfigure(ClientConfig.from_settings(settings), Transport.from_settings(settings))


def statsig_status(rt: Runtime) -> dict:
    """The statsig source in use, the build its values come from and any fallback's reason."""
    signer = rt.client.config.signer
    if hasattr(signer, "status"):
        return signer.status(rt.client.shared)
    return {"configured": rt.settings.statsig_mode, "source": signer.source}


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


def no_upstream(view):
    """Mark a /v1 view that never calls grok.com (it works without cookies)."""
    view.uses_upstream = False
    return view


def reject_unconfigured() -> None:
    """Before any Grok-backed route runs: 503 not_configured while cookies are missing."""
    if not request.path.startswith(("/v1/", "/raw/")):
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or not getattr(view, "uses_upstream", True):
        return
    rt = runtime()
    if not rt.settings.configured:
        raise not_configured(rt.settings.missing)
