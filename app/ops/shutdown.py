"""Graceful shutdown of a gevent worker: streams end with an error event, not a cut.

On SIGTERM (stop, or the old workers of a SIGHUP reload) gunicorn's gevent worker
stops accepting and waits up to `graceful_timeout` for its requests; the master
SIGKILLs it after that. Streams that outlive the wait would be cut mid-body, and
the client would see a truncated response. So, `margin` seconds before that
deadline, every upstream transfer of this worker is failed with
`ServerShuttingDown`: each stream generator turns that GrokError into its
final error event (SSE `error` event, NDJSON `{"error":...}` line, WebSocket
error frame) and returns, and the worker exits on its own before the kill.

`draining` is set as soon as SIGTERM is seen and `deadline` when the transfers
are ended: long-lived loops that do not wait on upstream (a WebSocket waiting for
its client's next message) should watch them and close.

Idle keep-alive connections would also hold the worker until the kill (gunicorn
waits for every connection, and an idle one waits up to `keepalive` seconds for
a next request). Until the deadline they are left alone: a request arriving on
one is still served, with `Connection: close`, which is clean for the client.
At the deadline every connection without a request in flight is closed, and so
is each one whose response ends after it, so the worker exits before the kill.
"""

from __future__ import annotations

import _socket  # the C socket module, which gevent's monkey-patching leaves alone
import logging
import weakref

import gevent
from gevent.event import Event

from ..grok.errors import ServerShuttingDown
from ..grok.transport import CurlPool

log = logging.getLogger(__name__)

draining = Event()
deadline = Event()
_POLL_SECONDS = 0.2


def margin(graceful_timeout: float) -> float:
    """How long before the kill the transfers are ended: time for the final events to be
    written and for gunicorn's once-a-second check to see the worker idle."""
    return min(5.0, max(2.0, graceful_timeout * 0.2))


class ClientConnections:
    """gunicorn's client sockets that carried a request, with their requests in flight."""

    def __init__(self):
        self._in_flight: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def request_started(self, environ: dict) -> None:
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            self._in_flight[sock] = self._in_flight.get(sock, 0) + 1

    def request_ended(self, environ: dict) -> None:
        """Called once the response is written; past the deadline, an idle connection is closed."""
        sock = environ.get("gunicorn.socket")
        if sock is None or sock not in self._in_flight:
            return
        self._in_flight[sock] -= 1
        if deadline.is_set() and self._in_flight[sock] <= 0:
            self._close(sock)

    def close_idle(self) -> int:
        idle = [sock for sock, n in list(self._in_flight.items()) if n <= 0]
        for sock in idle:
            self._close(sock)
        return len(idle)

    def _close(self, sock) -> None:
        self._in_flight.pop(sock, None)
        fd = sock.fileno()
        if fd < 0:  # the server closed it already
            return
        try:
            # Shut the connection down at the OS level: the server's pending read of a next
            # request then sees a plain EOF and ends the connection quietly (gevent's own
            # shutdown() would cancel that read with an error that gunicorn logs).
            raw = _socket.socket(fileno=fd)
        except (OSError, ValueError):
            return
        try:
            raw.shutdown(_socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            raw.detach()


connections = ClientConnections()


def end_upstream_transfers() -> int:
    pool = CurlPool.existing()
    if pool is None:
        return 0
    ended = pool.abort_all(ServerShuttingDown("server shutting down"))
    if ended:
        log.warning("graceful shutdown deadline: ended %d upstream transfer(s) with a shutting_down error", ended)
    return ended


def _watch(worker) -> None:
    while worker.alive:
        gevent.sleep(_POLL_SECONDS)
    draining.set()
    graceful = float(worker.cfg.graceful_timeout)
    delay = max(0.0, graceful - margin(graceful))
    log.info("worker shutting down: in-flight streams have %.1f s to finish", delay)
    gevent.sleep(delay)
    deadline.set()
    end_upstream_transfers()
    connections.close_idle()


def _watch_logged(worker) -> None:
    try:
        _watch(worker)
    except Exception:
        log.exception("graceful shutdown watcher failed")


def watch(worker) -> None:
    """Called in gunicorn's post_worker_init: run the shutdown watcher in this worker."""
    gevent.spawn(_watch_logged, worker)
