"""API keys: `Authorization: Bearer <key>` or `x-api-key: <key>`, several keys allowed.

When API_KEY is set, every request needs one of its keys except the public paths
below, views marked `public_route` (they check a credential of their own) and CORS
preflights (answered before this check; other OPTIONS requests need a key). Without
API_KEY, app.web.access decides who may connect. The check runs app-wide before any route (and before
validation, so a keyless request gets 401, never a 400/422 that reveals how the
route parses input; a WebSocket upgrade gets its 401 before the upgrade). Unknown
paths need the key too, so an unauthenticated client cannot probe routes.

Keys are read from the app's current settings on every request: a settings reload
that changes API_KEY applies to the next request, no restart needed. Listing the
old and the new key together rotates keys without downtime.
"""

from __future__ import annotations

import hmac

from flask import Flask, Request, current_app, request

from ..problems import Problem
from ..runtime import settings
from ..settings import Settings

# Readable without a key. /setup's POST form enforces its own rule (loopback or key).
PUBLIC_PATHS = frozenset({"/health", "/health/session", "/setup", "/docs", "/openapi.json"})
PUBLIC_PREFIXES = ("/docs/",)
METRICS_PATH = "/metrics"
AUTH_FAILURE_KEY = "grok_web_api.auth_failure"


def presented_key(request: Request) -> str | None:
    """The key the client sent, from either header (None when absent)."""
    return key_in_environ(request.environ)


def key_in_environ(environ: dict) -> str | None:
    """The key a request carries, read from the WSGI environ (usable before Flask runs)."""
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = environ.get("HTTP_X_API_KEY", "").strip()
    return key or None


def key_is_valid(presented: str | None, keys: tuple[str, ...]) -> bool:
    """Constant-time comparison against every configured key (no early exit on a match)."""
    if not presented:
        return False
    candidate = presented.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(candidate, key.encode())
    return matched


def public_route(view):
    """Mark a view that needs no API key because it checks a credential of its own (the
    signature of an asset link); `enforce_api_key` lets requests routed to it through."""
    view.public = True
    return view


def routes_to_public_view() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return view is not None and getattr(view, "public", False)


def path_needs_key(path: str, current: Settings) -> bool:
    """Whether a request to `path` must carry a key (given that keys are configured)."""
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return False
    if path == METRICS_PATH and current.metrics_public:
        return False
    return True


def unauthorized(presented: str | None) -> Problem:
    if presented is None:
        detail = "Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'"
        challenge = 'Bearer realm="grok-web-api"'
    else:
        detail = "Invalid API key"
        challenge = 'Bearer realm="grok-web-api", error="invalid_token"'
    return Problem(401, "unauthorized", detail, headers={"WWW-Authenticate": challenge})


def enforce_api_key() -> None:
    """before_request: 401 problem+json unless the request is public or carries a key.

    CORS preflights never reach this hook (app.web.cors answers them first); any other
    OPTIONS request needs a key like every other method."""
    current = settings()
    if not current.api_keys or not path_needs_key(request.path, current) or routes_to_public_view():
        return
    presented = presented_key(request)
    if not key_is_valid(presented, current.api_keys):
        request.environ[AUTH_FAILURE_KEY] = "missing_key" if presented is None else "invalid_key"
        raise unauthorized(presented)


def register(app: Flask) -> None:
    app.before_request(enforce_api_key)
