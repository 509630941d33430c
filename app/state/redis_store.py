"""The many-host backend: Redis (redis-py), when REDIS_URL is set.

Key layout, under the prefix (REDIS_PREFIX, "gwa:" by default, so several deployments can
share one Redis):

  <prefix>v:<space>:<key>   a value (string; TTL as Redis' own expiry)
  <prefix>m:<space>:<key>   a map (hash, one field per entry)
  <prefix>c:<space>:<key>   counters (hash of integers, HINCRBY)
  <prefix>l:<name>          a lock (SET NX PX; released by a compare-and-delete script)
  <prefix>i:<space>         a bounded space's index (sorted set of its value keys by write time)

Every failure to reach Redis (refused, reset, timed out, loading, read-only replica) is
raised as StateUnavailable, which the failover store turns into per-host state. Timeouts
are short and redis-py's own retries are limited to one immediate retry (a pooled
connection that died with a restarted Redis), so an outage costs a request at most one
timeout, never redis-py's default backoff of several seconds.
"""

from __future__ import annotations

import secrets
from typing import Any, Iterable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .base import StateUnavailable, Store, check_name, decode, display_url, encode

CONNECT_TIMEOUT = 0.5
COMMAND_TIMEOUT = 1.0
MAX_CONNECTIONS = 64  # per worker; greenlets wait (briefly) for a free one beyond that

# SET a value of a bounded space, index it by write time (Redis' clock, the same for every
# host), and delete the oldest values beyond the bound.
_PUT_BOUNDED = """
if ARGV[2] == '' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
local now = redis.call('TIME')
redis.call('ZADD', KEYS[2], tonumber(now[1]) + tonumber(now[2]) / 1000000, KEYS[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #oldest, 2 do redis.call('DEL', oldest[i]) end
end
return 1
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _maps(keys: list[str], hashes: list[dict[bytes, bytes]]) -> dict[str, dict[str, Any]]:
    return {
        key: {field.decode(): decode(value) for field, value in raw.items()}
        for key, raw in zip(keys, hashes, strict=True)
    }


def _counts(keys: list[str], hashes: list[dict[bytes, bytes]]) -> dict[str, dict[str, int]]:
    return {
        key: {field.decode(): int(value) for field, value in raw.items()} for key, raw in zip(keys, hashes, strict=True)
    }


def _ms(ttl: float | None) -> int | None:
    return None if ttl is None else max(1, int(ttl * 1000))


class RedisStore(Store):
    backend = "redis"

    def __init__(self, url: str, prefix: str = "gwa:", *, timeout: float = COMMAND_TIMEOUT):
        self.url = url
        self.prefix = prefix
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=timeout,
            socket_connect_timeout=min(CONNECT_TIMEOUT, timeout),
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
        self.client = redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 1))
        self._unlock = self.client.register_script(_UNLOCK)
        self._put_bounded = self.client.register_script(_PUT_BOUNDED)

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except redis.exceptions.DataError:
            raise
        except (redis.exceptions.RedisError, OSError) as exc:
            raise StateUnavailable(f"Redis at {display_url(self.url)}: {type(exc).__name__}: {exc}") from None

    def _v(self, space: str, key: str) -> str:
        return f"{self.prefix}v:{space}:{key}"

    def _m(self, space: str, key: str) -> str:
        return f"{self.prefix}m:{space}:{key}"

    def _c(self, space: str, key: str) -> str:
        return f"{self.prefix}c:{space}:{key}"

    def ping(self) -> None:
        self._call(self.client.ping)

    # -- values -------------------------------------------------------------------------------
    def get(self, space: str, key: str) -> Any:
        return decode(self._call(self.client.get, self._v(space, key)))

    def get_many(self, space: str, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        if not keys:
            return {}
        values = self._call(self.client.mget, [self._v(space, key) for key in keys])
        return {key: decode(raw) for key, raw in zip(keys, values, strict=True) if raw is not None}

    def put(self, space: str, key: str, value: Any, ttl: float | None = None) -> None:
        check_name(space, key)
        limit = self.limit_of(space)
        if limit is None:
            self._call(self.client.set, self._v(space, key), encode(value), px=_ms(ttl))
            return
        ms = _ms(ttl)
        self._call(
            self._put_bounded,
            keys=[self._v(space, key), f"{self.prefix}i:{space}"],
            args=[encode(value), "" if ms is None else str(ms), str(limit)],
        )

    def put_many(self, space: str, values: dict[str, Any], ttl: float | None = None) -> None:
        check_name(space, *values)
        limit = self.limit_of(space)
        ms = _ms(ttl)
        encoded = {key: encode(value) for key, value in values.items()}

        def write():
            pipe = self.client.pipeline(transaction=False)
            for key, value in encoded.items():
                if limit is None:
                    pipe.set(self._v(space, key), value, px=ms)
                else:
                    # EVALSHA itself: a pipeline given the Script asks SCRIPT EXISTS first (a round trip).
                    index = f"{self.prefix}i:{space}"
                    ttl_ms = "" if ms is None else str(ms)
                    pipe.evalsha(self._put_bounded.sha, 2, self._v(space, key), index, value, ttl_ms, str(limit))
            return pipe.execute()

        def write_loading_the_script():
            try:
                return write()
            except redis.exceptions.NoScriptError:  # a Redis restarted since: load it, write again
                self.client.script_load(_PUT_BOUNDED)
                return write()

        self._call(write_loading_the_script)

    def put_new(self, space: str, key: str, value: Any, ttl: float | None = None) -> bool:
        check_name(space, key)
        return bool(self._call(self.client.set, self._v(space, key), encode(value), px=_ms(ttl), nx=True))

    def exchange(self, space: str, key: str, value: Any, ttl: float | None = None) -> Any:
        check_name(space, key)
        return decode(self._call(self.client.set, self._v(space, key), encode(value), px=_ms(ttl), get=True))

    def delete(self, space: str, key: str) -> None:
        self._call(self.client.delete, self._v(space, key))
        if self.limit_of(space) is not None:
            self._call(self.client.zrem, f"{self.prefix}i:{space}", self._v(space, key))

    # -- maps ---------------------------------------------------------------------------------
    def map_get(self, space: str, key: str) -> dict[str, Any]:
        raw = self._call(self.client.hgetall, self._m(space, key))
        return {field.decode(): decode(value) for field, value in raw.items()}

    def _hashes(self, names: list[str]) -> list[dict[bytes, bytes]]:
        """HGETALL of several hashes in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(name)
        return self._call(pipe.execute)

    def map_get_many(self, space: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        keys = list(keys)
        return _maps(keys, self._hashes([self._m(space, key) for key in keys]))

    def map_set(self, space: str, key: str, field: str, value: Any) -> None:
        check_name(space, key, field)
        self._call(self.client.hset, self._m(space, key), field, encode(value))

    def map_delete(self, space: str, key: str, field: str | None = None) -> None:
        if field is None:
            self._call(self.client.delete, self._m(space, key))
        else:
            self._call(self.client.hdel, self._m(space, key), field)

    # -- counters -----------------------------------------------------------------------------
    def incr(self, space: str, key: str, field: str, amount: int = 1) -> int:
        check_name(space, key, field)
        return int(self._call(self.client.hincrby, self._c(space, key), field, int(amount)))

    def counts(self, space: str, key: str) -> dict[str, int]:
        raw = self._call(self.client.hgetall, self._c(space, key))
        return {field.decode(): int(value) for field, value in raw.items()}

    def counts_many(self, space: str, keys: Iterable[str]) -> dict[str, dict[str, int]]:
        keys = list(keys)
        return _counts(keys, self._hashes([self._c(space, key) for key in keys]))

    def incr_many(self, space: str, key: str, amounts: dict[str, int]) -> None:
        check_name(space, key, *amounts)
        pipe = self.client.pipeline(transaction=False)
        for field, amount in amounts.items():
            pipe.hincrby(self._c(space, key), field, int(amount))
        self._call(pipe.execute)

    # -- several reads at once ----------------------------------------------------------------
    def read_many(self, *reads: tuple[str, str, list[str]]) -> list[dict]:
        """One pipeline for all of them: the pool's view of its accounts is one round trip."""
        pipe = self.client.pipeline(transaction=False)
        shapes = []
        for method, space, keys in reads:
            keys = list(keys)
            shapes.append((method, keys))
            if method == "get_many":
                if keys:
                    pipe.mget([self._v(space, key) for key in keys])
            elif method in ("map_get_many", "counts_many"):
                name = self._m if method == "map_get_many" else self._c
                for key in keys:
                    pipe.hgetall(name(space, key))
            else:
                raise ValueError(f"read_many cannot read with {method}")
        results = iter(self._call(pipe.execute))
        out: list[dict] = []
        for method, keys in shapes:
            if method == "get_many":
                values = next(results) if keys else []
                out.append({key: decode(raw) for key, raw in zip(keys, values, strict=True) if raw is not None})
            else:
                hashes = [next(results) for _ in keys]
                out.append((_maps if method == "map_get_many" else _counts)(keys, hashes))
        return out

    # -- locks --------------------------------------------------------------------------------
    def try_lock(self, name: str, ttl: float) -> str | None:
        check_name(name)
        token = secrets.token_hex(8)
        taken = self._call(self.client.set, f"{self.prefix}l:{name}", token, px=_ms(ttl), nx=True)
        return token if taken else None

    def unlock(self, name: str, token: str) -> None:
        self._call(self._unlock, keys=[f"{self.prefix}l:{name}"], args=[token])

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "redis": display_url(self.url)}

    def close(self) -> None:
        self.client.close()
