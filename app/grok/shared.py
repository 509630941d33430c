"""Where the client library keeps values that every worker of a host shares.

The library needs little: get and put a JSON-able value by key, and a lock by key so one
worker (and one greenlet) at a time refreshes a value the others then read. The default,
`MemoryValues`, is one process's; the server gives its client the run directory's files
(app.ops.shared_values), and a Redis-backed store can take their place for many hosts.
"""

from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from typing import Any, ContextManager, Iterator, Protocol

from gevent.lock import BoundedSemaphore


class SharedValues(Protocol):
    def get(self, key: str) -> Any | None:
        """The value last put under `key`, or None."""

    def put(self, key: str, value: Any) -> None:
        """Replace the value under `key` (readers see the old or the new one, never a mix)."""

    def lock(self, key: str, timeout: float) -> ContextManager[None]:
        """Hold the lock named `key` (TimeoutError after `timeout` seconds); cooperative under gevent."""


class MemoryValues:
    """A SharedValues for one process (library use, tests)."""

    def __init__(self):
        self._values: dict[str, Any] = {}
        self._locks: dict[str, BoundedSemaphore] = {}

    def get(self, key: str) -> Any | None:
        return copy.deepcopy(self._values.get(key))

    def put(self, key: str, value: Any) -> None:
        self._values[key] = copy.deepcopy(value)

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[None]:
        semaphore = self._locks.setdefault(key, BoundedSemaphore())
        started = time.monotonic()
        if not semaphore.acquire(timeout=timeout):
            raise TimeoutError(f"lock {key!r} not acquired within {time.monotonic() - started:.1f} s")
        try:
            yield
        finally:
            semaphore.release()
