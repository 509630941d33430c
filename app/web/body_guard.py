"""Request bodies: a time limit on receiving them, and no draining of bodies nobody read.

A client that declares a body and sends it slowly (or never) ties up a connection for as
long as the server waits. Every read of the body goes through `TimedBody`: each piece must
arrive within BODY_IDLE_TIMEOUT_SECS and the whole body within BODY_TIMEOUT_SECS, or the
request ends with 408 and the connection is closed.

When the app answers before reading the body (a 401 without a key, a 403, a 413), gunicorn
would read and discard the rest of it before serving the next request on the connection
(for up to its keep-alive time, per connection). Instead the response says
`Connection: close` and gunicorn closes the connection after it: a client without a key
costs nothing more than its headers.

Reading also yields to the other greenlets every YIELD_EVERY bytes: a large body that has
already arrived is otherwise read in one stretch of CPU.

`BodyGuard` is the outermost WSGI middleware, so the start_response it gets is gunicorn's
own (a bound method of gunicorn's response, whose `force_close` it calls); under another
server it only bounds the reads.
"""

from __future__ import annotations

import time

from gevent import Timeout
from werkzeug.exceptions import RequestTimeout

from ..engine.pacing import give_turn
from ..runtime import EXTENSION

READ_PIECE = 16 * 1024  # the idle timeout applies per piece of this size
# Reading a body that is already in the socket buffer never waits, so gevent never switches: an
# 80 MB upload read in one go kept /health waiting for seconds. After this many bytes the
# reader yields to the hub (make bench-hostile).
YIELD_EVERY = 256 * 1024


class BodyTimeout(RequestTimeout):
    """The client did not send its request body in time (408; the connection is closed)."""

    def __init__(self, why: str):
        super().__init__(f"the request body did not arrive in time: {why}")


class TimedBody:
    """The WSGI input stream with the time limits; knows whether the body was read to its end."""

    def __init__(self, stream, length: int | None, idle: float, total: float):
        self._stream = stream
        self._left = length  # None: chunked, read until EOF
        self._idle = idle
        self._deadline = time.monotonic() + total
        self._total = total
        self._unyielded = 0
        self.finished = length == 0

    def _piece(self, size: int) -> bytes:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise BodyTimeout(f"not complete after {self._total:g} s (BODY_TIMEOUT_SECS)")
        wait = min(self._idle, left)
        try:
            with Timeout(wait):
                data = self._stream.read(size)
        except Timeout:
            if wait < self._idle:
                raise BodyTimeout(f"not complete after {self._total:g} s (BODY_TIMEOUT_SECS)") from None
            raise BodyTimeout(f"nothing received for {self._idle:g} s (BODY_IDLE_TIMEOUT_SECS)") from None
        if self._left is not None:
            self._left -= len(data)
        if not data or self._left == 0:
            self.finished = True
        self._unyielded += len(data)
        if self._unyielded >= YIELD_EVERY:
            self._unyielded = 0
            give_turn()
        return data

    def read(self, size: int | None = -1) -> bytes:
        if self.finished:
            return b""
        want = self._left if size is None or size < 0 else size
        parts = []
        got = 0
        while not self.finished and (want is None or got < want):
            step = READ_PIECE if want is None else min(READ_PIECE, want - got)
            data = self._piece(step)
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def readline(self, size: int | None = -1) -> bytes:
        if self.finished:
            return b""
        limit = READ_PIECE if size is None or size < 0 else min(size, READ_PIECE)
        left = self._deadline - time.monotonic()
        wait = min(self._idle, max(left, 0))
        try:
            with Timeout(wait):
                line = self._stream.readline(limit)
        except Timeout:
            raise BodyTimeout(f"nothing received for {wait:g} s") from None
        if self._left is not None:
            self._left -= len(line)
        if not line or self._left == 0:
            self.finished = True
        return line

    def readlines(self, hint=None) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self):
        return iter(self.readline, b"")


class BodyGuard:
    """WSGI middleware (outermost): timed body reads, and `Connection: close` after an answer
    that left the body unread."""

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        chunked = "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower()
        current = self.app.extensions[EXTENSION].settings
        body = TimedBody(
            environ["wsgi.input"], None if chunked else max(length, 0), current.body_idle_timeout, current.body_timeout
        )
        environ["wsgi.input"] = body

        def closing_start_response(status, headers, exc_info=None):
            if not body.finished:
                force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
                if force_close is not None:
                    force_close()  # gunicorn: "Connection: close", and no drain before closing
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, closing_start_response)
