"""Per-request telemetry: request id, X-Response-Time, the request log line, metrics.

`RequestTelemetry` wraps the Flask WSGI app, so it sees what the client sees:
when the response headers went out, when the first body byte went out, and when
the body ended (exhausted, closed early because the client left or the server
stopped, or failed). Streaming responses are measured this way whatever route
produced them; routes do not call anything here.

One log line per request, written when its response ends (for a stream: when the
stream ends), with request_id, method, path (never the query string: it may
carry secrets), route, status, duration_ms (to the response headers, as
X-Response-Time), upstream_status when grok.com was called, and for streams
first_byte_ms, stream_ms, bytes and outcome.

Flask hooks add what only Flask knows to the WSGI environ: the matched URL rule
(the metrics label, never the raw path) and whether the response streams.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any, Iterable, Iterator
from urllib.parse import quote

from flask import Flask, Response, request

from ..grok.session import Outcome, SessionState
from ..ops import logs, shutdown
from ..ops.metrics import Metrics
from ..runtime import EXTENSION as RUNTIME
from .auth import AUTH_FAILURE_KEY

log = logging.getLogger("grok_web_api.request")

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept when it is printable ASCII without spaces, at most 128 chars.
_VALID_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_ROUTE_KEY = "grok_web_api.route"
_STREAM_KEY = "grok_web_api.stream"
_CONTINUITY_HEADER = "x-grok-continuity"
_CONTINUITY_OUTCOMES = frozenset({"continued", "new", "fallback", "off"})
_UPSTREAM_STATUS_KEY = "grok_web_api.upstream_status"
_UPSTREAM_FAILURE_KEY = "grok_web_api.upstream_failure"
_STREAM_ERROR_KEY = "grok_web_api.stream_error"
UNMATCHED_ROUTE = "unmatched"
_MAX_LOGGED_PATH = 512


def request_id_from(incoming: str | None) -> str:
    """The client's X-Request-ID when it is safe to log and echo, else a fresh one."""
    if incoming and _VALID_REQUEST_ID.match(incoming):
        return incoming
    return str(uuid.uuid4())


def _logged_path(environ: dict) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw and raw.startswith("/"):
        path = raw.split("?", 1)[0]
    else:
        path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/%:@!$&'()*+,;=-._~")
    return path if len(path) <= _MAX_LOGGED_PATH else path[:_MAX_LOGGED_PATH] + "..."


class Exchange:
    """One request/response as it happens; `finish` logs and records it once."""

    __slots__ = (
        "telemetry",
        "environ",
        "started",
        "request_id",
        "status",
        "headers_at",
        "streaming",
        "first_byte_at",
        "bytes",
        "done",
        "continuity",
        "server_start_response",
    )

    def __init__(self, telemetry: "RequestTelemetry", environ: dict, server_start_response=None):
        self.telemetry = telemetry
        self.environ = environ
        self.server_start_response = server_start_response
        self.started = time.perf_counter()
        self.request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        environ[logs.REQUEST_ID_KEY] = self.request_id
        logs.bind_request(environ)
        shutdown.connections.request_started(environ)
        self.status: int | None = None
        self.headers_at: float | None = None
        self.streaming = False
        self.first_byte_at: float | None = None
        self.bytes = 0
        self.done = False
        self.continuity: str | None = None

    @property
    def route(self) -> str:
        return self.environ.get(_ROUTE_KEY, UNMATCHED_ROUTE)

    def observed_start_response(self, status: str, headers: list, exc_info=None):
        """The start_response the app gets (a method, not a closure per request)."""
        return self.start_response(self.server_start_response, status, headers, exc_info)

    def start_response(self, start_response, status: str, headers: list, exc_info=None):
        self.headers_at = time.perf_counter()
        first = self.status is None
        self.status = int(status[:3])
        elapsed = self.headers_at - self.started
        headers = [(k, v) for k, v in headers if k.lower() not in ("x-request-id", "x-response-time")]
        headers.append((REQUEST_ID_HEADER, self.request_id))
        headers.append(("X-Response-Time", f"{elapsed * 1000:.1f}ms"))
        if first:
            self.streaming = bool(self.environ.get(_STREAM_KEY))
            metrics = self.telemetry.metrics
            metrics.request_answered(self.route, self.environ.get("REQUEST_METHOD", ""), self.status, elapsed)
            # The model APIs say how their grok.com conversation was found (docs/continuity.md).
            self.continuity = next((v for k, v in headers if k.lower() == _CONTINUITY_HEADER), None)
            if self.continuity in _CONTINUITY_OUTCOMES:
                metrics.model_turn(self.route, self.continuity)
            if self.streaming:
                metrics.stream_started(self.route)
        return start_response(status, headers, exc_info)

    def sent(self, chunk: bytes) -> None:
        if chunk and self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()
            if self.streaming:
                self.telemetry.metrics.first_byte(self.route, self.first_byte_at - self.started)
        self.bytes += len(chunk)

    def finish(self, outcome: str) -> None:
        if self.done:
            return
        self.done = True
        if outcome == "completed" and self.environ.get(_STREAM_ERROR_KEY):
            outcome = "error"  # the body ended normally, with an error event as its last word
        ended = time.perf_counter()
        if self.streaming:
            self.telemetry.metrics.stream_finished(self.route, ended - self.started, outcome)
        elif self.status is None and outcome == "websocket":  # a WebSocket session: answered by 101
            self.telemetry.metrics.request_answered(self.route, "GET", 101, ended - self.started)
        self._log(ended, outcome)
        logs.unbind_request(self.environ)

    def release(self) -> None:
        """The server is done with this response (its last byte is written)."""
        shutdown.connections.request_ended(self.environ)

    def _log(self, ended: float, outcome: str) -> None:
        environ = self.environ
        status = self.status if self.status is not None else (101 if outcome == "websocket" else None)
        method = environ.get("REQUEST_METHOD", "-")
        path = _logged_path(environ)
        fields: dict[str, Any] = {
            "request_id": self.request_id,
            "method": method,
            "path": path,
            "route": self.route,
            "status": status,
            "duration_ms": _ms((self.headers_at or ended) - self.started),
        }
        for key, name in ((_UPSTREAM_STATUS_KEY, "upstream_status"), (_UPSTREAM_FAILURE_KEY, "upstream_failure")):
            if environ.get(key) is not None:
                fields[name] = environ[key]
        if self.continuity is not None:
            fields["continuity"] = self.continuity
        auth_failure = environ.get(AUTH_FAILURE_KEY)
        if auth_failure:
            fields["auth"] = auth_failure
        if self.streaming or outcome == "websocket":
            fields["stream"] = True
            fields["first_byte_ms"] = _ms(self.first_byte_at - self.started) if self.first_byte_at else None
            fields["stream_ms"] = _ms(ended - self.started)
            fields["bytes"] = self.bytes
            fields["outcome"] = outcome
            if environ.get(_STREAM_ERROR_KEY):
                fields["stream_error"] = environ[_STREAM_ERROR_KEY]
        elif outcome != "completed":
            fields["outcome"] = outcome
        log.info("request", extra={"fields": fields, "request_id": self.request_id})


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


class ObservedBody:
    """The response body as the server iterates it; closes the inner iterable."""

    __slots__ = ("_inner", "_iterator", "_exchange")

    def __init__(self, inner: Iterable[bytes], exchange: Exchange):
        self._inner = inner
        self._iterator: Iterator[bytes] | None = None
        self._exchange = exchange

    def __iter__(self) -> "ObservedBody":
        return self

    def __next__(self) -> bytes:
        if self._iterator is None:
            self._iterator = iter(self._inner)
        try:
            chunk = next(self._iterator)
        except StopIteration:
            self._exchange.finish("completed")
            raise
        except BaseException:
            # Includes GreenletExit when the worker is killed mid-stream.
            self._exchange.finish("error")
            raise
        self._exchange.sent(chunk)
        return chunk

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            # Closed before the end: the client went away or the server stopped the stream.
            self._exchange.finish("closed_early")
            self._exchange.release()


class RequestTelemetry:
    """WSGI middleware around the Flask app (installed by `register`)."""

    def __init__(self, app: Flask, wsgi_app):
        self.wsgi_app = wsgi_app
        self.metrics: Metrics = app.extensions[RUNTIME].metrics

    def __call__(self, environ: dict, start_response):
        exchange = Exchange(self, environ, start_response)
        try:
            body = self.wsgi_app(environ, exchange.observed_start_response)
        except StopIteration:
            # flask-sock under gunicorn: the WebSocket session ran inside the view and ended.
            exchange.finish("websocket" if exchange.status is None else "completed")
            exchange.release()
            raise
        except BaseException:
            exchange.finish("error")
            exchange.release()
            raise
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(body, file_wrapper):
            # Leave it to the server's sendfile path (the connection is never closed early).
            exchange.finish("completed")
            return body
        return ObservedBody(body, exchange)


def note_stream_error(failure_class: str) -> None:
    """A streamed body is about to end with an error event (NDJSON line, SSE event, response.failed):
    its request is logged and counted with outcome=error, not completed. Works without Flask's
    request context (the environ is bound to the greenlet)."""
    environ = logs.current_environ()
    if environ is not None:
        environ[_STREAM_ERROR_KEY] = failure_class


def _note_route() -> None:
    rule = request.url_rule
    request.environ[_ROUTE_KEY] = rule.rule if rule is not None else UNMATCHED_ROUTE


def _note_streaming(response: Response) -> Response:
    request.environ[_STREAM_KEY] = response.is_streamed and request.method != "HEAD"
    return response


def _note_upstream(state: SessionState, outcome: Outcome) -> None:
    environ = logs.current_environ()  # also while a streamed body is relayed
    if environ is not None:
        environ[_UPSTREAM_STATUS_KEY] = outcome.status
        environ[_UPSTREAM_FAILURE_KEY] = outcome.error.failure_class if outcome.error else None


def register(app: Flask, state: SessionState) -> None:
    """Call before any other before_request hook, so the route is known to all of them."""
    app.before_request(_note_route)
    app.after_request(_note_streaming)
    state.observers.append(_note_upstream)
    app.wsgi_app = RequestTelemetry(app, app.wsgi_app).__call__  # type: ignore[method-assign]
