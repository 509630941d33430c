"""Admission of chat starts: a few at a time on a worker's CPU, the rest wait their turn.

A gevent worker runs its greenlets first come, first served. When hundreds of chat
requests arrive at once, each one's start (validation, prompt building, signing, libcurl
setup, the first events, the response headers: about 3 ms of CPU) joins that queue, and
so does every `/health` probe and every token of the streams already running: a burst of
1000 starts meant seconds of delay for all of them.

`START_SLOTS.hold()` around a chat view bounds how many starts use the CPU at once. A
start gives its slot back while it waits for grok.com (the transport calls
`START_SLOTS.wait()` for each upstream wait; one longer than `HOLD_THROUGH` frees the
slot) and takes one again to go on; the view's response body (the relay of the tokens)
runs after the slot is released. Requests waiting for a slot are parked outside the run
queue, so cheap requests and running streams are served meanwhile.

There is one line, in the order starts join it: a new request never overtakes an older
one that is waiting, and a start coming back from grok.com joins the end of the line like
any other (it does not jump ahead of the requests that waited while it was away). So in a
burst every start moves forward at the same pace, as requests on an event loop do, and
their first tokens arrive close together instead of the first few starts racing to the
end while the last ones wait for all of them (docs/benchmarks.md: first-token p99/p50).

Admission is an optimisation, never a reason to fail: a request that waited
`MAX_WAIT` seconds for a slot goes on without one (logged).
"""

from __future__ import annotations

import functools
import io
import logging
from collections import deque
from contextlib import contextmanager
from typing import Iterator

from gevent import getcurrent
from gevent.event import Event

from ..problems import problem_for_http
from ..runtime import EXTENSION
from .access import refusal
from .auth import key_in_environ, key_is_valid
from .body_guard import BodyTimeout

log = logging.getLogger(__name__)

# Measured with python -m bench, 1000 simultaneous streams: /health p99 38-60 ms with 2 slots,
# 55-115 ms with 4. A start holds its slot at most HOLD_THROUGH seconds per upstream wait, so
# 2 slots still admit about 40 starts a second against a slow grok.com, more against a fast one.
SLOTS = 2
MAX_WAIT = 60.0
HOLD_THROUGH = 0.05  # seconds; grok.com's headers usually take longer, a local fake's less


class StartSlots:
    def __init__(self, slots: int = SLOTS, max_wait: float = MAX_WAIT, hold_through: float = HOLD_THROUGH):
        self.slots = slots
        self.max_wait = max_wait
        self.hold_through = hold_through
        self._free = slots
        # The one line of waiting starts, oldest first: each entry is the event its start waits on.
        self._line: deque[Event] = deque()
        # The greenlets holding a slot right now (each entry lives only while its holder runs).
        self._holders: set = set()

    @property
    def in_use(self) -> int:
        return len(self._holders)

    @property
    def queued(self) -> int:
        return len(self._line)

    @property
    def free(self) -> int:
        """Slots nobody holds or has been handed (a newcomer takes one of these at once)."""
        return self._free

    def _take(self, holder) -> None:
        if self._free and not self._line:
            self._free -= 1
            self._holders.add(holder)
            return
        turn = Event()
        self._line.append(turn)
        try:
            # A turn handed over just as the wait timed out still counts.
            handed = turn.wait(self.max_wait) or turn.is_set()
        except BaseException:  # killed while queued: a slot handed over meanwhile goes on
            if turn.is_set():
                self._hand_over()
            else:
                self._line.remove(turn)
            raise
        if handed:
            self._holders.add(holder)
        else:
            self._line.remove(turn)
            log.warning("no start slot free after %g s; going on without one", self.max_wait)

    def _hand_over(self) -> None:
        if self._line:
            self._line.popleft().set()  # the slot passes straight to the oldest in line
        else:
            self._free += 1

    def _give_back(self, holder) -> None:
        if holder in self._holders:
            self._holders.discard(holder)
            self._hand_over()

    def hold(self) -> "_Hold":
        """Run the block with a slot (re-entrant: a nested hold keeps the one it has)."""
        return _Hold(self)

    def wait(self, event, timeout: float | None = None) -> bool:
        """`event.wait(timeout)`, with the caller's slot (if any) free meanwhile."""
        holder = getcurrent()
        if holder not in self._holders:
            return event.wait(timeout)
        # With nobody waiting, a quick answer is waited for with the slot held (handing it
        # over and taking it back would cost more than it saves). With starts in line, the slot
        # goes to the oldest of them at once: in a burst every start then moves a step at a
        # time, and their first tokens come together (docs/benchmarks.md).
        first = 0 if self._line else self.hold_through
        if timeout is not None:
            first = min(first, timeout)
        if event.wait(first):
            return True
        self._give_back(holder)
        ready = event.wait(None if timeout is None else timeout - first)
        self._take(holder)
        return ready

    @contextmanager
    def released(self) -> Iterator[None]:
        """Around another blocking call (a DNS lookup, the token provider): the slot is free
        meanwhile and taken again afterwards (at the end of the line)."""
        holder = getcurrent()
        if holder not in self._holders:
            yield
            return
        self._give_back(holder)
        try:
            yield
        finally:  # the caller may go on after an error it handles, so the slot comes back
            self._take(holder)


class _Hold:
    """`StartSlots.hold()`: a class, not a generator context manager, because every request
    parked halfway through its start holds one (0.6 KB less per request in a burst)."""

    __slots__ = ("_slots", "_holder")

    def __init__(self, slots: StartSlots):
        self._slots = slots
        self._holder = None

    def __enter__(self) -> None:
        holder = getcurrent()
        if holder not in self._slots._holders:
            self._slots._take(holder)
            self._holder = holder  # this hold took the slot, so it gives it back

    def __exit__(self, *exc) -> None:
        if self._holder is not None:
            self._slots._give_back(self._holder)
            self._holder = None


START_SLOTS = StartSlots()


def admitted(view):
    """Decorator: run a chat view holding a start slot."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        with START_SLOTS.hold():
            if kwargs or len(args) != 1:
                return view(*args, **kwargs)
            # A chat view takes its body alone: called plainly, it runs in this interpreter
            # level, where `view(*args, **kwargs)` would nest one more level of C stack, and
            # every request parked in its start keeps a copy of its C stack (0.5 KB a level).
            return view(args[0])

    wrapper.admitted = True
    return wrapper


# A body up to this size is read before the request waits for a slot, so the slot can also
# cover the app's own request handling (routing, hooks, validation: ~1 ms) without a slow
# client holding it; larger or chunked bodies wait for a slot in the view only.
PREREAD_LIMIT = 1024 * 1024


class AdmissionMiddleware:
    """WSGI middleware: an admitted view's whole request handling runs holding a slot.

    In a burst, the ~1 ms Flask spends on a chat request before its view runs also queued
    ahead of /health; taken here, it waits with the rest of the start.
    """

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        # Bound once (routes are not host-specific): binding per request cost ~25 µs of the
        # ~30 a match took.
        self._routes = app.url_map.bind("localhost")
        # And each path's answer remembered: Flask refuses new routes once it has served a
        # request (the first call here), so an answer cannot go stale; the size bounds what
        # clients sending made-up paths can make it hold.
        self._admitted_path = functools.lru_cache(maxsize=1024)(self._match)

    def _admitted(self, environ) -> bool:
        return self._admitted_path(environ.get("PATH_INFO") or "/")

    def _match(self, path: str) -> bool:
        try:
            rule, _ = self._routes.match(path, method="POST", return_rule=True)
        except Exception:  # noqa: BLE001 - 404/405/redirects: the app answers them itself
            return False
        return getattr(self.app.view_functions.get(rule.endpoint), "admitted", False)

    def _may_read_body(self, environ) -> bool:
        """Only a request the app will serve gets its body read here: a client without a key
        (or refused by the access rules) gets its 401/403 without sending a byte of it."""
        current = self.app.extensions[EXTENSION].settings
        if current.api_keys and not key_is_valid(key_in_environ(environ), current.api_keys):
            return False
        return refusal(environ, current) is None

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST" or not self._admitted(environ):
            return self.wsgi_app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            length = -1
        if not 0 <= length <= PREREAD_LIMIT or not self._may_read_body(environ):
            return self.wsgi_app(environ, start_response)
        try:
            environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(length))
        except BodyTimeout as exc:
            return problem_for_http(exc).response()(environ, start_response)
        with START_SLOTS.hold():
            try:
                return self.wsgi_app(environ, start_response)
            finally:
                # The view has read the body; a streamed answer keeps this environ (and so the
                # copy read above) until its last byte: as many bytes as the request per stream.
                environ["wsgi.input"] = io.BytesIO()
