"""Per-request and per-worker operations hooks.

`init_app` (from create_app): before every request, apply a pending settings
reload (one stat). Requests are counted by app.web.telemetry (app/ops/metrics.py).

`start_background` (from gunicorn's post_worker_init, i.e. once per worker,
after fork, never at import or in the master): start the session watcher and the
publication of the host's counts (with REDIS_URL, app/ops/pooled_figures.py), and derive
the statsig values (then read the mode list) before the first request needs them;
with several workers one of them derives and the others read its result.
"""

from __future__ import annotations

import logging
import os

import gevent
from flask import Flask

from ..grok.errors import GrokError
from ..runtime import EXTENSION, Runtime, runtime
from .watch import SessionWatcher

log = logging.getLogger("grok_web_api.lifecycle")

# Test-only: the shared test harness turns the background session checks off so their
# requests never show up in other tests' fake grok.com logs (reload polling stays on);
# the watcher's own tests turn them on.
NO_WATCHER_ENV = "GROK_WEB_API_TEST_NO_WATCHER"


def init_app(app: Flask) -> None:
    @app.before_request
    def _apply_pending_reload():
        rt = runtime()
        rt.reloader.poll()
        rt.poll_accounts()  # and a changed accounts file


def challenge_canary(rt: Runtime) -> None:
    """A cheap signed POST (rate-limits) after a valid session check: grok.com may not check
    the anti-bot token on GETs, so this is what notices stale challenge values while idle.
    A pool's quota sync makes the same POSTs, so a pool needs no canary."""
    signer = rt.client.config.signer
    if (signer.source == "none" and not getattr(signer, "derives", False)) or rt.pool.strict:
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
    rt.figures.start()  # with REDIS_URL: this host's counts for the other hosts' /status
    gevent.spawn(warm_up, rt)
    return rt.watcher


def warm_up(rt: Runtime) -> None:
    """Derive the statsig values and read the mode list while no request waits for them."""
    signer = rt.client.config.signer
    if not rt.configured or not getattr(signer, "derives", False):
        return
    client = rt.default_client()
    try:
        signer.prepare(client)
        rt.modes.current(client, build=signer.build, max_age=rt.settings.statsig_ttl)
    except GrokError as exc:
        log.info("statsig warm-up: %s", exc.message)
    except Exception:
        log.exception("statsig warm-up failed")
