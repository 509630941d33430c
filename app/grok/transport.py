"""gevent-native HTTP transport: libcurl's multi socket API driven by the gevent hub.

Every stock curl_cffi call blocks the whole hub for the length of a transfer
(measured; docs/design.md: the transport). Here libcurl's sockets and timers are
registered as gevent watchers instead, so transfers progress cooperatively
while the worker keeps serving other requests, with one OS thread.

curl_cffi's `AsyncCurl` already holds the multi bookkeeping and the compiled
socket/timer callbacks; those callbacks only need an object with the asyncio
loop methods `call_later`, `add_reader`, `add_writer`, `remove_reader`,
`remove_writer` and `create_future`, which `_HubLoop` provides. That couples
us to curl_cffi internals, hence the exact version pin in setup.cfg and the
contract tests in tests/contract.

One libcurl multi handle per worker process and kind (`CurlPool`), created lazily
after fork; `Transport` objects carry the options (proxy, timeouts) and are built
from the settings.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import gevent
from curl_cffi._wrapper import lib
from curl_cffi.aio import CURL_POLL_NONE, CURL_SOCKET_TIMEOUT, AsyncCurl
from curl_cffi.const import CurlInfo, CurlMOpt, CurlOpt
from curl_cffi.curl import CURL_WRITEFUNC_PAUSE, CURLPAUSE_CONT, DEFAULT_CACERT, Curl, CurlError
from gevent.event import Event

from . import hooks
from .errors import GrokError, ResponseTooLarge, TransportError, UpstreamConnectionError, UpstreamTimeout

log = logging.getLogger(__name__)

IMPERSONATE = "chrome136"
ACCEPT_ENCODING = b"gzip, deflate, br, zstd"

_HTTP_VERSION_2TLS = 4  # CURL_HTTP_VERSION_2TLS
_UPLOAD_BUFFER_BYTES = 16 * 1024  # libcurl's minimum
# The most a buffered (non-streamed) answer may hold: far above any grok.com JSON answer (a long
# conversation is a few MB); beyond it the request fails with ResponseTooLarge (a 502).
MAX_BUFFERED_RESPONSE_BYTES = 64 * 1024 * 1024
_READ = 1
_WRITE = 2

# libcurl error codes (https://curl.se/libcurl/c/libcurl-errors.html)
_E_TIMEOUT = 28
_CONNECT_CODES = {5, 6, 7, 35, 60}  # proxy/host resolution, connect, TLS handshake, cert


class _TimerHandle:
    __slots__ = ("_watcher",)

    def __init__(self, watcher):
        self._watcher = watcher

    def cancel(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher.close()
            self._watcher = None


class _Future:
    """The subset of asyncio.Future that AsyncCurl uses, backed by a gevent Event."""

    __slots__ = ("_event", "_result", "_exception", "_cancelled", "_callbacks")

    def __init__(self):
        self._event = Event()
        self._exception: BaseException | None = None
        self._cancelled = False
        self._callbacks: list = []

    def done(self) -> bool:
        return self._event.is_set()

    def cancelled(self) -> bool:
        return self._cancelled

    def _finish(self) -> None:
        self._event.set()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def set_result(self, _result) -> None:
        self._finish()

    def set_exception(self, exc: BaseException) -> None:
        self._exception = exc
        self._finish()

    def cancel(self) -> None:
        self._cancelled = True
        self._finish()

    def add_done_callback(self, callback) -> None:
        if self.done():
            callback(self)
        else:
            self._callbacks.append(callback)

    def exception(self) -> BaseException | None:
        return self._exception

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)


class _HubLoop:
    """The asyncio-loop methods curl_cffi's compiled callbacks call, on gevent watchers."""

    def __init__(self):
        self._loop = gevent.get_hub().loop
        self._readers: dict[int, object] = {}
        self._writers: dict[int, object] = {}

    def call_later(self, delay: float, fn, *args) -> _TimerHandle:
        watcher = self._loop.timer(max(delay, 0.0))
        watcher.start(fn, *args)
        return _TimerHandle(watcher)

    def _watch(self, table: dict, fd: int, events: int, fn, *args) -> None:
        self._unwatch(table, fd)
        watcher = self._loop.io(fd, events)
        watcher.start(fn, *args)
        table[fd] = watcher

    @staticmethod
    def _unwatch(table: dict, fd: int) -> None:
        watcher = table.pop(fd, None)
        if watcher is not None:
            watcher.stop()
            watcher.close()

    def add_reader(self, fd: int, fn, *args) -> None:
        self._watch(self._readers, fd, _READ, fn, *args)

    def add_writer(self, fd: int, fn, *args) -> None:
        self._watch(self._writers, fd, _WRITE, fn, *args)

    def remove_reader(self, fd: int) -> None:
        self._unwatch(self._readers, fd)

    def remove_writer(self, fd: int) -> None:
        self._unwatch(self._writers, fd)

    def create_future(self) -> _Future:
        return _Future()


class _HubMulti(AsyncCurl):
    """AsyncCurl's bookkeeping with the gevent hub as its event loop.

    AsyncCurl.__init__ wants a running asyncio loop, so it is not called; the
    attributes it would set are set here.
    """

    def __init__(self, max_idle_connections: int = 64):
        self._curlm = lib.curl_multi_init()
        self._cacert = DEFAULT_CACERT
        self._curl2future = {}
        self._curl2curl = {}
        self._sockfds = set()
        self._attached: set[Curl] = set()
        self.loop = _HubLoop()
        self._timer = None
        self._setup()
        self.setopt(CurlMOpt.MAXCONNECTS, max_idle_connections)
        # A safety net against a missed libcurl timer, as AsyncCurl's _force_timeout.
        self._tick = gevent.get_hub().loop.timer(1.0, 1.0)
        self._tick.start(self.kick)

    def kick(self) -> None:
        if self._curlm:
            self.process_data(CURL_SOCKET_TIMEOUT, CURL_POLL_NONE)

    def keep_attached(self, curl: Curl) -> None:
        """Leave `curl` on the multi when its transfer completes.

        A CONNECT_ONLY transfer (a WebSocket) completes once the upgrade is done, and libcurl
        closes such a connection when its handle leaves the multi: the handle must stay until
        the socket is no longer wanted (then `remove_handle` closes it).
        """
        self._attached.add(curl)

    def _pop_future(self, curl: Curl):
        if curl in self._attached:
            self._attached.discard(curl)
            self._curl2curl.pop(curl._curl, None)
            return self._curl2future.pop(curl, None)
        return super()._pop_future(curl)

    def remove_handle(self, curl: Curl):
        self._attached.discard(curl)
        super().remove_handle(curl)

    @property
    def active(self) -> int:
        return len(self._curl2future)


@dataclass
class Response:
    """A buffered upstream response."""

    status: int
    headers: dict[str, str]
    content: bytes
    url: str = ""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


@dataclass
class Request:
    method: str
    url: str
    headers: Sequence[tuple[str, str | None]] = ()
    body: bytes | None = None
    # "host:port:address" entries: connect to that address, never resolving the host (CURLOPT_RESOLVE).
    resolve: Sequence[str] = ()
    # This request's proxy (an account's own), instead of the transport's; None: the transport's.
    proxy: str | None = None


def _map_curl_error(exc: BaseException, url: str) -> TransportError:
    code = getattr(exc, "code", None)
    if code == _E_TIMEOUT:
        return UpstreamTimeout(f"upstream timed out ({_short(exc)})")
    if code in _CONNECT_CODES:
        return UpstreamConnectionError(f"cannot connect to upstream ({_short(exc)})")
    return UpstreamConnectionError(f"upstream connection failed ({_short(exc)})", dropped=True)


def _short(exc: BaseException) -> str:
    # curl messages end with a link to the docs; keep the useful head only.
    text = str(exc).split(". See https://curl.se", 1)[0]
    return text.replace("Failed to perform, ", "")


def configure(curl: Curl, transport: "Transport", req: Request) -> None:
    """What every transfer shares: URL, headers, the browser's TLS profile, proxy, timeouts."""
    curl.setopt(CurlOpt.URL, req.url.encode())
    curl.setopt(CurlOpt.NOSIGNAL, 1)
    curl.setopt(CurlOpt.FOLLOWLOCATION, 0)
    # "name;" sends an empty header; "name:" removes one the impersonation profile adds.
    lines = [f"{k}:" if v is None else f"{k};" if v == "" else f"{k}: {v}" for k, v in req.headers]
    lines.append("Expect:")
    curl.setopt(CurlOpt.HTTPHEADER, [line.encode() for line in lines])
    if transport.impersonate:
        if curl.impersonate(transport.impersonate, default_headers=True) != 0:
            raise TransportError(f"impersonation target {transport.impersonate!r} unsupported")
    curl.setopt(CurlOpt.CONNECTTIMEOUT_MS, int(transport.connect_timeout * 1000))
    proxy = req.proxy if req.proxy is not None else transport.proxy  # an account's own, else the transport's
    if proxy is not None:  # "" = no proxy at all, not even one from the environment
        curl.setopt(CurlOpt.PROXY, proxy.encode())
        if proxy.startswith(("http://", "https://")):
            # Through an HTTP proxy every request is tunnelled (CONNECT), as an https:// one
            # always is: the proxy sees the host and port, never the request.
            curl.setopt(CurlOpt.HTTPPROXYTUNNEL, 1)
    if req.resolve:
        curl.setopt(CurlOpt.RESOLVE, [entry.encode() for entry in req.resolve])
    if not transport.verify_tls:
        curl.setopt(CurlOpt.SSL_VERIFYPEER, 0)
        curl.setopt(CurlOpt.SSL_VERIFYHOST, 0)


class _Transfer:
    """One easy handle on the multi: request setup, header parsing, body queueing."""

    def __init__(
        self, transport: "Transport", req: Request, *, total_timeout: float | None, max_body: int | None = None
    ):
        pool = self.pool = transport.pool
        if pool.refusing is not None:
            raise copy.copy(pool.refusing)
        self.transport = transport
        self.url = req.url
        self.status = 0
        self.headers: dict[str, str] = {}
        self._header_lines: list[bytes] = []
        self.headers_ready = Event()
        # A list, not a deque: take() empties it all at once, and a deque allocates a 0.5 KB
        # block up front, for every stream's whole life.
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.data_ready = Event()
        self.paused = False
        self.finished = False
        self.error: GrokError | None = None
        # A buffered transfer keeps the whole body (up to max_body, then fails); a streamed one
        # (None) pauses while its reader is behind.
        self.max_body = max_body

        curl = self.curl = Curl()
        method = req.method.upper()
        configure(curl, transport, req)
        body = req.body
        self._body_size = 0  # bytes libcurl sends from the caller's buffer (POSTFIELDS)
        if method == "POST":
            curl.setopt(CurlOpt.POST, 1)
        elif method == "HEAD":
            curl.setopt(CurlOpt.NOBODY, 1)
        elif method != "GET":
            curl.setopt(CurlOpt.CUSTOMREQUEST, method.encode())
        if body is not None or method in ("POST", "PUT", "PATCH"):
            payload = body or b""
            curl.setopt(CurlOpt.POSTFIELDS, payload)
            curl.setopt(CurlOpt.POSTFIELDSIZE, len(payload))
            self._body_size = len(payload)
            if method == "GET":
                curl.setopt(CurlOpt.CUSTOMREQUEST, b"GET")
        curl.setopt(CurlOpt.ACCEPT_ENCODING, ACCEPT_ENCODING)
        # As a browser: HTTP/2 only over TLS (ALPN), never an h2c upgrade on cleartext.
        curl.setopt(CurlOpt.HTTP_VERSION, _HTTP_VERSION_2TLS)
        if total_timeout:
            curl.setopt(CurlOpt.TIMEOUT_MS, int(total_timeout * 1000))
        # libcurl's send buffer defaults to 64 KB per transfer and stays with it for the whole
        # stream; request bodies here are small, so its minimum (16 KB) saves ~30 KB of RSS
        # per concurrent stream (python -m bench) at no measurable cost.
        curl.setopt(CurlOpt.UPLOAD_BUFFERSIZE, _UPLOAD_BUFFER_BYTES)
        curl.setopt(CurlOpt.HEADERFUNCTION, self._on_header)
        curl.setopt(CurlOpt.WRITEFUNCTION, self._on_data)

        self.future = pool.multi.add_handle(curl)
        self.future.add_done_callback(self._on_done)
        pool.transfers.add(self)
        # Start at once rather than on libcurl's first timer tick.
        pool.multi.kick()

    # libcurl callbacks: they run inside socket_action on the hub; never block or switch.
    def _on_header(self, line: bytes) -> int:
        stripped = line.rstrip(b"\r\n")
        if stripped.startswith(b"HTTP/"):
            parts = stripped.split(None, 2)
            try:
                self.status = int(parts[1])
            except (IndexError, ValueError):
                self.status = 0
            self._header_lines = []
        elif stripped:
            self._header_lines.append(stripped)
        elif self.status >= 200:
            self._publish_headers()
        return len(line)

    def _publish_headers(self) -> None:
        if self.headers_ready.is_set():
            return
        headers: dict[str, str] = {}
        for raw in self._header_lines:
            name, _, value = raw.decode("latin-1").partition(":")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers
        self.headers_ready.set()
        if self._body_size and self.curl._curl is not None and self._sent_whole():
            # Sent whole, and with an answer under way libcurl never sends it again (it resends
            # only a request whose connection died before any answer): the body need not live
            # as long as the stream. A prompt of N bytes no longer costs N more per stream.
            self.curl._body_handle = None
            self._body_size = 0

    def _sent_whole(self) -> bool:
        return self.curl.getinfo(CurlInfo.SIZE_UPLOAD_T) >= self._body_size

    def _on_data(self, chunk: bytes) -> int:
        if self.max_body is not None:
            if self.buffered + len(chunk) > self.max_body:
                self.error = ResponseTooLarge(
                    f"the upstream answer is larger than {self.max_body} bytes, the most this server "
                    "keeps of an answer it does not stream"
                )
                return 0  # libcurl ends the transfer (a write error)
        elif self.buffered >= self.transport.max_buffered_bytes:
            # Slow reader: stop receiving until the consumer drains (bounded memory).
            self.paused = True
            return CURL_WRITEFUNC_PAUSE
        self._publish_headers()
        self.chunks.append(chunk)
        self.buffered += len(chunk)
        self.data_ready.set()
        return len(chunk)

    def _on_done(self, future: _Future) -> None:
        self.finished = True
        exc = future.exception()
        if exc is not None and self.error is None:
            self.error = _map_curl_error(exc, self.url)
        self._publish_headers()
        self.data_ready.set()

    # consumer side (request greenlets)
    def take(self) -> bytes:
        """Everything buffered so far, as one bytes object."""
        chunks = self.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if not self.finished:
            self.data_ready.clear()
        if self.paused:
            self.paused = False
            self.curl.pause(CURLPAUSE_CONT)
            self.pool.multi.kick()
        return data

    def abort(self) -> bool:
        """Remove the handle from the multi (aborting the upstream transfer) and free it."""
        aborted = False
        if not self.finished and self.curl._curl is not None:
            try:
                self.pool.multi.remove_handle(self.curl)
                aborted = True
            except CurlError:  # pragma: no cover - libcurl refused; the close below still frees it
                log.debug("remove_handle failed", exc_info=True)
            self.finished = True
        if self.curl._curl is not None:
            self.curl.close()
        self.pool.transfers.discard(self)
        if aborted:
            self.pool.aborted += 1
        return aborted

    def fail(self, error: GrokError) -> bool:
        """End the transfer now; its consumer sees the bytes already received, then `error`."""
        if self.finished:
            return False
        self.error = error
        self.abort()
        # Wake whoever waits: for headers (stream), for the body (chunks) or the end (request).
        self.headers_ready.set()
        self.data_ready.set()
        if not self.future.done():
            self.future.set_exception(error)
        return True


END = object()  # ChunkReader.next(): the body is over


class ChunkReader:
    """`UpstreamStream.chunks()` as plain calls: `next()` waits for the next body bytes and
    returns them, None after each heartbeat interval of silence, END once the body is over
    (or the stream closed), and raises as `chunks()` does. Close it when done.

    A stream waits here for most of its life. Called as a plain method it keeps one
    interpreter frame less on the C stack than a generator would, and each parked greenlet
    keeps a copy of its C stack (~0.7 KB a level, a thousand streams at once in a burst).
    """

    __slots__ = ("_stream", "_heartbeat", "_timer", "_ticked", "_last")

    def __init__(self, stream: "UpstreamStream", heartbeat: float | None = None):
        self._stream = stream
        self._heartbeat = heartbeat
        idle_timeout = stream.idle_timeout
        wait = min(heartbeat, idle_timeout) if heartbeat else idle_timeout
        # One repeating timer per stream, re-armed when data arrives: an Event.wait with a
        # timeout would allocate a gevent Timeout for every token.
        self._ticked = False
        self._timer = gevent.get_hub().loop.timer(wait, wait)
        self._timer.start(self._tick)
        self._last = time.monotonic()

    def _tick(self) -> None:
        self._ticked = True
        self._stream._transfer.data_ready.set()

    def next(self):
        stream = self._stream
        t = stream._transfer
        while True:
            if stream.closed:  # closed meanwhile (e.g. from another greenlet): its buffers are gone
                return END
            if t.chunks:
                data = t.take()
                self._last = time.monotonic()
                self._timer.again(self._tick)
                self._ticked = False
                return data
            if t.finished:
                if t.error is not None:
                    raise t.error
                return END
            if not self._ticked:
                t.data_ready.clear()
                hooks.waits.wait(t.data_ready)
                continue
            self._ticked = False
            idle_timeout = stream.idle_timeout
            if time.monotonic() - self._last >= idle_timeout - 0.001:
                stream.close()
                raise UpstreamTimeout(f"no data from upstream for {idle_timeout:g} s")
            if self._heartbeat:
                return None

    def close(self) -> None:
        self._timer.stop()
        self._timer.close()


class UpstreamStream:
    """An upstream response whose body is read incrementally.

    Always close it (it is a context manager); closing before the end aborts the
    upstream transfer immediately.
    """

    def __init__(self, transfer: _Transfer, idle_timeout: float):
        self._transfer = transfer
        self.idle_timeout = idle_timeout
        self.status = transfer.status
        self.headers = transfer.headers
        self.url = transfer.url
        self.closed = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def chunks(self, heartbeat: float | None = None) -> Iterator[bytes | None]:
        """Yield body bytes as they arrive.

        With `heartbeat`, yields None after each `heartbeat` seconds without data,
        so a caller can keep its client connection alive. Raises UpstreamTimeout after
        `idle_timeout` seconds without data, and UpstreamConnectionError when the
        transfer fails (e.g. the upstream drops the connection mid-body).
        """
        reader = ChunkReader(self, heartbeat)
        try:
            while (chunk := reader.next()) is not END:
                yield chunk
        finally:
            reader.close()

    def read(self, limit: int | None = None) -> bytes:
        """Read the rest of the body (at most `limit` bytes, then abort); the stream is closed
        afterwards, also when reading fails."""
        parts: list[bytes] = []
        size = 0
        try:
            for chunk in self.chunks():
                parts.append(chunk)
                size += len(chunk)
                if limit is not None and size >= limit:
                    break
        finally:
            self.close()
        data = b"".join(parts)
        return data[:limit] if limit is not None else data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._transfer.abort()

    def __enter__(self) -> "UpstreamStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # a forgotten stream must not keep an upstream transfer alive
        if not getattr(self, "closed", True):
            try:
                self.close()
            except Exception:  # pragma: no cover
                pass


class CurlPool:
    """A process's libcurl multi handle: its connection cache and its transfers in flight.

    One per process and kind ("grok" for grok.com, "fetch" for server-side fetches of client
    URLs), created on first use in each forked worker and shared by every `Transport` of that
    kind, so a transport built from reloaded settings reuses the open connections, and the
    shutdown deadline reaches every transfer.
    """

    _pools: dict[str, "CurlPool"] = {}
    _pid: int | None = None

    def __init__(self, max_idle_connections: int = 64):
        self.multi = _HubMulti(max_idle_connections)
        self.aborted = 0
        # Transfers added to the multi and not yet freed (for abort_all).
        self.transfers: set[_Transfer] = set()
        # Open WebSockets (app.grok.websocket), for abort_all, and the buffer they read into.
        self.websockets: set = set()
        self.websocket_read_buffer = None
        # Set by abort_all: new transfers fail at once with this error.
        self.refusing: GrokError | None = None

    @classmethod
    def for_this_process(cls, kind: str = "grok") -> "CurlPool":
        pid = os.getpid()
        if cls._pid != pid:  # a forked child never uses its parent's multi handle
            cls._pools, cls._pid = {}, pid
        pool = cls._pools.get(kind)
        if pool is None:
            pool = cls._pools[kind] = cls()
        return pool

    @classmethod
    def existing(cls, kind: str = "grok") -> "CurlPool | None":
        """This process's pool of that kind if one was created (never creates one)."""
        return cls._pools.get(kind) if cls._pid == os.getpid() else None

    @property
    def active_transfers(self) -> int:
        return self.multi.active

    def abort_all(self, error: GrokError) -> int:
        """Fail every unfinished transfer with `error`, and every later one too.

        Used at the graceful-shutdown deadline: each waiting request or stream
        raises `error` (a GrokError), so the stream generators end with their
        final error event instead of being cut. Returns how many were ended.
        """
        self.refusing = error
        ended = 0
        for transfer in list(self.transfers):
            if transfer.fail(error):
                ended += 1
            else:
                self.transfers.discard(transfer)
        for socket in list(self.websockets):
            if socket.fail(error):
                ended += 1
        return ended


class Transport:
    """Upstream HTTP with a set of options (impersonation, timeouts, proxy); cooperative under gevent.

    Cheap to build and immutable: the connections live in the process's `CurlPool`. The app
    builds one from its settings (`from_settings`) and hands it to the client; a reload builds
    a new one, and transfers already running keep the options they started with.
    """

    def __init__(
        self,
        *,
        impersonate: str | None = IMPERSONATE,
        connect_timeout: float = 10.0,
        request_timeout: float = 120.0,
        idle_timeout: float = 120.0,
        max_buffered_bytes: int = 1 << 20,
        max_response_bytes: int = MAX_BUFFERED_RESPONSE_BYTES,
        proxy: str | None = "",
        verify_tls: bool = True,
        kind: str = "grok",
        pool: CurlPool | None = None,
    ):
        self.impersonate = impersonate
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.idle_timeout = idle_timeout
        self.max_buffered_bytes = max_buffered_bytes
        self.max_response_bytes = max_response_bytes
        # "" = no proxy at all, not even one from the environment (https_proxy, ALL_PROXY);
        # None = libcurl's default, which reads the environment.
        self.proxy = proxy
        self.verify_tls = verify_tls
        self.kind = kind
        self._pool = pool  # a pool of its own (tests); otherwise the process's pool of its kind

    @classmethod
    def from_settings(cls, settings) -> "Transport":
        """The grok.com transport of a Settings object (GROK_PROXY_URL, the timeouts)."""
        return cls(
            connect_timeout=settings.connect_timeout,
            request_timeout=settings.request_timeout,
            idle_timeout=settings.stream_idle_timeout,
            proxy=settings.proxy_url or "",
        )

    @property
    def pool(self) -> CurlPool:
        return self._pool or CurlPool.for_this_process(self.kind)

    @property
    def active_transfers(self) -> int:
        return self.pool.active_transfers

    def request(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str | None]] = (),
        body: bytes | None = None,
        timeout: float | None = None,
        resolve: Sequence[str] = (),
        proxy: str | None = None,
    ) -> Response:
        """A buffered request with a total deadline (connect to last byte) and a size limit
        (max_response_bytes: ResponseTooLarge beyond it)."""
        deadline = timeout or self.request_timeout
        transfer = _Transfer(
            self,
            Request(method, url, headers, body, resolve, proxy),
            total_timeout=deadline,
            max_body=self.max_response_bytes,
        )
        try:
            # libcurl enforces the deadline; the margin only guards against a lost callback.
            if not hooks.waits.wait(transfer.future, deadline + 5):
                raise UpstreamTimeout(f"upstream did not answer within {deadline:g} s")
            if transfer.error is not None:
                raise transfer.error
            content = b"".join(transfer.chunks)
            return Response(transfer.status, transfer.headers, content, url)
        finally:
            transfer.abort()

    def stream(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str | None]] = (),
        body: bytes | None = None,
        idle_timeout: float | None = None,
        resolve: Sequence[str] = (),
        proxy: str | None = None,
    ) -> UpstreamStream:
        """Start a request and return once the response headers arrived.

        The wait for headers and every gap between body bytes are bounded by
        `idle_timeout`; the stream's total length is not.
        """
        idle = idle_timeout or self.idle_timeout
        transfer = _Transfer(self, Request(method, url, headers, body, resolve, proxy), total_timeout=None)
        try:
            if not hooks.waits.wait(transfer.headers_ready, idle):
                raise UpstreamTimeout(f"no response headers from upstream within {idle:g} s")
            if transfer.error is not None and not transfer.chunks:
                raise transfer.error
        except BaseException:
            transfer.abort()
            raise
        return UpstreamStream(transfer, idle)

    def websocket(
        self,
        url: str,
        headers: Sequence[tuple[str, str | None]] = (),
        timeout: float | None = None,
        resolve: Sequence[str] = (),
        max_message_bytes: int | None = None,
        proxy: str | None = None,
    ):
        """Open a WebSocket (app.grok.websocket.WebSocket) with this transport's browser profile,
        proxy (or `proxy`, an account's own) and connect timeout; `timeout` bounds the whole upgrade."""
        from .websocket import connect

        return connect(
            self,
            url,
            headers,
            timeout=timeout or self.request_timeout,
            resolve=resolve,
            max_message_bytes=max_message_bytes,
            proxy=proxy,
        )
