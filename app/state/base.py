"""The shared-state interface every backend implements, and the limits that keep it bounded.

Four kinds of state, each addressed by a `space` (what it is: "owner", "cooldown", ...)
and a `key` (which one):

  values    get / get_many / put / put_new / exchange / delete: one JSON value per key,
            optionally with a time to live. `put_new` lets the first writer win (a signing
            key made once for every host); `exchange` returns the previous value, so exactly
            one writer sees a transition (and logs it).
  maps      map_get / map_set / map_delete: a small JSON object per key, whose fields are
            written independently (one field per grok.com mode of an account), so two hosts
            writing different fields never lose each other's update.
  counters  incr / counts: integer fields per key, added to atomically.
  locks     try_lock / unlock: a named lock with a time to live, for single-flight work
            (one session check per interval across every worker of every host).

A space can be bounded (`bound`): `put` then keeps at most about that many values in it,
dropping the least recently written, so a space keyed by what clients send (conversation
fingerprints) stays small whatever the traffic.

Values are JSON (dicts, lists, strings, numbers); one value may take at most
MAX_VALUE_BYTES encoded, a key at most MAX_KEY_CHARS, so a caller storing what a client
sent can never grow the store without bound. Expired entries are never returned.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, Iterable
from urllib.parse import urlsplit

MAX_VALUE_BYTES = 64 * 1024
BATCHED_READS = ("get_many", "map_get_many", "counts_many")
MAX_KEY_CHARS = 256


class StateUnavailable(Exception):
    """The backend cannot be reached right now (a Redis outage); the caller degrades."""


def encode(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_VALUE_BYTES:
        raise ValueError(f"a shared-state value may take at most {MAX_VALUE_BYTES} bytes")
    return text


def decode(text: str | bytes | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def check_name(*parts: str) -> None:
    for part in parts:
        if not isinstance(part, str) or not part or len(part) > MAX_KEY_CHARS:
            raise ValueError(f"a shared-state name must be a string of 1 to {MAX_KEY_CHARS} characters")


class Store(ABC):
    """What the app keeps beyond one process (see the module docstring)."""

    #: "local" (this host's run directory) or "redis" (every host)
    backend = "local"

    # -- values -------------------------------------------------------------------------------
    @abstractmethod
    def get(self, space: str, key: str) -> Any: ...

    def get_many(self, space: str, keys: Iterable[str]) -> dict[str, Any]:
        """The values of `keys` that exist, by key."""
        found = {}
        for key in keys:
            value = self.get(space, key)
            if value is not None:
                found[key] = value
        return found

    @abstractmethod
    def put(self, space: str, key: str, value: Any, ttl: float | None = None) -> None: ...

    def put_many(self, space: str, values: dict[str, Any], ttl: float | None = None) -> None:
        """`put` of several keys of one space (one round trip where the backend allows)."""
        for key, value in values.items():
            self.put(space, key, value, ttl)

    @abstractmethod
    def put_new(self, space: str, key: str, value: Any, ttl: float | None = None) -> bool:
        """Store `value` unless the key holds one already; True when this call stored it."""

    @abstractmethod
    def exchange(self, space: str, key: str, value: Any, ttl: float | None = None) -> Any:
        """Store `value` and return the previous value (None if there was none), atomically."""

    @abstractmethod
    def delete(self, space: str, key: str) -> None: ...

    def bound(self, space: str, limit: int) -> None:
        """From now on, `put` keeps at most about `limit` values in `space` (the least recently
        written go first; a few more may live between two trims)."""
        if limit < 1:
            raise ValueError("a bounded space holds at least one value")
        self._bounds = {**getattr(self, "_bounds", {}), space: limit}

    def limit_of(self, space: str) -> int | None:
        """The bound of `space`, None when it has none."""
        return getattr(self, "_bounds", {}).get(space)

    # -- maps ---------------------------------------------------------------------------------
    @abstractmethod
    def map_get(self, space: str, key: str) -> dict[str, Any]: ...

    def map_get_many(self, space: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {key: self.map_get(space, key) for key in keys}

    @abstractmethod
    def map_set(self, space: str, key: str, field: str, value: Any) -> None: ...

    @abstractmethod
    def map_delete(self, space: str, key: str, field: str | None = None) -> None:
        """Remove one field, or the whole map when `field` is None."""

    # -- counters -----------------------------------------------------------------------------
    @abstractmethod
    def incr(self, space: str, key: str, field: str, amount: int = 1) -> int: ...

    @abstractmethod
    def counts(self, space: str, key: str) -> dict[str, int]: ...

    def counts_many(self, space: str, keys: Iterable[str]) -> dict[str, dict[str, int]]:
        return {key: self.counts(space, key) for key in keys}

    def incr_many(self, space: str, key: str, amounts: dict[str, int]) -> None:
        """Add to several counters of one key (one round trip where the backend allows)."""
        for field, amount in amounts.items():
            self.incr(space, key, field, amount)

    # -- several reads at once ----------------------------------------------------------------
    def read_many(self, *reads: tuple[str, str, list[str]]) -> list[dict]:
        """Several of `get_many`, `map_get_many` and `counts_many`, each given as (method name,
        space, keys), answered in order (in one round trip where the backend allows)."""
        for method, _, _ in reads:
            if method not in BATCHED_READS:
                raise ValueError(f"read_many reads with {', '.join(BATCHED_READS)}, not {method}")
        return [getattr(self, method)(space, keys) for method, space, keys in reads]

    # -- locks --------------------------------------------------------------------------------
    @abstractmethod
    def try_lock(self, name: str, ttl: float) -> str | None:
        """A token when the lock was free (it is now held for `ttl` seconds), else None."""

    @abstractmethod
    def unlock(self, name: str, token: str) -> None:
        """Release the lock if `token` still holds it (an expired lock may belong to another)."""

    # -- operations ---------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """For /status: which backend answers, never a credential."""
        return {"backend": self.backend}

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to close
        return None


def display_url(url: str) -> str:
    """The URL without its password, for logs and /status."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.password and parts.username else ("***@" if parts.password else "")
    return f"{parts.scheme}://{user}{host}{parts.path}"
