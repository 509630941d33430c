"""/setup: what is configured, whether the session works, and how to fix it.

GET is public and read-only: it names settings as set / missing / invalid /
default (never a value), shows the live session state (the cached single-flight
check), the statsig source, the browser snippet, the bookmarklet and the
update-keys command. HTML for browsers, JSON for `Accept: application/json`.

POST takes new cookie and challenge values (form or JSON). Only a loopback
client (addressed by a loopback host name, no forwarding headers) or a client
presenting a configured API key may use it. A browser form must also echo the
CSRF token it got with the page, and a cross-origin Origin/Referer is refused.
Values are validated as at startup, written to the settings file atomically and
applied in this worker at once and in every other worker by their next request.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import secrets
import time
from urllib.parse import urlencode, urlsplit

import marshmallow as ma
from dotenv import dotenv_values
from flask import Response, make_response, redirect, render_template, request

from ..ops import envfile
from ..problems import Problem
from ..runtime import runtime, statsig_status
from ..settings import TABLE, Settings, SettingsError
from ..web.auth import key_is_valid, presented_key
from ..web.blueprint import Blueprint
from . import snippet
from .health import SESSION_CACHE_SECONDS, session_report
from .status import ChatLaneSchema, DriftSchema, StatsigSchema

blp = Blueprint(
    "setup",
    __name__,
    template_folder="templates",
    description="Setup helper: configuration state, challenge extraction, key updates",
)

CSRF_COOKIE = "grok_setup_csrf"
# From the settings table: the form changes the credentials, which rotate (the rest is
# for .env or update-keys); the page shows the settings a newcomer needs, with what each is for.
FORM_KEYS = tuple(row.env for row in TABLE if row.form)
DISPLAYED = tuple(row for row in TABLE if row.setup)
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_FORWARDED_FOR = re.compile(r"for=\"?\[?([^\]\";,]+)", re.IGNORECASE)


# ---------------------------------------------------------------------- schemas
class SettingStateSchema(ma.Schema):
    name = ma.fields.String(required=True)
    state = ma.fields.String(required=True, metadata={"enum": ["set", "missing", "invalid", "default"]})
    error = ma.fields.String(allow_none=True)
    secret = ma.fields.Boolean()
    description = ma.fields.String()


class SessionSchema(ma.Schema):
    session = ma.fields.String(required=True)
    message = ma.fields.String(allow_none=True)
    failure_class = ma.fields.String(allow_none=True)
    advice = ma.fields.String(allow_none=True)
    checked_at = ma.fields.Float(allow_none=True)


class SetupInfoSchema(ma.Schema):
    instructions = ma.fields.String(metadata={"description": "the reference's /setup text"})
    configured = ma.fields.Boolean()
    statsig_source = ma.fields.String(metadata={"enum": ["derived", "env", "provider", "none"]})
    statsig = ma.fields.Nested(StatsigSchema)
    drift = ma.fields.Nested(DriftSchema)
    settings = ma.fields.List(ma.fields.Nested(SettingStateSchema))
    session = ma.fields.Nested(SessionSchema)
    snippet = ma.fields.String()
    bookmarklet = ma.fields.String()
    update_keys_command = ma.fields.String()
    can_update = ma.fields.Boolean(metadata={"description": "whether this client may POST new values"})
    chat_lane = ma.fields.Nested(ChatLaneSchema)


class _StrictSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE  # nothing the client sent is silently dropped


SetupUpdateSchema = _StrictSchema.from_dict(
    {
        **{name: ma.fields.String() for name in FORM_KEYS},
        "snippet_output": ma.fields.String(metadata={"description": "the snippet's printed lines, pasted"}),
        "csrf_token": ma.fields.String(metadata={"description": "form posts only: the token of the page"}),
        "api_key": ma.fields.String(metadata={"description": "form posts only: an API key, for non-loopback clients"}),
    },
    name="SetupUpdateSchema",
)


class SetupResultSchema(ma.Schema):
    updated = ma.fields.List(ma.fields.String())
    applied = ma.fields.Boolean()
    generation = ma.fields.Integer()
    restart_required = ma.fields.List(ma.fields.String())
    shadowed = ma.fields.List(
        ma.fields.String(), metadata={"description": "set in the file but overridden by the server's environment"}
    )


# ---------------------------------------------------------------------- state
def setting_states(settings: Settings) -> tuple[list[dict], dict[str, str]]:
    """Each displayed setting as set / missing / invalid / default, judged on what the
    server would read now (its settings file under the real environment)."""
    source: dict[str, str] = {}
    if settings.env_file is None:
        # Built from a mapping (tests, library use): only the running values exist.
        defaults = Settings().as_source()
        source = {k: v for k, v in settings.as_source().items() if v != defaults.get(k)}
    else:
        try:
            source.update({k: v for k, v in dotenv_values(settings.env_file).items() if v is not None})
        except OSError:
            pass
        source.update(os.environ)
    try:
        current = Settings.from_mapping(source, env_file=settings.env_file)
        errors: dict[str, str] = {}
    except SettingsError as exc:
        current, errors = settings, exc.errors
    states = []
    for row in DISPLAYED:
        name = row.env
        raw = (source.get(name) or "").strip()
        if name in errors:
            state = "invalid"
        elif raw:
            state = "set"
        elif name == "GROK_SSO_COOKIE" or (
            name in ("CHALLENGE_HEADER_HEX", "CHALLENGE_SUFFIX") and current.statsig_mode == "env"
        ):
            state = "missing"
        else:
            state = "default"
        states.append(
            {
                "name": name,
                "state": state,
                "error": errors.get(name),
                "description": row.setup,
                "secret": bool(row.secret),
            }
        )
    return states, errors


def _is_loopback_address(value: str) -> bool:
    try:
        return ipaddress.ip_address(value.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def client_is_local() -> bool:
    """A loopback client, talking to a loopback host name (no DNS rebinding), not proxied."""
    if not _is_loopback_address(request.remote_addr or ""):
        return False
    forwarded = [a for a in (request.headers.get("X-Forwarded-For") or "").split(",") if a.strip()]
    forwarded += _FORWARDED_FOR.findall(request.headers.get("Forwarded") or "")
    if request.headers.get("X-Real-IP"):
        forwarded.append(request.headers["X-Real-IP"])
    if not all(_is_loopback_address(a) for a in forwarded):
        return False
    host = (urlsplit("//" + request.host).hostname or "").lower()
    return host in _LOOPBACK_NAMES or _is_loopback_address(host)


def may_update(form_key: str | None = None) -> bool:
    if client_is_local():
        return True
    keys = runtime().settings.api_keys
    return bool(keys) and key_is_valid(form_key or presented_key(request), keys)


def _same_origin() -> bool:
    """Origin (or Referer) of a browser request must be this server; scripts send neither."""
    claimed = request.headers.get("Origin") or request.headers.get("Referer")
    if not claimed:
        return True
    parts = urlsplit(claimed)
    return f"{parts.scheme}://{parts.netloc}" == request.host_url.rstrip("/")


def _info() -> dict:
    rt = runtime()
    states, _ = setting_states(rt.settings)
    statsig = statsig_status(rt)
    return {
        "instructions": snippet.INSTRUCTIONS,
        "configured": rt.settings.configured,
        "statsig_source": statsig["source"],
        "statsig": statsig,
        "drift": rt.health.drift(),
        "settings": states,
        "session": session_report(rt, SESSION_CACHE_SECONDS),
        "snippet": snippet.SNIPPET,
        "bookmarklet": snippet.BOOKMARKLET,
        "update_keys_command": snippet.UPDATE_KEYS_COMMAND,
        "can_update": may_update(),
        "chat_lane": rt.chat_lane(),
    }


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def _wants_html() -> bool:
    # Browsers ask for text/html first; curl's */* and scripts get JSON (as the reference did).
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def _page(info: dict, status: int = 200, errors: dict | None = None, notice: dict | None = None) -> Response:
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    html = render_template(
        "setup.html",
        info=info,
        errors=errors or {},
        notice=notice or {},
        csrf_token=token,
        form_keys=FORM_KEYS,
        local=client_is_local(),
        utc=_utc,
    )
    resp = make_response(html, status)
    resp.headers["Content-Type"] = "text/html; charset=utf-8"
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    resp.headers["X-Frame-Options"] = "DENY"
    resp.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/setup")
    return resp


# ---------------------------------------------------------------------- views
INFO_EXAMPLE = {
    "instructions": "Install the Void client mod, open grok.com, ...",
    "configured": True,
    "statsig_source": "derived",
    "statsig": {"configured": "auto", "source": "derived", "build": "83ad770a1b2c", "fallback_reason": None},
    "drift": {"state": "ok", "since": None, "failure_class": None, "advice": None, "automatic": None},
    "settings": [
        {
            "name": "GROK_SSO_COOKIE",
            "state": "set",
            "error": None,
            "secret": True,
            "description": "the grok.com sso cookie (required)",
        },
        {
            "name": "LOG_LEVEL",
            "state": "invalid",
            "error": "must be one of trace, debug, info, warn, warning, error, critical",
            "secret": False,
            "description": "log level",
        },
    ],
    "session": {"session": "valid", "message": None, "failure_class": None, "advice": None, "checked_at": 1717171717.5},
    "snippet": 'var m=Void.findByProps("chatApi"),...',
    "bookmarklet": "javascript:(async()=>{...})()",
    "update_keys_command": "grok-web-api update-keys CHALLENGE_HEADER_HEX=... CHALLENGE_SUFFIX=... "
    "CHALLENGE_TRAILER=3 --reload",
    "can_update": True,
    "chat_lane": {"setting": "auto", "active": "rest", "switched_at": None, "switch_reason": None},
}


@blp.route("/setup", methods=["GET"])
@blp.response(200, SetupInfoSchema, example=INFO_EXAMPLE)
@blp.doc(summary="Setup state and challenge extraction helper (HTML for browsers, JSON otherwise)")
def setup_page():
    info = _info()
    if _wants_html():
        notice = {}
        if request.args.get("saved"):
            notice = {
                "saved": request.args["saved"].split(","),
                "shadowed": [k for k in request.args.get("shadowed", "").split(",") if k],
                "restart": [k for k in request.args.get("restart", "").split(",") if k],
                "unapplied": bool(request.args.get("unapplied")),
            }
        return _page(info, notice=notice)
    return info


@blp.route("/setup", methods=["POST"])
@blp.arguments(
    SetupUpdateSchema,
    location="json_or_form",
    example={"CHALLENGE_HEADER_HEX": "00" * 49, "CHALLENGE_SUFFIX": "!...", "CHALLENGE_TRAILER": "3"},
)
@blp.response(
    200,
    SetupResultSchema,
    example={
        "updated": ["CHALLENGE_HEADER_HEX", "CHALLENGE_SUFFIX", "CHALLENGE_TRAILER"],
        "applied": True,
        "generation": 4,
        "restart_required": [],
        "shadowed": [],
    },
)
@blp.doc(
    summary="Save new cookie/challenge values to the settings file and apply them (loopback or API key)",
    description="JSON body for scripts; the /setup page posts the same fields as a form "
    "(application/x-www-form-urlencoded) with its csrf_token.",
)
def setup_update(body):
    from_form = not request.is_json
    if not _same_origin():
        raise Problem(403, "forbidden", "cross-origin request refused: submit the form from /setup itself")
    if from_form:
        sent = body.get("csrf_token") or ""
        expected = request.cookies.get(CSRF_COOKIE) or ""
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise Problem(403, "forbidden", "missing or stale form token: reload /setup and submit again")
    if not may_update(body.get("api_key") if from_form else None):
        raise Problem(
            403,
            "forbidden",
            "only a loopback client (http://localhost:PORT/setup on the server "
            "itself) or a client with a configured API key may change the settings",
        )
    rt = runtime()
    values = {k: v.strip() for k, v in body.items() if k in FORM_KEYS and v and v.strip()}
    if body.get("snippet_output"):
        pasted, _ = envfile.parse_pasted(body["snippet_output"], FORM_KEYS)
        values.update(pasted)
    errors = (
        envfile.invalid_values(values, rt.settings)
        if values
        else {"values": "nothing to save: fill in at least one field"}
    )
    if errors:
        if from_form and _wants_html():
            return _page(_info(), 422, errors=errors)
        name = next(iter(errors))
        raise Problem(422, "invalid_request", f"invalid value for {name}: {errors[name]}", param=name, errors=errors)
    if not rt.settings.env_file:
        raise Problem(409, "not_configured", "this server was not started with a settings file")
    envfile.update(rt.settings.env_file, values)
    generation = envfile.request_reload(rt.settings.env_file, "setup")
    outcome = rt.reloader.poll()  # this worker at once; the others at their next request
    result = {
        "updated": list(values),
        "applied": bool(outcome and outcome.applied),
        "generation": generation,
        "restart_required": outcome.restart_required if outcome else [],
        "shadowed": outcome.shadowed if outcome else [],
    }
    if from_form and _wants_html():
        query = {
            "saved": ",".join(values),
            "shadowed": ",".join(result["shadowed"]),
            "restart": ",".join(result["restart_required"]),
            "unapplied": "" if result["applied"] else "1",
        }
        return redirect("/setup?" + urlencode({k: v for k, v in query.items() if v}), 303)
    return result
