"""Per-request and per-worker operations hooks.

`init_app` (from create_app): before every request, apply a pending settings
reload (one stat) and count the request unless it is an operations probe
(health, status, setup, metrics: monitoring must not inflate requests_served).

`start_background` (from gunicorn's post_worker_init, i.e. once per worker,
after fork, never at import or in the master): start the session watcher.
"""

from __future__ import annotations

import logging
import os

from flask import Flask, request

from ..grok.errors import GrokError
from ..grok.statsig import NoSigner
from ..runtime import EXTENSION, Runtime, runtime
from .watch import SessionWatcher

log = logging.getLogger("grok_web_api.lifecycle")

PROBE_PATHS = ("/health", "/status", "/setup", "/metrics")
# Test-only: the shared test harness turns the background session checks off so their
# requests never show up in other tests' fake grok.com logs (reload polling stays on);
# the watcher's own tests turn them on.
NO_WATCHER_ENV = "GROK_WEB_API_TEST_NO_WATCHER"


def is_probe(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PROBE_PATHS)


def init_app(app: Flask) -> None:
    @app.before_request
    def _operations_bookkeeping():
        rt = runtime()
        rt.reloader.poll()
        rt.poll_accounts()
        if not is_probe(request.path):
            rt.counters.request()


def challenge_canary(rt: Runtime) -> None:
    """A cheap signed POST (rate-limits) after a valid session check: grok.com may not check
    the anti-bot token on GETs, so this is what notices stale challenge values while idle.
    A pool's quota sync makes the same POSTs, so a pool needs no canary."""
    if isinstance(rt.client.config.signer, NoSigner) or rt.pool.strict:
        return
    try:
        rt.client.rate_limits()
    except GrokError:
        pass  # the outcome is in the shared conditions (and logged there on a change)


def start_background(app, logger: logging.Logger | None = None) -> SessionWatcher | None:
    rt = getattr(app, "extensions", {}).get(EXTENSION)
    if rt is None:
        (logger or log).warning("session watcher not started: the WSGI app is not a grok-web-api app")
        return None
    rt.counters.open()
    if rt.watcher is None:

        def on_tick() -> None:
            rt.reloader.poll()
            rt.poll_accounts()

        rt.watcher = SessionWatcher(
            rt.session_checks,
            lambda: rt.settings.session_check_interval,
            on_tick=on_tick,
            canary=lambda: challenge_canary(rt),
            after=lambda: rt.pool.sync_due(rt.settings.quota_sync_interval),
            enabled=os.environ.get(NO_WATCHER_ENV) != "1",
        )
    rt.watcher.start()
    return rt.watcher
