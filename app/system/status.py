"""/status: uptime, session and anti-bot state, counters and the last upstream failure.

Every gunicorn worker answers the same: the counts are the host's, read from the samples
/metrics serves (app/ops/metrics.py: dead workers' counts included), conditions and the
last failure come from the shared-state store (every host agrees when REDIS_URL is set),
uptime is the master's. No upstream call, never a secret value.
"""

from __future__ import annotations

import os
import time

import marshmallow as ma

from .. import __version__
from ..grok import drift
from ..ops.shared_health import OK, UNKNOWN
from ..ops.startup import access_report
from ..runtime import runtime, statsig_status
from ..web.blueprint import Blueprint

blp = Blueprint("status", __name__, description="Server status")

SOURCES_IN_USE = ["derived", "env", "provider", "none"]
_SESSION = {OK: "valid", "auth_expired": "expired", "account_blocked": "blocked", UNKNOWN: "unknown"}


class FailureSchema(ma.Schema):
    failure_class = ma.fields.String()
    message = ma.fields.String()
    advice = ma.fields.String()
    at = ma.fields.Float()
    upstream_status = ma.fields.Integer(allow_none=True)
    method = ma.fields.String(allow_none=True)


class CheckSchema(ma.Schema):
    session = ma.fields.String()
    at = ma.fields.Float()
    message = ma.fields.String(allow_none=True)
    failure_class = ma.fields.String(allow_none=True)


class AccountSchema(ma.Schema):
    label = ma.fields.String()
    source = ma.fields.String(metadata={"enum": ["env", "file"], "description": "settings file or accounts file"})
    enabled = ma.fields.Boolean()
    state = ma.fields.String(metadata={"enum": ["active", "cooling", "parked", "disabled"]})
    tier = ma.fields.String(allow_none=True, metadata={"description": "free, super or heavy, from the quota totals"})
    proxy = ma.fields.String(allow_none=True, metadata={"description": "the account's proxy, without credentials"})
    quota = ma.fields.Dict(
        metadata={"description": "per grok.com mode: remaining (estimated since the last sync), total, window, at"}
    )
    cooldowns = ma.fields.Dict(metadata={"description": "per mode cooling down: seconds_left, reason"})
    parked = ma.fields.Dict(
        allow_none=True, metadata={"description": "why the account is parked: failure_class, message, advice, since"}
    )
    requests = ma.fields.Integer()
    failures = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())


class AccessSchema(ma.Schema):
    mode = ma.fields.String(metadata={"enum": ["api_key", "local", "open_network"]})
    summary = ma.fields.String(metadata={"description": "who may use the server, and why"})
    warning = ma.fields.Boolean(metadata={"description": "true when the server is open without an API key"})


class StatsigSchema(ma.Schema):
    configured = ma.fields.String(
        metadata={"description": "STATSIG_SOURCE", "enum": ["auto", "derived", "env", "provider"]}
    )
    source = ma.fields.String(metadata={"description": "what signs requests now", "enum": SOURCES_IN_USE})
    build = ma.fields.String(
        allow_none=True, metadata={"description": "the grok.com build the values were derived from"}
    )
    release = ma.fields.String(allow_none=True, metadata={"description": "that build's release (grok-web@<sha>)"})
    derived_at = ma.fields.Float(allow_none=True)
    index_set = ma.fields.List(ma.fields.Integer(), allow_none=True, metadata={"description": "G, S, t1, t2, t3"})
    index_source = ma.fields.String(allow_none=True, metadata={"description": "how the index set was found"})
    verified = ma.fields.Boolean(allow_none=True, metadata={"description": "a canary request accepted the values"})
    canary = ma.fields.String(allow_none=True)
    fallback_reason = ma.fields.String(allow_none=True, metadata={"description": "why derived values are not in use"})
    last_attempt = ma.fields.Dict(
        allow_none=True, metadata={"description": "the last derivation: ok, at, step, url, found"}
    )
    derivations = ma.fields.Integer(metadata={"description": "successful derivations since the server started"})
    ttl_seconds = ma.fields.Integer(allow_none=True)


class DriftSchema(ma.Schema):
    state = ma.fields.String(metadata={"enum": [*drift.STATES, "unknown"]})
    since = ma.fields.Float(allow_none=True)
    failure_class = ma.fields.String(allow_none=True)
    advice = ma.fields.String(allow_none=True)
    automatic = ma.fields.String(allow_none=True, metadata={"description": "what the server does about it by itself"})


class ChatLaneSchema(ma.Schema):
    setting = ma.fields.String(metadata={"enum": ["auto", "rest", "ws"], "description": "GROK_CHAT_LANE"})
    active = ma.fields.String(metadata={"enum": ["rest", "ws"], "description": "the lane new chats use"})
    switched_at = ma.fields.Float(
        allow_none=True, metadata={"description": "auto: when this host switched to the WebSocket lane"}
    )
    switch_reason = ma.fields.String(
        allow_none=True, metadata={"description": "auto: what grok.com's REST chat answered"}
    )


class StatusSchema(ma.Schema):
    version = ma.fields.String()
    uptime_seconds = ma.fields.Integer()
    uptime = ma.fields.String(metadata={"example": "1h 2m 3s"})
    configured = ma.fields.Boolean()
    session_valid = ma.fields.Boolean(
        metadata={"description": "false once grok.com said the cookies expired or the account is blocked"}
    )
    session = ma.fields.String(metadata={"enum": ["valid", "expired", "blocked", "unknown", "not_configured"]})
    challenge_loaded = ma.fields.Boolean(
        metadata={"description": "a statsig source is configured (challenge values or token provider)"}
    )
    statsig_source = ma.fields.String(metadata={"enum": SOURCES_IN_USE})
    statsig = ma.fields.Nested(StatsigSchema)
    drift = ma.fields.Nested(DriftSchema, metadata={"description": "what is broken upstream now, and what is done"})
    conditions = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        metadata={"description": "session / anti_bot / protocol / network: ok, unknown or the failure class"},
    )
    requests_served = ma.fields.Integer(metadata={"description": "API requests, not health/status/setup"})
    last_request_at = ma.fields.Integer(allow_none=True)
    active_streams = ma.fields.Integer()
    streams_started = ma.fields.Integer()
    workers = ma.fields.Integer()
    worker_pid = ma.fields.Integer(metadata={"description": "the worker that answered (all agree on the rest)"})
    failures_by_class = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    last_failure = ma.fields.Nested(FailureSchema, allow_none=True)
    last_check = ma.fields.Nested(CheckSchema, allow_none=True)
    accounts = ma.fields.List(
        ma.fields.Nested(AccountSchema),
        metadata={"description": "the grok.com accounts (every host agrees with REDIS_URL); never a cookie"},
    )
    access = ma.fields.Nested(AccessSchema)
    shared_state = ma.fields.Dict(
        metadata={
            "description": "where shared state lives: backend local (this host's run directory) or redis; "
            "with REDIS_URL, its address (never the password) and whether it answers now"
        }
    )
    chat_lane = ma.fields.Nested(ChatLaneSchema)


def pool_session(accounts: list[dict]) -> str:
    """The session condition of a pool: ok while an enabled account is not parked, else why."""
    enabled = [a for a in accounts if a["enabled"]]
    if not enabled:
        return UNKNOWN
    if any(a["state"] != "parked" for a in enabled):
        return OK
    classes = {a["parked"]["failure_class"] for a in enabled}
    return "account_blocked" if classes == {"account_blocked"} else "auth_expired"


def format_uptime(seconds: int) -> str:
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes}m {secs}s"


EXAMPLE = {
    "version": "0.1.0",
    "uptime_seconds": 3723,
    "uptime": "1h 2m 3s",
    "configured": True,
    "session_valid": True,
    "session": "valid",
    "challenge_loaded": True,
    "statsig_source": "derived",
    "statsig": {
        "configured": "auto",
        "source": "derived",
        "build": "83ad770a1b2c",
        "release": "83ad770a1b2c3d4e",
        "derived_at": 1717171600.2,
        "index_set": [5, 10, 36, 5, 24],
        "index_source": "read from the generator chunk",
        "verified": True,
        "canary": "accepted (HTTP 200 on POST /rest/rate-limits)",
        "fallback_reason": None,
        "last_attempt": {"ok": True, "at": 1717171600.2, "reason": "no derived values yet"},
        "derivations": 1,
        "ttl_seconds": 3600,
    },
    "drift": {
        "state": "stale_statsig",
        "since": 1717171700.5,
        "failure_class": "stale_challenge",
        "advice": "grok.com shipped a new frontend build and the x-statsig-id values are stale. ...",
        "automatic": "it re-derives the x-statsig-id values from grok.com's page ...",
    },
    "conditions": {"session": "ok", "anti_bot": "stale_challenge", "protocol": "ok", "network": "ok"},
    "requests_served": 42,
    "last_request_at": 1717171717,
    "active_streams": 2,
    "streams_started": 17,
    "workers": 2,
    "worker_pid": 4242,
    "failures_by_class": {"stale_challenge": 3},
    "last_failure": {
        "failure_class": "stale_challenge",
        "message": "grok.com refused the request: This page is out of date. Reload to continue.",
        "advice": "grok.com shipped a new frontend build and the x-statsig-id values are stale. ...",
        "at": 1717171700.5,
        "upstream_status": 403,
        "method": "POST",
    },
    "last_check": {"session": "valid", "at": 1717171600.1, "message": None, "failure_class": None},
    "accounts": [
        {
            "label": "work",
            "source": "file",
            "enabled": True,
            "state": "cooling",
            "tier": "super",
            "proxy": None,
            "quota": {
                "auto": {"remaining": 0, "total": 50, "window": 7200, "at": 1717171500.0},
                "fast": {"remaining": 121, "total": 140, "window": 7200, "at": 1717171500.0},
            },
            "cooldowns": {"auto": {"seconds_left": 1734.0, "reason": "usage_limit"}},
            "parked": None,
            "requests": 57,
            "failures": {"usage_limit": 1},
        }
    ],
    "access": {
        "mode": "api_key",
        "summary": "API key required on every route but /health, /setup and the docs; listening on 0.0.0.0; "
        "browser origins allowed: *",
        "warning": False,
    },
    "shared_state": {"backend": "redis", "redis": "redis://redis:6379/0", "redis_reachable": True},
    "chat_lane": {"setting": "auto", "active": "rest", "switched_at": None, "switch_reason": None},
}


@blp.route("/status", methods=["GET"])
@blp.response(200, StatusSchema, example=EXAMPLE)
@blp.doc(summary="Uptime, session state, counters (all workers) and the last upstream failure")
def status():
    rt = runtime()
    shared = rt.health.snapshot()
    conditions = {
        name: (shared["conditions"].get(name) or {}).get("value", UNKNOWN)
        for name in ("session", "anti_bot", "protocol", "network")
    }
    accounts = rt.pool.snapshot()
    if rt.pool.strict:  # a pool's session is its accounts': valid while one of them is usable
        conditions["session"] = pool_session(accounts)
    session = _SESSION.get(conditions["session"], conditions["session"])
    if not rt.configured:
        session = "not_configured"
    uptime = int(time.time() - rt.server_started_at)
    last_check = rt.session_check.last()
    statsig = statsig_status(rt)
    return (
        {
            "version": __version__,
            "uptime_seconds": uptime,
            "uptime": format_uptime(uptime),
            "configured": rt.configured,
            "session_valid": session not in ("expired", "blocked"),
            "session": session,
            "challenge_loaded": statsig["source"] != "none",
            "statsig_source": statsig["source"],
            "statsig": statsig,
            "drift": rt.health.drift(),
            "conditions": conditions,
            **rt.metrics.status_figures(),
            "worker_pid": os.getpid(),
            "last_failure": shared.get("last_failure"),
            "last_check": last_check.to_json() if last_check else None,
            "accounts": accounts,
            "access": access_report(rt.settings),
            "shared_state": rt.store.describe(),
            "chat_lane": rt.chat_lane(),
        },
        200,
        {"Cache-Control": "no-store"},
    )
