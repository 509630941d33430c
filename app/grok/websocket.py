"""A gevent-native WebSocket client on the worker's libcurl multi handle.

grok.com's mgw chat lane is a WebSocket behind Cloudflare, which refuses plain Python
WebSocket clients by their TLS fingerprint; libcurl (curl_cffi) speaks it with the same
Chrome impersonation, cookies and proxy as every REST call. Stock curl_cffi runs the
upgrade as a blocking `perform()`, which would freeze the gevent hub for its length, so:

* the upgrade is a CONNECT_ONLY transfer on the transport's multi handle, driven by the
  hub like any other transfer; once it completes the handle stays on the multi, because
  libcurl closes a connect-only connection whose handle leaves it;
* afterwards the frames (RFC 6455) are read and written here, over libcurl's plain byte
  calls on the connection (`curl_easy_recv` / `curl_easy_send`, non-blocking; they pass
  through its TLS and proxy layers), and a greenlet that must wait does so on a gevent
  watcher of the socket (through `hooks.waits`, so a chat start gives its start slot back
  meanwhile), bounded by a timeout. libcurl's own frame calls (`curl_ws_recv/send`) would
  give every socket two 64 KB frame buffers for its whole life, and curl_cffi a receive
  buffer of its own: about 190 KB of a worker's memory per open socket, where one read
  buffer shared by the worker's sockets does;
* the server's pings are answered with pongs; fragmented messages are reassembled here,
  up to `max_message_bytes`;
* `abort()` (also on garbage collection) takes the handle off the multi, which closes
  the connection at once: the server sees the client leave immediately.
"""

from __future__ import annotations

import copy
import logging
import os
import struct
import time
from collections import deque

import gevent
from cffi import FFI
from curl_cffi import _wrapper
from curl_cffi._wrapper import ffi as curl_ffi
from curl_cffi.const import CurlECode, CurlInfo, CurlOpt
from curl_cffi.curl import Curl, CurlError
from gevent.event import Event

from . import hooks
from .errors import GrokError, UpstreamConnectionError, UpstreamTimeout, error_for_status

log = logging.getLogger(__name__)

_HTTP_VERSION_1_1 = 2  # CURL_HTTP_VERSION_1_1: an upgrade is an HTTP/1.1 request
_CONNECT_ONLY_WS = 2  # CURLOPT_CONNECT_ONLY=2: do the WebSocket upgrade, then hand the socket over
_READ = 1
_WRITE = 2
_CLOSE_NORMAL = 1000
_CLOSE_GOING_AWAY = 1001
_CLOSE_PROTOCOL_ERROR = 1002
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# What one read takes from the connection, into the buffer the pool's sockets share.
_READ_BYTES = 64 * 1024
# How long answering a server ping may wait for the socket to take it.
_PONG_TIMEOUT = 15.0

# RFC 6455 opcodes
_OP_CONT, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_DATA_OPS = (_OP_CONT, _OP_TEXT, _OP_BINARY)
_CONTROL_OPS = (_OP_CLOSE, _OP_PING, _OP_PONG)
_FIN = 0x80
_RSV = 0x70
_MASKED = 0x80


class _ByteCalls:
    """libcurl's `curl_easy_recv` / `curl_easy_send`, which curl_cffi's compiled bindings leave
    out: bound here from the very library curl_cffi loaded, so they act on its handles."""

    def __init__(self):
        self.ffi = FFI()
        self.ffi.cdef(
            "int curl_easy_recv(void *curl, void *buffer, size_t buflen, size_t *n);"
            "int curl_easy_send(void *curl, const void *buffer, size_t buflen, size_t *n);"
        )
        self.lib = self.ffi.dlopen(_wrapper.__file__)

    def handle(self, curl: Curl):
        """`curl`'s easy handle as a pointer of this binding."""
        return self.ffi.cast("void *", int(curl_ffi.cast("uintptr_t", curl._curl)))


_byte_calls: _ByteCalls | None = None  # the binding: one per process, holds no per-socket state


def _bindings() -> _ByteCalls:
    global _byte_calls
    if _byte_calls is None:
        _byte_calls = _ByteCalls()
    return _byte_calls


class _ReadBuffer:
    """The buffer a pool's sockets read into, one at a time: each read is copied out before
    anything can yield, so one buffer serves every socket of the worker."""

    def __init__(self, calls: _ByteCalls):
        self.data = calls.ffi.new("char[]", _READ_BYTES)
        self.count = calls.ffi.new("size_t *")
        self.sent = calls.ffi.new("size_t *")
        self.view = calls.ffi.buffer(self.data)


def _read_buffer(pool, calls: _ByteCalls) -> _ReadBuffer:
    buffer = pool.websocket_read_buffer
    if buffer is None:
        buffer = pool.websocket_read_buffer = _ReadBuffer(calls)
    return buffer


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


def connect(
    transport, url: str, headers, *, timeout: float, resolve=(), max_message_bytes: int | None = None, proxy=None
):
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
        configure(curl, transport, Request("GET", url, headers, None, resolve, proxy))
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
        calls = _bindings()
        self._lib = calls.lib
        self._handle = calls.handle(curl)
        self._buffer = _read_buffer(pool, calls)
        self._frames = _FrameReader(max_message_bytes)
        self._ended: GrokError | None = None  # how the connection ended, raised once its messages are out
        self._ready = Event()
        loop = gevent.get_hub().loop
        self._readable = loop.io(fd, _READ)
        self._writable = loop.io(fd, _WRITE)
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
        messages = self._frames.messages
        deadline = None
        while True:
            if self.error is not None:
                raise self.error
            if messages:
                return messages.popleft()
            if self._ended is not None:
                ended, self._ended = self._ended, None
                raise ended
            if self.closed:
                raise WebSocketClosed("the WebSocket is closed", self.close_code)
            if self._read():
                continue
            if deadline is None and timeout is not None:
                deadline = time.monotonic() + timeout
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            if not self._wait(self._readable, remaining):
                return None

    def _read(self) -> bool:
        """Take what the connection has (False: nothing yet) and decode its frames."""
        buffer = self._buffer
        code = self._lib.curl_easy_recv(self._handle, buffer.data, _READ_BYTES, buffer.count)
        if code == CurlECode.AGAIN:
            return False
        if code != CurlECode.OK:
            self._ended = self._broken(code)
            return True
        count = buffer.count[0]
        if count == 0:
            self.abort()
            self._ended = WebSocketClosed("the server closed the WebSocket connection without a close frame")
            return True
        frames = self._frames
        try:
            frames.feed(buffer.view[:count])
        except MessageTooBig as exc:
            self.abort()
            self._ended = exc
            return True
        except _ProtocolError as exc:
            self.close(_CLOSE_PROTOCOL_ERROR)
            self._ended = UpstreamConnectionError(f"the WebSocket connection broke ({exc})", dropped=True)
            return True
        while frames.pings:
            self._send_frame(_OP_PONG, frames.pings.popleft(), _PONG_TIMEOUT)
        if frames.close is not None:
            code, reason = frames.close
            self.close_code = code
            self.close(code if code and code != 1005 else _CLOSE_NORMAL)
            said = f"{code} {reason}".strip() if code else "no code"
            self._ended = WebSocketClosed(f"the server closed the WebSocket ({said})", code, reason)
        return True

    def _broken(self, code: int) -> GrokError:
        text = self._curl_error(code)
        self.abort()
        return UpstreamConnectionError(f"the WebSocket connection broke ({text})", dropped=True)

    def _curl_error(self, code: int) -> str:
        error = self.curl._get_error(code, "use the WebSocket")
        return str(error).split(". See https://curl.se", 1)[0].replace("Failed to use the WebSocket, ", "")

    # ------------------------------------------------------------------ sending
    def send_text(self, text: str | bytes, timeout: float = 15.0) -> None:
        """Send one text message (one frame, as a browser sends it)."""
        self._send_frame(_OP_TEXT, text.encode() if isinstance(text, str) else text, timeout)

    def _send_frame(self, opcode: int, payload: bytes, timeout: float) -> None:
        self._check_open()
        data = _client_frame(opcode, payload)
        pointer = _bindings().ffi.from_buffer(data)
        sent = self._buffer.sent
        total = len(data)
        offset = 0
        deadline = None
        while True:
            code = self._lib.curl_easy_send(self._handle, pointer + offset, total - offset, sent)
            if code == CurlECode.OK:
                offset += sent[0]
                if offset >= total:
                    return
            elif code != CurlECode.AGAIN:
                raise self._broken(code)
            if deadline is None:
                deadline = time.monotonic() + timeout
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
            data = _client_frame(_OP_CLOSE, struct.pack("!H", code))
            self._lib.curl_easy_send(self._handle, data, len(data), self._buffer.sent)
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


# --------------------------------------------------------------------------------------------
# frames (RFC 6455 section 5)
# --------------------------------------------------------------------------------------------
class _ProtocolError(Exception):
    """The server broke the framing rules; the connection cannot be read further."""


class _FrameReader:
    """The server's frames, fed as the bytes come, as whole data messages (`messages`), pings
    to answer (`pings`) and the close frame's (code, reason) (`close`; nothing after it is read).

    A data message over `max_message_bytes` raises MessageTooBig as soon as a frame header
    announces it, before its payload is buffered; a frame no server may send raises
    _ProtocolError.
    """

    def __init__(self, max_message_bytes: int):
        self.max_message_bytes = max_message_bytes
        self.messages: deque[bytes] = deque()
        self.pings: deque[bytes] = deque()
        self.close: tuple[int | None, str] | None = None
        self._head = b""  # an incomplete frame header
        self._opcode = -1  # of the frame being read; -1 between frames
        self._final = False
        self._left = 0  # its payload bytes still to come
        self._parts: list[bytes] = []  # the data message so far
        self._size = 0
        self._control: list[bytes] = []  # the control frame's payload so far

    def feed(self, data: bytes) -> None:
        if self._head:
            data = self._head + data
            self._head = b""
        pos = 0
        end = len(data)
        while pos < end and self.close is None:
            if self._opcode < 0:
                pos = self._header(data, pos, end)
                if pos < 0:
                    return
            if self._left:
                take = min(self._left, end - pos)
                piece = data[pos : pos + take]
                pos += take
                self._left -= take
                if self._opcode in _DATA_OPS:
                    self._parts.append(piece)
                else:
                    self._control.append(piece)
            if not self._left:
                self._frame_done()

    def _header(self, data: bytes, pos: int, end: int) -> int:
        """Read a frame header at `pos`: the position after it, or -1 when it is incomplete."""
        if end - pos < 2:
            self._head = data[pos:]
            return -1
        first, second = data[pos], data[pos + 1]
        length = second & 0x7F
        size = 4 if length == 126 else 10 if length == 127 else 2
        if end - pos < size:
            self._head = data[pos:]
            return -1
        if second & _MASKED:
            raise _ProtocolError("the server masked a frame")
        if first & _RSV:
            raise _ProtocolError("a frame uses an extension that was not negotiated")
        if size > 2:
            length = int.from_bytes(data[pos + 2 : pos + size], "big")
        opcode = first & 0x0F
        final = bool(first & _FIN)
        if opcode in _DATA_OPS:
            if self._size + length > self.max_message_bytes:
                raise MessageTooBig(f"a WebSocket message exceeds the {self.max_message_bytes}-byte limit")
            self._size += length
        elif opcode in _CONTROL_OPS:
            if not final or length > 125:
                raise _ProtocolError("a control frame is fragmented or longer than 125 bytes")
        else:
            raise _ProtocolError(f"unknown opcode {opcode:#x}")
        self._opcode, self._final, self._left = opcode, final, length
        return pos + size

    def _frame_done(self) -> None:
        opcode, self._opcode = self._opcode, -1
        if opcode in _DATA_OPS:
            if self._final:
                parts, self._parts, self._size = self._parts, [], 0
                self.messages.append(parts[0] if len(parts) == 1 else b"".join(parts))
            return
        payload = b"".join(self._control)
        self._control = []
        if opcode == _OP_PING:
            self.pings.append(payload)
        elif opcode == _OP_CLOSE:
            self.close = _close_payload(payload)
        # a pong carries nothing for us


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """One final frame from the client: masked with a fresh key, as RFC 6455 requires."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", _FIN | opcode, _MASKED | length)
    elif length < 65536:
        head = struct.pack("!BBH", _FIN | opcode, _MASKED | 126, length)
    else:
        head = struct.pack("!BBQ", _FIN | opcode, _MASKED | 127, length)
    key = os.urandom(4)
    if not length:
        return head + key
    stream = (key * (length // 4 + 1))[:length]
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")
    return head + key + masked.to_bytes(length, "little")


def _close_payload(payload: bytes) -> tuple[int | None, str]:
    if len(payload) < 2:
        return None, ""
    (code,) = struct.unpack("!H", payload[:2])
    return code, payload[2:].decode("utf-8", "replace")[:200]
