"""RFC 7807 errors: one exception type, one handler, and the upstream-error mapping.

Every error body is `application/problem+json` with `type`, `title`, `status`,
`detail`, and also an OpenAI-style `error` object ({message, type, param, code}),
so OpenAI SDKs show the detail instead of a generic message. Upstream failures
carry `failure_class` and `advice` (what the operator should do).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import marshmallow as ma
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from .grok import errors as gerr

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# type -> title; the error table of docs/api.md lists the same.
TITLES = {
    "bad_request": "Bad Request",
    "unauthorized": "Unauthorized",
    "forbidden": "Forbidden",
    "not_found": "Not Found",
    "method_not_allowed": "Method Not Allowed",
    "invalid_request": "Invalid Request Body",
    "invalid_query": "Invalid Query Parameters",
    "invalid_path": "Invalid Path Parameter",
    "payload_too_large": "Payload Too Large",
    "settings_not_writable": "Settings File Not Writable",
    "request_timeout": "Request Timeout",
    "unsupported_media_type": "Unsupported Media Type",
    "not_configured": "Not Configured",
    "auth_expired": "Session Expired",
    "anti_bot": "Anti-Bot Rejected",
    "account_blocked": "Account Blocked",
    "rate_limited": "Rate Limited",
    "upstream_error": "Upstream Error",
    "stream_error": "Stream Error",
    "gateway_timeout": "Gateway Timeout",
    "upstream_unavailable": "Upstream Unavailable",
    "shutting_down": "Server Shutting Down",
    "content_moderated": "Content Moderated",
    "upgrade_required": "Upgrade Required",
    "turn_in_progress": "Turn In Progress",
    "no_active_turn": "No Active Turn",
    "previous_response_not_found": "Previous Response Not Found",
    "context_length_exceeded": "Context Length Exceeded",
    "internal": "Internal Server Error",
}

# OpenAI's error `type` vocabulary, for the `error` member.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem+json body."""

    def __init__(
        self,
        status: int,
        type_: str,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        param: str | None = None,
        **extra: Any,
    ):
        super().__init__(detail)
        self.status = status
        self.type = type_
        self.title = title or TITLES.get(type_, "Error")
        self.detail = detail
        self.headers = headers or {}
        self.param = param
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail}
        body.update(self.extra)
        body["error"] = {
            "message": self.detail,
            "type": _OPENAI_TYPES.get(self.status, "api_error" if self.status >= 500 else "invalid_request_error"),
            "param": self.param,
            "code": self.type,
        }
        return body

    def response(self) -> Response:
        resp = Response(json.dumps(self.body(), ensure_ascii=False), status=self.status, mimetype=PROBLEM_JSON)
        for name, value in self.headers.items():
            resp.headers[name] = value
        return resp


class OpenAIErrorSchema(ma.Schema):
    message = ma.fields.String()
    type = ma.fields.String(metadata={"description": "OpenAI's error type vocabulary"})
    param = ma.fields.String(allow_none=True)
    code = ma.fields.String(metadata={"description": "the problem type"})


class ProblemSchema(ma.Schema):
    """Every error body (application/problem+json); documentation only."""

    type = ma.fields.String(metadata={"description": "machine-readable problem type (docs/api.md: errors)"})
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String(metadata={"description": "what went wrong and what to do about it"})
    failure_class = ma.fields.String(metadata={"description": "upstream failures: which layer broke"})
    upstream_status = ma.fields.Integer(metadata={"description": "upstream failures: grok.com's status"})
    retry_after_seconds = ma.fields.Integer(metadata={"description": "rate limits: when to retry"})
    errors = ma.fields.Dict(metadata={"description": "validation failures: field -> messages"})
    error = ma.fields.Nested(OpenAIErrorSchema, metadata={"description": "the same error, OpenAI-style"})


def not_configured(missing: list[str]) -> Problem:
    return Problem(
        503,
        "not_configured",
        f"grok.com credentials are not configured: set {', '.join(missing)}. Open /setup for instructions.",
        missing=missing,
    )


# What a client sees for each upstream failure class, on every route and whichever way grok.com
# reported it (an HTTP status or an error inside its answer): (status, problem type, headers).
# docs/api.md (errors) and docs/troubleshooting.md list the same.
FAILURE_PROBLEMS: dict[str, tuple[int, str, dict[str, str]]] = {
    gerr.AUTH_EXPIRED: (503, "auth_expired", {}),
    gerr.ANTI_BOT: (403, "anti_bot", {}),
    gerr.STALE_CHALLENGE: (403, "anti_bot", {}),
    gerr.CLOUDFLARE: (403, "anti_bot", {}),
    gerr.CASTLE: (403, "anti_bot", {}),
    gerr.ACCOUNT_BLOCKED: (403, "account_blocked", {}),
    gerr.USAGE_LIMIT: (429, "rate_limited", {}),
    gerr.RATE_LIMITED: (429, "rate_limited", {}),
    gerr.MODEL_UNAVAILABLE: (404, "not_found", {}),
    gerr.NOT_FOUND: (404, "not_found", {}),
    gerr.PAYLOAD_OUTDATED: (502, "upstream_error", {}),
    gerr.UPSTREAM: (502, "upstream_error", {}),
    gerr.STREAM: (502, "upstream_error", {}),
    gerr.TIMEOUT: (504, "gateway_timeout", {}),
    gerr.NETWORK: (503, "upstream_unavailable", {}),
    gerr.SHUTTING_DOWN: (503, "shutting_down", {"Retry-After": "1"}),
    gerr.NOT_CONFIGURED: (503, "not_configured", {}),
    gerr.STATSIG_UNAVAILABLE: (503, "upstream_unavailable", {}),
    gerr.REST_LANE_RETIRED: (502, "upstream_error", {}),
    # The client's request is what is too big (OpenAI's own code for it; agents compact on it).
    gerr.CONTEXT_TOO_LONG: (400, "context_length_exceeded", {}),
}
# A connection that broke mid-answer is grok.com failing, not grok.com out of reach.
_DROPPED = (502, "upstream_error", {})


def from_grok_error(exc: gerr.GrokError) -> Problem:
    """The problem a client sees for an upstream failure: the failure class's row of
    FAILURE_PROBLEMS, plus what the exception itself knows (grok.com's status or
    in-band code, when to retry)."""
    status, type_, headers = FAILURE_PROBLEMS.get(exc.failure_class, FAILURE_PROBLEMS[gerr.UPSTREAM])
    if isinstance(exc, gerr.UpstreamConnectionError) and exc.dropped:
        status, type_, headers = _DROPPED
    headers = dict(headers)
    extra: dict[str, Any] = {"failure_class": exc.failure_class}
    message = exc.message
    if isinstance(exc, gerr.UpstreamHTTPError):
        extra["upstream_status"] = exc.status
    if isinstance(exc, gerr.StreamError):
        message = f"grok.com: {message}"
        if exc.code is not None:
            extra["upstream_code"] = exc.code
    if isinstance(exc, gerr.RateLimited) and exc.retry_after is not None:
        seconds = max(1, int(round(exc.retry_after)))
        extra["retry_after_seconds"] = seconds
        headers["Retry-After"] = str(seconds)
    # detail = "<what happened>. <what to do>"
    return Problem(status, type_, f"{message.rstrip('. ')}. {exc.advice}", headers=headers, **extra)


def _http_exception(exc: HTTPException) -> Problem:
    code = exc.code or 500
    if code == 404:
        return Problem(404, "not_found", f"No route matched: {request.method} {request.path}")
    if code == 405:
        allowed = sorted(m for m in (exc.valid_methods or []))  # type: ignore[attr-defined]
        headers = {"Allow": ", ".join(allowed)} if allowed else {}
        return Problem(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed on {request.path}; allowed: {', '.join(allowed)}",
            headers=headers,
        )
    if code == 413:
        limit = request.max_content_length
        detail = f"request body too large; the limit is {limit} bytes" if limit else "request body too large"
        return Problem(413, "payload_too_large", detail, **({"limit_bytes": limit} if limit else {}))
    if code == 415:
        return Problem(415, "unsupported_media_type", exc.description or "unsupported media type")
    if code == 408:
        return Problem(408, "request_timeout", exc.description or "the request body did not arrive in time")
    if code == 422 or code == 400:
        messages = getattr(exc, "data", {}).get("messages") if hasattr(exc, "data") else None
        if messages:
            return validation_problem(messages, code)
        return Problem(400, "bad_request", exc.description or "bad request")
    type_ = {401: "unauthorized", 403: "forbidden"}.get(code, "bad_request" if code < 500 else "internal")
    return Problem(code, type_, exc.description or exc.name)


def problem_for_http(exc: HTTPException) -> Problem:
    """The problem for a werkzeug HTTP error (routing, method, size, validation)."""
    return _http_exception(exc)


def validation_problem(messages: dict, status: int = 422) -> Problem:
    """A problem naming every invalid field (from webargs/marshmallow messages by location)."""
    flat: dict[str, Any] = {}
    locations = []
    for location, fields in messages.items():
        locations.append(location)
        if isinstance(fields, dict):
            for name, msgs in _flatten(fields, whole="query" if location == "query" else "body"):
                flat[name] = msgs
        else:
            flat[location] = fields
    type_ = "invalid_request"
    if locations and all(loc == "query" for loc in locations):
        type_ = "invalid_query"
    elif locations and all(loc in ("path", "view_args") for loc in locations):
        type_ = "invalid_path"
    if type_ != "invalid_request" and status == 422:
        status = 400
    where = {"invalid_query": "query parameter", "invalid_path": "path parameter"}.get(type_, "field")
    if set(flat) == {"json"}:
        detail = "the request body is not valid JSON"
    else:
        name, msgs = next(iter(flat.items()), ("body", ["invalid"]))
        msg = msgs[0] if isinstance(msgs, list) and msgs else msgs
        detail = f"invalid {where} '{name}': {msg}"
        if len(flat) > 1:
            detail += f" (and {len(flat) - 1} more: {', '.join(list(flat)[1:])})"
    return Problem(status, type_, detail, param=next(iter(flat), None), errors=flat)


def _flatten(fields: dict, prefix: str = "", whole: str = "body"):
    # Names as a client writes them: messages[0].content[1].text. marshmallow files
    # whole-object errors (e.g. a JSON array for an object) under "_schema".
    for name, msgs in fields.items():
        if isinstance(name, int):
            key = f"{prefix}[{name}]"
        elif name == "_schema":
            key = prefix or whole
        else:
            key = f"{prefix}.{name}" if prefix else str(name)
        if isinstance(msgs, dict):
            yield from _flatten(msgs, key, whole)
        else:
            yield key, msgs


def register(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(exc: Problem):
        return exc.response()

    @app.errorhandler(gerr.GrokError)
    def _grok(exc: gerr.GrokError):
        log.warning("upstream failure: %s (%s)", exc.message, exc.failure_class)
        return from_grok_error(exc).response()

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return _http_exception(exc).response()

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return Problem(500, "internal", "internal server error; the server log has the details").response()
