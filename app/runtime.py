"""The per-worker runtime: the one object that owns a worker's services.

Stored on the app (`app.extensions["grok_web_api"]`), created once per app in
`create_app`. Nothing here is per-request: request state lives in locals.

What it owns: `settings` (swapped by a reload), `client` (the GrokClient and its
transport), `state` (the client's session state), `store` (the shared-state store,
app/state: the run directory's, or Redis across hosts), `pool` (the grok.com accounts,
rebuilt when the settings or the accounts file change), `metrics` (every count, for
/metrics and /status alike, app/ops/metrics.py), `health` (the shared upstream
conditions and last failure), `session_check` (the single-flight, cached session
check), `modes` (grok.com's mode list), `reloader` (applies a settings reload
requested by update-keys --reload or /setup), `watcher` (the background session
check, started once per worker) and `media` (app/media's services, built on first use).
"""

from __future__ import annotations

import logging
import shutil
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app, request

from .grok.accounts import AccountPool
from .grok.client import ClientConfig, GrokClient
from .grok.lanes import describe as describe_lane
from .grok.modes import ModeCatalogue
from .grok.session import SessionState
from .grok.transport import Transport
from .ops import metrics
from .ops import rundir as rundirs
from .ops.accounts import AccountsFile, AccountsFileError, build_pool
from .ops.atomicfile import read_json
from .ops.lane_switch import StoreLaneSwitch
from .ops.pooled_figures import PooledFigures
from .ops.shared_health import SharedHealth, automatic_action
from .ops.shared_values import StoreValues
from .ops.watch import SessionCheck, SessionWatcher
from .problems import not_configured
from .settings import Settings
from .state import Store, open_store

EXTENSION = "grok_web_api"
log = logging.getLogger("grok_web_api.accounts")


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
        # /status's counts: this host's, plus every other host's on the same Redis.
        self.figures = PooledFigures(self.store, self.metrics)
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
        self.accounts_file = AccountsFile(self.settings.accounts_path)
        try:
            self.accounts_file.load()
        except AccountsFileError as exc:
            log.error("accounts file refused, only the settings' own account is used: %s", exc)
        self._pool: AccountPool | None = None
        self._checks: tuple[AccountPool, dict[str, SessionCheck]] | None = None
        self.state.observers.extend([self.health.observe, self._pool_observes])

    # ------------------------------------------------------------------ the accounts
    @property
    def pool(self) -> AccountPool:
        if self._pool is None:
            self._pool = build_pool(self.settings, self.accounts_file.accounts, self.store, self.client)
        return self._pool

    def session_checks(self) -> list[SessionCheck]:
        """The session checks the watcher keeps fresh: the settings' account, or each enabled
        account of a pool (each once per interval across every worker and host)."""
        pool = self.pool
        if not pool.strict:
            return [self.session_check]
        if self._checks is None or self._checks[0] is not pool:
            checks = {a.label: SessionCheck(self.store, pool.client(a.label), a.label) for a in pool.enabled}
            self._checks = (pool, checks)
        return list(self._checks[1].values())

    def poll_accounts(self) -> None:
        """Pick up a new accounts file (one stat); the next request uses the new pool."""
        if self.accounts_file.poll():
            self._pool = None

    def _pool_observes(self, state, outcome) -> None:
        if self._pool is not None:
            self._pool.observe(state, outcome)

    def default_client(self) -> GrokClient:
        """The client for work that is no request's (the mode list, statsig derivation, the
        canary): the settings' account, else the pool's default account."""
        if self.settings.configured or not self.configured:
            return self.client
        return self.pool.client(self.pool.default(recent=True).label)

    @property
    def configured(self) -> bool:
        """Some account can be used: GROK_SSO_COOKIE, or an enabled account of the accounts file."""
        return self.settings.configured or any(a.enabled for a in self.accounts_file.accounts)

    @property
    def missing(self) -> list[str]:
        return [] if self.configured else self.settings.missing

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
        if settings.accounts_path != self.accounts_file.path:
            self.accounts_file = AccountsFile(settings.accounts_path)
            self.accounts_file.poll()
        self._pool = None  # rebuilt on the new client configuration and transport


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
    """The client of the account this request goes to when nothing ties it to one (the
    X-Grok-Account header's, else the pool's default: app/routing.py), or a 503
    not_configured problem when no account is configured."""
    from .routing import for_request

    return for_request().client


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
    if not rt.configured:
        raise not_configured(rt.missing)
