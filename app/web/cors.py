"""CORS for browser clients, origins from CORS_ORIGINS (default `*`).

Preflights (OPTIONS with Access-Control-Request-Method) are answered 204 here,
before the API-key check: browsers never send credentials on a preflight.
Credentials mode is never allowed: clients authenticate with a header, not a
cookie. Requested headers are allowed as asked (SDKs add their own, e.g.
the openai JS SDK's x-stainless-*), on top of the ones this API reads.
"""

from __future__ import annotations

import re

from flask import Flask, Response, request

from ..runtime import settings

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
ALLOWED_HEADERS = (
    "Authorization",
    "x-api-key",
    "Content-Type",
    "X-Request-ID",
    "X-Reasoning-Output",
    "X-Grok-Continuity",
    "X-Grok-Conversation-Id",
)
EXPOSED_HEADERS = (
    "X-Request-ID, X-Response-Time, Retry-After, WWW-Authenticate, X-Grok-Conversation-Id, X-Grok-Continuity"
)
MAX_AGE_SECONDS = "600"
# A comma-separated list of header names (RFC 9110 tokens).
_HEADER_LIST = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$")


def allowed_origin(origin: str | None, origins: tuple[str, ...]) -> str | None:
    """The Access-Control-Allow-Origin value for `origin`, or None when it is not allowed."""
    if "*" in origins:
        return "*"
    if origin and origin in origins:
        return origin
    return None


def _cors_headers(response: Response, preflight: bool) -> None:
    origins = settings().cors_origins
    if "*" not in origins:
        response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if origin is None:
        return
    allow = allowed_origin(origin, origins)
    if allow is None:
        return
    response.headers["Access-Control-Allow-Origin"] = allow
    if not preflight:
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return
    response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    headers = list(ALLOWED_HEADERS)
    requested = request.headers.get("Access-Control-Request-Headers", "").strip()
    if requested and _HEADER_LIST.match(requested):
        known = {h.lower() for h in headers}
        headers += [h.strip() for h in requested.split(",") if h.strip().lower() not in known]
    response.headers["Access-Control-Allow-Headers"] = ", ".join(headers)
    response.headers["Access-Control-Max-Age"] = MAX_AGE_SECONDS
    response.vary.add("Access-Control-Request-Headers")


def answer_preflight() -> Response | None:
    """before_request: a preflight gets 204 with the CORS grant (or without, if refused)."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    response = Response(status=204)
    del response.headers["Content-Type"]
    _cors_headers(response, preflight=True)
    return response


def add_cors_headers(response: Response) -> Response:
    """after_request: the origin grant and exposed headers on every other response."""
    if "Access-Control-Allow-Methods" not in response.headers:
        _cors_headers(response, preflight=False)
    return response


def register(app: Flask) -> None:
    app.before_request(answer_preflight)
    app.after_request(add_cors_headers)
