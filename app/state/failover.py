"""Redis with this host's run directory behind it: a Redis outage degrades, never fails a request.

While Redis answers, it holds the shared state, and what this host writes is mirrored into
its local store (values and maps; counters and locks live in Redis alone). When a call
fails, the host switches to its local store at once (the call is answered from there), logs
one WARNING (one per host, whichever worker noticed first) and journals what it writes
meanwhile. Every PROBE_SECONDS one call first pings Redis; once it answers, the journal is
replayed into it (values and map fields as they are now locally, counter increments added)
and Redis is used again, with one WARNING saying so.

Reads that miss in Redis fall back to the local mirror, so what this host knew before a
Redis restart that lost its data (who owns a conversation) is still found. Owner lookups
that hit are copied into the mirror, so a host also remembers the conversations it only
continued.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterable

from .base import StateUnavailable, Store
from .local import LocalStore
from .redis_store import RedisStore, display_url

log = logging.getLogger("grok_web_api.state")

PROBE_SECONDS = 2.0
# Spaces whose Redis hits are copied into the local mirror (see the module docstring).
MIRRORED_READS = frozenset({"owner"})
READ_MIRROR_TTL = 7 * 24 * 3600.0
_LOCAL, _REMOTE = "l:", "r:"


class FailoverStore(Store):
    backend = "redis"

    def __init__(self, primary: RedisStore, local: LocalStore, *, probe_seconds: float | None = None):
        self.primary = primary
        self.local = local
        self.probe_seconds = PROBE_SECONDS if probe_seconds is None else probe_seconds
        self._next_probe: float | None = None  # set while Redis is away: when to try it again

    @property
    def degraded(self) -> bool:
        return self._next_probe is not None

    # -- switching ----------------------------------------------------------------------------
    def _use_primary(self) -> bool:
        if self._next_probe is None:
            return True
        now = time.monotonic()
        if now < self._next_probe:
            return False
        self._next_probe = now + self.probe_seconds  # one probe at a time per worker
        try:
            self.primary.ping()
            self._replay()
        except StateUnavailable:
            return False
        self._next_probe = None
        if self.local.exchange("failover", "redis", "up") != "up":
            log.warning("Redis at %s is reachable again: shared state is back in Redis", display_url(self.primary.url))
        return True

    def _went_away(self, error: StateUnavailable) -> None:
        first = self._next_probe is None
        self._next_probe = time.monotonic() + self.probe_seconds
        if first and self.local.exchange("failover", "redis", "down") != "down":
            log.warning(
                "shared state unavailable (%s): this host keeps its own state in its run directory until "
                "Redis is back (retried every %g s); cooldowns, owners and locks are per host meanwhile",
                error,
                self.probe_seconds,
            )

    def _replay(self) -> None:
        entries = self.local.take_journal()
        for done, (kind, space, key, field, amount) in enumerate(entries):
            try:
                if kind in ("v", "n"):
                    entry = self.local.entry(space, key)
                    if entry is None:
                        if kind == "v":
                            self.primary.delete(space, key)
                    elif kind == "n":
                        self.primary.put_new(space, key, entry[0], entry[1])
                    else:
                        self.primary.put(space, key, entry[0], entry[1])
                elif kind == "m":
                    current = self.local.map_get(space, key)
                    if field in current:
                        self.primary.map_set(space, key, field, current[field])
                    else:
                        self.primary.map_delete(space, key, field)
                elif kind == "c" and amount:
                    self.primary.incr(space, key, field, amount)
            except StateUnavailable:
                for kind_, space_, key_, field_, amount_ in entries[done:]:
                    self.local.journal(kind_, space_, key_, field_, amount_)
                raise

    def _read(self, name: str, *args):
        if self._use_primary():
            try:
                return getattr(self.primary, name)(*args)
            except StateUnavailable as exc:
                self._went_away(exc)
        return getattr(self.local, name)(*args)

    def _write(self, name: str, args: tuple, journal: tuple | None, kwargs: dict | None = None):
        """Run a write on Redis and mirror it locally; on the local store alone (journaled) while
        Redis is away. Returns (result, True when Redis answered)."""
        kwargs = kwargs or {}
        if self._use_primary():
            try:
                return getattr(self.primary, name)(*args, **kwargs), True
            except StateUnavailable as exc:
                self._went_away(exc)
        result = getattr(self.local, name)(*args, **kwargs)
        if journal is not None:
            self.local.journal(*journal)
        return result, False

    # -- values -------------------------------------------------------------------------------
    def get(self, space: str, key: str) -> Any:
        if self._use_primary():
            try:
                value = self.primary.get(space, key)
            except StateUnavailable as exc:
                self._went_away(exc)
            else:
                if value is None:
                    return self.local.get(space, key)
                if space in MIRRORED_READS and self.local.get(space, key) != value:
                    self.local.put(space, key, value, READ_MIRROR_TTL)
                return value
        return self.local.get(space, key)

    def get_many(self, space: str, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        found = self._read("get_many", space, keys)
        missing = [key for key in keys if key not in found]
        if missing and not self.degraded:
            found.update(self.local.get_many(space, missing))
        return found

    def put(self, space: str, key: str, value: Any, ttl: float | None = None) -> None:
        _, remote = self._write("put", (space, key, value, ttl), ("v", space, key))
        if remote:
            self.local.put(space, key, value, ttl)

    def put_many(self, space: str, values: dict[str, Any], ttl: float | None = None) -> None:
        if self._use_primary():
            try:
                self.primary.put_many(space, values, ttl)
            except StateUnavailable as exc:
                self._went_away(exc)
            else:
                self.local.put_many(space, values, ttl)
                return
        self.local.put_many(space, values, ttl)
        for key in values:
            self.local.journal("v", space, key)

    def put_new(self, space: str, key: str, value: Any, ttl: float | None = None) -> bool:
        # Replayed as a put_new too: a value another host stored meanwhile still wins.
        stored, remote = self._write("put_new", (space, key, value, ttl), ("n", space, key))
        if remote and stored:
            self.local.put(space, key, value, ttl)
        return stored

    def exchange(self, space: str, key: str, value: Any, ttl: float | None = None) -> Any:
        old, remote = self._write("exchange", (space, key, value, ttl), ("v", space, key))
        if remote:
            self.local.put(space, key, value, ttl)
        return old

    def bound(self, space: str, limit: int) -> None:
        super().bound(space, limit)
        self.primary.bound(space, limit)
        self.local.bound(space, limit)

    def delete(self, space: str, key: str) -> None:
        _, remote = self._write("delete", (space, key), ("v", space, key))
        if remote:
            self.local.delete(space, key)

    # -- maps ---------------------------------------------------------------------------------
    def map_get(self, space: str, key: str) -> dict[str, Any]:
        return self._read("map_get", space, key)

    def map_get_many(self, space: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        return self._read("map_get_many", space, list(keys))

    def map_set(self, space: str, key: str, field: str, value: Any) -> None:
        _, remote = self._write("map_set", (space, key, field, value), ("m", space, key, field))
        if remote:
            self.local.map_set(space, key, field, value)

    def map_delete(self, space: str, key: str, field: str | None = None) -> None:
        if field is None:
            fields = list(self.local.map_get(space, key)) if self.degraded else []
            _, remote = self._write("map_delete", (space, key, None), None)
            for name in fields:
                self.local.journal("m", space, key, name)
        else:
            _, remote = self._write("map_delete", (space, key, field), ("m", space, key, field))
        if remote:
            self.local.map_delete(space, key, field)

    # -- counters -----------------------------------------------------------------------------
    def incr(self, space: str, key: str, field: str, amount: int = 1) -> int:
        return self._write("incr", (space, key, field, amount), ("c", space, key, field, amount))[0]

    def counts(self, space: str, key: str) -> dict[str, int]:
        return self._read("counts", space, key)

    def counts_many(self, space: str, keys: Iterable[str]) -> dict[str, dict[str, int]]:
        return self._read("counts_many", space, list(keys))

    def incr_many(self, space: str, key: str, amounts: dict[str, int]) -> None:
        if self._use_primary():
            try:
                return self.primary.incr_many(space, key, amounts)
            except StateUnavailable as exc:
                self._went_away(exc)
        for field, amount in amounts.items():
            self.local.incr(space, key, field, amount)
            self.local.journal("c", space, key, field, amount)

    # -- several reads at once ----------------------------------------------------------------
    def read_many(self, *reads: tuple[str, str, list[str]]) -> list[dict]:
        reads = tuple((method, space, list(keys)) for method, space, keys in reads)
        results = self._read("read_many", *reads)
        if not self.degraded:  # values missing in Redis: the mirror's, as get_many does
            for (method, space, keys), found in zip(reads, results, strict=True):
                missing = [key for key in keys if key not in found] if method == "get_many" else []
                if missing:
                    found.update(self.local.get_many(space, missing))
        return results

    # -- locks --------------------------------------------------------------------------------
    def try_lock(self, name: str, ttl: float) -> str | None:
        token, remote = self._write("try_lock", (name, ttl), None)
        if token is None:
            return None
        return (_REMOTE if remote else _LOCAL) + token

    def unlock(self, name: str, token: str) -> None:
        where, token = token[:2], token[2:]
        if where == _LOCAL:
            self.local.unlock(name, token)
            return
        try:
            self.primary.unlock(name, token)
        except StateUnavailable:
            pass  # the lock expires by itself

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "local" if self.degraded else "redis",
            "redis": display_url(self.primary.url),
            "redis_reachable": not self.degraded,
        }

    def close(self) -> None:
        self.primary.close()
        self.local.close()
