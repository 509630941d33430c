"""A gevent-native WebSocket client on the worker's libcurl multi handle.

grok.com's mgw chat lane is a WebSocket behind Cloudflare, which refuses plain Python
WebSocket clients by their TLS fingerprint; libcurl (curl_cffi) speaks it with the same
Chrome impersonation, cookies and proxy as every REST call. Stock curl_cffi runs the
upgrade as a blocking `perform()`, which would freeze the gevent hub for its length, so:

* the upgrade is a CONNECT_ONLY transfer on the transport's multi handle, driven by the
  hub like any other transfer; once it completes the handle stays on the multi, because
  libcurl closes a connect-only connection whose handle leaves it;
* afterwards `curl_ws_recv` / `curl_ws_send` are called non-blocking, and a greenlet that
  must wait does so on a gevent watcher of the socket (through `hooks.waits`, so a chat
  start gives its start slot back meanwhile), bounded by a timeout;
* libcurl answers the server's protocol pings by itself; fragmented messages are
  reassembled here, up to `max_message_bytes`;
* `abort()` (also on garbage collection) takes the handle off the multi, which closes
  the connection at once: the server sees the client leave immediately.
"""

from __future__ import annotations

import copy
import logging
import struct
import time

import gevent
from curl_cffi.const import CurlECode, CurlInfo, CurlOpt, CurlWsFlag
from curl_cffi.curl import Curl, CurlError
from gevent.event import Event

from . import hooks
from .errors import GrokError, UpstreamConnectionError, UpstreamTimeout, error_for_status

log = logging.getLogger(__name__)

_HTTP_VERSION_1_1 = 2  # CURL_HTTP_VERSION_1_1: an upgrade is an HTTP/1.1 request
_CONNECT_ONLY_WS = 2  # CURLOPT_CONNECT_ONLY=2: do the WebSocket upgrade, then hand the socket over
_READ = 1
_WRITE = 2
_DATA = CurlWsFlag.TEXT | CurlWsFlag.BINARY | CurlWsFlag.CONT
_CLOSE_NORMAL = 1000
_CLOSE_GOING_AWAY = 1001
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# libcurl sends at most this much of a frame per call; longer payloads go as continuation frames.
_MAX_FRAME_BYTES = 65536
# What one curl_ws_recv may return (curl_cffi's default is 128 KiB per socket); grok.com's
# events are a few hundred bytes, and a longer message just takes more calls.
_RECV_BUFFER_BYTES = 16 * 1024


class WebSocketClosed(UpstreamConnectionError):
    """The server closed the WebSocket (a close frame, or the connection ended)."""

    def __init__(self, message: str, code: int | None = None, reason: str = ""):
        self.code = code
        self.reason = reason
        super().__init__(message, dropped=True)


class MessageTooBig(GrokError):
    """A message grew beyond the configured limit (the socket is closed)."""


class _Handshake:
    """Collects the upgrade answer's status line and headers (libcurl header callback)."""

    def __init__(self):
        self.status = 0
        self.lines: list[bytes] = []

    def on_header(self, line: bytes) -> int:
        stripped = line.rstrip(b"\r\n")
        if stripped.startswith(b"HTTP/"):
            parts = stripped.split(None, 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            self.lines = []
        elif stripped:
            self.lines.append(stripped)
        return len(line)

    def headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for raw in self.lines:
            name, _, value = raw.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            out[name] = f"{out[name]}, {value}" if name in out else value
        return out


def connect(transport, url: str, headers, *, timeout: float, resolve=(), max_message_bytes: int | None = None):
    """Open a WebSocket to `url` (ws:// or wss://) and return it once the upgrade is done.

    `headers` are (name, value) pairs as for `Transport.request` (None removes a header the
    impersonation profile would add). The connect phase is bounded by the transport's connect
    timeout, the whole upgrade by `timeout`. A refused upgrade raises the error its status
    classifies as (a Cloudflare challenge, expired cookies, ...); failing to connect raises
    UpstreamConnectionError / UpstreamTimeout.
    """
    from .transport import Request, _map_curl_error, configure

    pool = transport.pool
    if pool.refusing is not None:
        raise copy.copy(pool.refusing)
    curl = Curl()
    answer = _Handshake()
    try:
        configure(curl, transport, Request("GET", url, headers, None, resolve))
        curl.setopt(CurlOpt.HTTP_VERSION, _HTTP_VERSION_1_1)
        curl.setopt(CurlOpt.CONNECT_ONLY, _CONNECT_ONLY_WS)
        curl.setopt(CurlOpt.TCP_NODELAY, 1)
        curl.setopt(CurlOpt.TIMEOUT_MS, int(timeout * 1000))
        curl.setopt(CurlOpt.HEADERFUNCTION, answer.on_header)
    except BaseException:
        curl.close()
        raise
    multi = pool.multi
    multi.keep_attached(curl)
    future = multi.add_handle(curl)
    multi.kick()
    try:
        # libcurl does not apply CURLOPT_TIMEOUT to a connect-only transfer: the deadline is ours.
        if not hooks.waits.wait(future, timeout):
            raise UpstreamTimeout(f"the WebSocket upgrade did not complete within {timeout:g} s")
        if answer.status and answer.status != 101:
            raise _refused(answer.status, answer.headers())
        exc = future.exception()
        if exc is not None:
            raise _map_curl_error(exc, url)
        if answer.status != 101:
            raise UpstreamConnectionError("the server did not upgrade the connection to a WebSocket")
    except BaseException:
        _release(multi, curl)
        raise
    curl._WS_RECV_BUFFER_SIZE = _RECV_BUFFER_BYTES  # before its first receive allocates the buffer
    return WebSocket(pool, curl, url, answer.headers(), max_message_bytes or DEFAULT_MAX_MESSAGE_BYTES)


def _refused(status: int, headers: dict[str, str]) -> GrokError:
    # libcurl does not read the body of a refused upgrade; the status and headers are what we have.
    body = ""
    if status == 403 and "text/html" in headers.get("content-type", ""):
        body = "<html><title>Just a moment...</title></html>"  # how Cloudflare's challenge page begins
    elif status == 401:
        body = "unauthenticated"  # the one thing a 401 to the page's own socket can mean
    error = error_for_status(status, body, headers)
    error.message = f"WebSocket upgrade refused: {error.message}"
    return error


def _release(multi, curl: Curl) -> None:
    if curl._curl is None:
        return
    try:
        multi.remove_handle(curl)
    except CurlError:  # pragma: no cover - libcurl refused; closing the handle still frees it
        log.debug("remove_handle failed", exc_info=True)
    curl.close()


class WebSocket:
    """An open WebSocket. Use it from one greenlet at a time; always close or abort it."""

    def __init__(self, pool, curl: Curl, url: str, headers: dict[str, str], max_message_bytes: int):
        self.pool = pool
        self.curl = curl
        self.url = url
        self.headers = headers
        self.max_message_bytes = max_message_bytes
        self.closed = False
        self.close_code: int | None = None
        self.error: GrokError | None = None  # set by fail(): what the next call raises
        fd = curl.getinfo(CurlInfo.ACTIVESOCKET)
        if not isinstance(fd, int) or fd < 0:
            _release(pool.multi, curl)
            raise UpstreamConnectionError("the WebSocket has no socket after its upgrade")
        self.fd = fd
        self._ready = Event()
        loop = gevent.get_hub().loop
        self._readable = loop.io(fd, _READ)
        self._writable = loop.io(fd, _WRITE)
        self._parts: list[bytes] = []
        self._size = 0
        pool.websockets.add(self)

    # ------------------------------------------------------------------ waiting
    def _wait(self, watcher, timeout: float | None) -> bool:
        """Wait until the socket is readable/writable (or fail() woke us); False on timeout."""
        ready = self._ready
        ready.clear()
        watcher.start(ready.set)
        try:
            return hooks.waits.wait(ready, timeout)
        finally:
            if not self.closed:  # abort() has closed the watchers already
                watcher.stop()

    def _check_open(self) -> None:
        if self.error is not None:
            raise self.error
        if self.closed:
            raise WebSocketClosed("the WebSocket is closed", self.close_code)

    # ------------------------------------------------------------------ receiving
    def recv(self, timeout: float | None = None) -> bytes | None:
        """The next whole data message, or None when `timeout` seconds pass without one.

        Raises WebSocketClosed when the server closes, UpstreamConnectionError when the
        connection breaks, MessageTooBig for a message over the limit.
        """
        self._check_open()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                chunk, frame = self.curl.ws_recv()
            except CurlError as exc:
                if exc.code != CurlECode.AGAIN:
                    raise self._broken(exc) from None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                if not self._wait(self._readable, remaining):
                    return None
                self._check_open()
                continue
            flags = frame.flags
            if flags & _DATA:
                self._size += len(chunk)
                if self._size > self.max_message_bytes:
                    self._parts.clear()
                    self.abort()
                    raise MessageTooBig(f"a WebSocket message exceeds the {self.max_message_bytes}-byte limit")
                self._parts.append(chunk)
                if frame.bytesleft == 0 and not flags & CurlWsFlag.CONT:
                    parts, self._parts, self._size = self._parts, [], 0
                    return parts[0] if len(parts) == 1 else b"".join(parts)
            elif flags & CurlWsFlag.CLOSE:
                code, reason = _close_payload(chunk)
                self.close_code = code
                self.close(code if code and code != 1005 else _CLOSE_NORMAL)
                said = f"{code} {reason}".strip() if code else "no code"
                raise WebSocketClosed(f"the server closed the WebSocket ({said})", code, reason)
            # PING (answered by libcurl) and PONG frames carry nothing for us.

    def _broken(self, exc: CurlError) -> GrokError:
        self.abort()
        if exc.code == CurlECode.GOT_NOTHING:
            return WebSocketClosed("the server closed the WebSocket connection without a close frame")
        text = str(exc).split(". See https://curl.se", 1)[0].replace("Failed to WS_RECV, ", "")
        return UpstreamConnectionError(f"the WebSocket connection broke ({text})", dropped=True)

    # ------------------------------------------------------------------ sending
    def send_text(self, text: str | bytes, timeout: float = 15.0) -> None:
        """Send one text message (as continuation frames when longer than libcurl's frame size)."""
        self._send(text.encode() if isinstance(text, str) else text, CurlWsFlag.TEXT, timeout)

    def _send(self, payload: bytes, flags: int, timeout: float) -> None:
        self._check_open()
        deadline = time.monotonic() + timeout
        view = memoryview(payload)
        offset = 0
        total = len(payload)
        frame_end = 0
        current = flags
        while True:
            if offset == frame_end:
                # libcurl wants a resumed write to be exactly the rest of the frame it started.
                if total - offset > _MAX_FRAME_BYTES:
                    frame_end = offset + _MAX_FRAME_BYTES
                    current = (flags if offset == 0 else 0) | CurlWsFlag.CONT
                else:
                    frame_end = total
                    current = flags if offset == 0 else 0
            try:
                sent = self.curl.ws_send(view[offset:frame_end], current)
            except CurlError as exc:
                if exc.code != CurlECode.AGAIN:
                    raise self._broken(exc) from None
                sent = 0
            offset += sent
            if offset >= total:
                return
            if sent == 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._wait(self._writable, remaining):
                    self.abort()
                    raise UpstreamTimeout(f"could not send on the WebSocket within {timeout:g} s")
                self._check_open()

    # ------------------------------------------------------------------ ending
    def close(self, code: int = _CLOSE_NORMAL) -> None:
        """Say goodbye with a close frame (best effort, never waits), then abort."""
        if self.closed:
            return
        if self.error is None:
            try:
                self.curl.ws_send(struct.pack("!H", code), CurlWsFlag.CLOSE)
            except CurlError:
                pass
        self.abort()

    def abort(self) -> None:
        """Drop the connection now (idempotent)."""
        if self.closed:
            return
        self.closed = True
        for watcher in (self._readable, self._writable):
            watcher.stop()
            watcher.close()
        self.pool.websockets.discard(self)
        _release(self.pool.multi, self.curl)
        self._ready.set()

    def fail(self, error: GrokError) -> bool:
        """End the socket now; whoever waits on it (or calls it next) raises `error`."""
        if self.closed:
            return False
        self.error = error
        self.abort()
        return True

    def __enter__(self) -> "WebSocket":
        return self

    def __exit__(self, *exc) -> None:
        self.close(_CLOSE_GOING_AWAY if exc[0] is not None else _CLOSE_NORMAL)

    def __del__(self):  # a forgotten socket must not keep its connection open
        if not getattr(self, "closed", True):
            try:
                self.abort()
            except Exception:  # pragma: no cover
                pass


def _close_payload(payload: bytes) -> tuple[int | None, str]:
    if len(payload) < 2:
        return None, ""
    (code,) = struct.unpack("!H", payload[:2])
    return code, payload[2:].decode("utf-8", "replace")[:200]
