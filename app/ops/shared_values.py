"""The shared-state store (app/state) as the client library's SharedValues (app.grok.shared):
the derived statsig values and the mode list live there, so every worker (and, with Redis,
every host) reads what one of them derived, and its locks let only one at a time refresh
them. Waiting for a lock polls with gevent.sleep: the worker serves its other requests
meanwhile, monkey-patched or not.

A value read is kept for FRESH_SECONDS per worker: every chat reads the mode list, which
changes once per grok.com build, and a read from Redis per chat cost more than the chat's
own bookkeeping. Under a value's lock (where a refresh decides whether it is still needed)
the store is read again."""

from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from typing import Any, Iterator

import gevent

SPACE = "grok"
POLL_SECONDS = 0.01
FRESH_SECONDS = 2.0


class StoreValues:
    def __init__(self, store, space: str = SPACE, fresh_seconds: float = FRESH_SECONDS):
        self.store = store
        self.space = space
        self.fresh_seconds = fresh_seconds
        self._read: dict[str, tuple[float, Any]] = {}  # key -> (when read, value)

    def get(self, key: str) -> Any | None:
        now = time.monotonic()
        read = self._read.get(key)
        if read is None or now - read[0] >= self.fresh_seconds:
            read = self._read[key] = (now, self.store.get(self.space, key))
        return copy.deepcopy(read[1])  # the caller may change what it got

    def put(self, key: str, value: Any) -> None:
        self.store.put(self.space, key, value)
        self._read[key] = (time.monotonic(), copy.deepcopy(value))

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[None]:
        # The lock expires after `timeout` too: a worker killed while holding it blocks nobody for long.
        name = f"{self.space}:{key}"
        deadline = time.monotonic() + timeout
        while (token := self.store.try_lock(name, timeout)) is None:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"lock {name!r} not acquired within {timeout:g} s")
            gevent.sleep(POLL_SECONDS)
        self._read.pop(key, None)  # another worker may have refreshed it: read it again
        try:
            yield
        finally:
            self.store.unlock(name, token)
