"""The shared-state store (app/state) as the client library's SharedValues (app.grok.shared):
the derived statsig values and the mode list live there, so every worker (and, with Redis,
every host) reads what one of them derived, and its locks let only one at a time refresh
them. Waiting for a lock polls with gevent.sleep: the worker serves its other requests
meanwhile, monkey-patched or not."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Iterator

import gevent

SPACE = "grok"
POLL_SECONDS = 0.01


class StoreValues:
    def __init__(self, store, space: str = SPACE):
        self.store = store
        self.space = space

    def get(self, key: str) -> Any | None:
        return self.store.get(self.space, key)

    def put(self, key: str, value: Any) -> None:
        self.store.put(self.space, key, value)

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[None]:
        # The lock expires after `timeout` too: a worker killed while holding it blocks nobody for long.
        name = f"{self.space}:{key}"
        deadline = time.monotonic() + timeout
        while (token := self.store.try_lock(name, timeout)) is None:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"lock {name!r} not acquired within {timeout:g} s")
            gevent.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            self.store.unlock(name, token)
