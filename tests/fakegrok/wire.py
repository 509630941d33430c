"""Low-level response writing for the fake: JSON bodies and chunked streams with abort detection."""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import time
import zlib

_POLL_MASK = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0)


class ClientGone(Exception):
    """The client closed the connection (EOF/RST seen, or a write failed)."""


def dumps(obj) -> bytes:
    """Compact JSON the way grok.com writes it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Resp:
    """A plain (Content-Length framed) response. ``body`` is bytes, or any JSON value (encoded compactly),
    or None for an empty body."""

    def __init__(self, status: int = 200, body=None, content_type: str | None = None, headers: dict | None = None):
        self.status = status
        if body is None:
            self.raw = b""
            self.content_type = content_type
        elif isinstance(body, (bytes, bytearray)):
            self.raw = bytes(body)
            self.content_type = content_type or "application/octet-stream"
        else:
            self.raw = dumps(body)
            self.content_type = content_type or "application/json"
        self.headers = dict(headers or {})


class StreamResp:
    """A streamed response: ``func(stream)`` is called with a started-on-demand ``Stream``."""

    def __init__(self, func, scenario: str | None = None):
        self.func = func
        self.scenario = scenario


class Stream:
    """Chunked HTTP/1.1 body writer bound to one handler/connection.

    Every write checks first whether the peer has gone (EOF/RST, via poll + MSG_PEEK), and every wait
    between lines polls the socket, so an abort is noticed within ~50 ms even during an idle gap.
    Accounting (started/completed/aborted/dropped) is reported to ``state``.
    """

    def __init__(self, handler, state, path: str):
        self.h = handler
        self.state = state
        self.path = path
        self.sock = handler.connection
        self.lines_sent = 0
        self.bytes_sent = 0
        self.started = False
        self.closed = False
        self.outcome = None  # completed | aborted | dropped (None: never started)
        self._gz = None
        self._poller = select.poll()
        self._poller.register(self.sock, _POLL_MASK)

    # -- liveness -------------------------------------------------------------------------------
    def _peer_gone(self, timeout_s: float) -> bool:
        """Poll for up to timeout_s; True if the client closed/reset the connection."""
        try:
            events = self._poller.poll(max(0, int(timeout_s * 1000)))
        except InterruptedError:
            return False
        if not events:
            return False
        try:
            data = self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        if not data:
            return True
        # The client sent bytes (pipelining?) - not an abort; avoid a busy loop.
        time.sleep(min(timeout_s, 0.05))
        return False

    def check_alive(self):
        if self._peer_gone(0):
            raise ClientGone("peer closed")

    def wait(self, seconds: float, cancel=None, slice_s: float = 0.2):
        """Sleep ``seconds`` while watching the socket; raise ClientGone as soon as the peer leaves
        (poll wakes on EOF/RST immediately). With ``cancel`` (a threading.Event), return early - at most
        ``slice_s`` late - once it is set."""
        deadline = time.monotonic() + max(0.0, seconds)
        while True:
            if cancel is not None and cancel.is_set():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self._peer_gone(min(remaining, slice_s) if cancel is not None else remaining):
                raise ClientGone("peer closed while idle")

    # -- writing --------------------------------------------------------------------------------
    def start(
        self, status: int = 200, content_type: str = "application/json", headers: dict | None = None, gzip: bool = False
    ):
        if self.started:
            return
        h = self.h
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Cache-Control", "no-store")
        if gzip:
            h.send_header("Content-Encoding", "gzip")
            self._gz = zlib.compressobj(6, zlib.DEFLATED, 31)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.entry_status(status)
        try:
            h.end_headers()
        except OSError as exc:
            raise ClientGone(str(exc)) from None
        self.started = True
        self.state.stream_started()

    def _send(self, data: bytes):
        try:
            self.h.wfile.write(data)
        except OSError as exc:  # BrokenPipe, ConnectionReset, timeout
            raise ClientGone(str(exc)) from None
        self.bytes_sent += len(data)

    def chunk(self, data: bytes):
        """Write one chunk (after gzip, if enabled). Empty data is skipped (it would end the body)."""
        if not self.started:
            self.start()
        self.check_alive()
        if self._gz is not None:
            data = self._gz.compress(data) + self._gz.flush(zlib.Z_SYNC_FLUSH)
        if not data:
            return
        self._send(b"%x\r\n" % len(data) + data + b"\r\n")

    def line(self, obj):
        """Write one NDJSON line (obj may be bytes, or a JSON value)."""
        data = obj if isinstance(obj, (bytes, bytearray)) else dumps(obj)
        self.chunk(bytes(data) + b"\n")
        self.lines_sent += 1

    def big_line(self, data: bytes, piece: int = 1 << 20):
        """Write one (huge) line, split into several HTTP chunks."""
        for i in range(0, len(data), piece):
            self.chunk(data[i : i + piece])
        self.chunk(b"\n")
        self.lines_sent += 1

    def finish(self):
        if not self.started:
            self.start()
        tail = b""
        if self._gz is not None:
            tail = self._gz.flush(zlib.Z_FINISH)
            self._gz = None
        if tail:
            self._send(b"%x\r\n" % len(tail) + tail + b"\r\n")
        self._send(b"0\r\n\r\n")
        self.closed = True
        self.outcome = "completed"
        self.state.stream_ended("completed", self.path, self.lines_sent)

    def drop(self, rst: bool = False):
        """Send a chunk header promising more bytes than follow, then kill the connection."""
        if not self.started:
            self.start()
        partial = b'{"result":{"response":{"token":"trunc'
        try:
            self._send(b"%x\r\n" % (len(partial) + 64) + partial)
        except ClientGone:
            pass
        self.h.close_connection = True
        try:
            if rst:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # makefile() objects keep the fd alive after close(); detach + os.close sends the RST now.
                os.close(self.sock.detach())
            else:
                self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.closed = True
        self.outcome = "dropped"
        self.state.stream_ended("dropped", self.path, self.lines_sent)

    def abort(self):
        """Record that the client went away mid-stream."""
        if self.closed:
            return
        self.closed = True
        self.h.close_connection = True
        if self.started:
            self.outcome = "aborted"
            self.state.stream_ended("aborted", self.path, self.lines_sent)

    def ensure_closed(self):
        """Called in a finally: a stream neither finished nor aborted counts as aborted."""
        if not self.closed:
            self.abort()
