"""The shared-state store: one contract for the run-directory and the Redis backends, and the
failover between them (a real redis-server, killed and started again)."""

from __future__ import annotations

import logging
import os
import time

import pytest

from app.ops import logs
from app.state import open_store
from app.state.base import MAX_VALUE_BYTES
from app.state.failover import FailoverStore
from app.state.local import LocalStore
from app.state.redis_store import RedisStore, display_url


@pytest.fixture(autouse=True)
def _fresh_redactor(monkeypatch):
    monkeypatch.setattr(logs, "redactor", logs.Redactor())


@pytest.fixture(params=["local", "redis", "failover"])
def store(request, tmp_path):
    if request.param == "local":
        yield LocalStore(tmp_path)
        return
    server = request.getfixturevalue("redis_session")
    prefix = request.getfixturevalue("redis_prefix")
    if request.param == "redis":
        made = RedisStore(server.url, prefix)
    else:
        made = open_store(server.url, tmp_path, prefix)
    yield made
    made.close()


def test_values_put_get_delete(store):
    assert store.get("owner", "c1") is None
    store.put("owner", "c1", "work")
    store.put("owner", "c2", {"label": "home", "n": [1, 2]})
    assert store.get("owner", "c1") == "work"
    assert store.get_many("owner", ["c1", "c2", "c3"]) == {"c1": "work", "c2": {"label": "home", "n": [1, 2]}}
    store.delete("owner", "c1")
    assert store.get("owner", "c1") is None
    assert store.get_many("owner", []) == {}


def test_values_expire(store):
    store.put("check", "a", 1, ttl=0.3)
    store.put("check", "b", 2)
    assert store.get("check", "a") == 1
    time.sleep(0.45)
    assert store.get("check", "a") is None
    assert store.get_many("check", ["a", "b"]) == {"b": 2}


def test_a_bounded_space_keeps_its_most_recent_values(store):
    store.bound("continuity", 40)
    for n in range(100):
        store.put("continuity", f"h{n}", n, ttl=60)
    kept = store.get_many("continuity", [f"h{n}" for n in range(100)])
    # Trimmed as puts go by (every 2 puts for a bound of 40): never far beyond the bound,
    # and what stays is the most recent.
    assert 40 <= len(kept) <= 42
    assert all(f"h{n}" in kept for n in range(60, 100))
    store.put("owner", "unbounded", 1)
    assert store.get("owner", "unbounded") == 1  # other spaces are not affected
    with pytest.raises(ValueError):
        store.bound("continuity", 0)


def test_several_reads_and_writes_at_once_match_the_single_calls(store):
    store.bound("continuity", 40)
    store.put_many("continuity", {"c:1": {"r": "a"}, "h:x": 1}, ttl=60)
    store.put_many("owner", {"conv:1": "work", "conv:2": "home"})
    store.map_set("cooldown", "work", "fast", {"until": 9})
    store.incr_many("account-counts", "work", {"requests": 1, "spent.fast": 2})
    store.incr_many("account-counts", "work", {"requests": 1})
    owners, cooling, counts, none = store.read_many(
        ("get_many", "owner", ["conv:1", "conv:2", "conv:3"]),
        ("map_get_many", "cooldown", ["work", "home"]),
        ("counts_many", "account-counts", ["work"]),
        ("get_many", "owner", []),
    )
    assert owners == store.get_many("owner", ["conv:1", "conv:2", "conv:3"]) == {"conv:1": "work", "conv:2": "home"}
    assert cooling == store.map_get_many("cooldown", ["work", "home"]) == {"work": {"fast": {"until": 9}}, "home": {}}
    assert counts == {"work": {"requests": 2, "spent.fast": 2}} and none == {}
    assert store.get_many("continuity", ["c:1", "h:x"]) == {"c:1": {"r": "a"}, "h:x": 1}
    for _ in range(30):  # a bounded space stays bounded when written several keys at a time
        store.put_many("continuity", {f"k{n}": n for n in range(_ * 3, _ * 3 + 3)}, ttl=60)
    assert len(store.get_many("continuity", [f"k{n}" for n in range(90)])) <= 42
    with pytest.raises(ValueError):
        store.read_many(("get", "owner", ["conv:1"]))


def test_several_bounded_writes_survive_a_redis_that_forgot_its_scripts(redis_session, redis_prefix):
    store = RedisStore(redis_session.url, redis_prefix)
    store.bound("continuity", 10)
    store.put_many("continuity", {"a": 1})
    store.client.script_flush()  # as after a restart
    store.put_many("continuity", {"b": 2, "c": 3})
    assert store.get_many("continuity", ["a", "b", "c"]) == {"a": 1, "b": 2, "c": 3}
    assert store.client.zcard(f"{redis_prefix}i:continuity") == 3  # indexed: the bound still holds


def test_first_writer_wins_and_an_expired_value_is_replaced(store):
    assert store.put_new("keys", "signing", "one") is True
    assert store.put_new("keys", "signing", "two") is False
    assert store.get("keys", "signing") == "one"
    assert store.put_new("keys", "short", "x", ttl=0.2) is True
    time.sleep(0.3)
    assert store.put_new("keys", "short", "y") is True
    assert store.get("keys", "short") == "y"


def test_exchange_returns_the_previous_value(store):
    assert store.exchange("health", "anti_bot", "ok") is None
    assert store.exchange("health", "anti_bot", "stale_challenge") == "ok"
    assert store.exchange("health", "anti_bot", "stale_challenge") == "stale_challenge"
    assert store.get("health", "anti_bot") == "stale_challenge"


def test_maps_keep_fields_apart(store):
    store.map_set("cooldown", "work", "fast", {"until": 10})
    store.map_set("cooldown", "work", "expert", {"until": 20})
    store.map_set("cooldown", "home", "fast", {"until": 30})
    assert store.map_get("cooldown", "work") == {"fast": {"until": 10}, "expert": {"until": 20}}
    store.map_delete("cooldown", "work", "fast")
    assert store.map_get_many("cooldown", ["work", "home", "none"]) == {
        "work": {"expert": {"until": 20}},
        "home": {"fast": {"until": 30}},
        "none": {},
    }
    store.map_delete("cooldown", "home")
    assert store.map_get("cooldown", "home") == {}


def test_counters_add_up(store):
    assert store.incr("account-counts", "work", "requests") == 1
    assert store.incr("account-counts", "work", "requests", 4) == 5
    store.incr("account-counts", "work", "failures.rate_limited")
    assert store.counts("account-counts", "work") == {"requests": 5, "failures.rate_limited": 1}
    assert store.counts_many("account-counts", ["work", "none"]) == {
        "work": {"requests": 5, "failures.rate_limited": 1},
        "none": {},
    }


def test_locks_are_exclusive_until_released_or_expired(store):
    token = store.try_lock("session-check:work", ttl=5)
    assert token
    assert store.try_lock("session-check:work", ttl=5) is None
    assert store.try_lock("session-check:home", ttl=5)
    store.unlock("session-check:work", "not-the-token")
    assert store.try_lock("session-check:work", ttl=5) is None
    store.unlock("session-check:work", token)
    short = store.try_lock("session-check:work", ttl=0.2)
    assert short
    time.sleep(0.3)
    again = store.try_lock("session-check:work", ttl=5)
    assert again
    store.unlock("session-check:work", short)  # the expired holder must not free the new one
    assert store.try_lock("session-check:work", ttl=5) is None


def test_values_are_bounded(store):
    with pytest.raises(ValueError):
        store.put("owner", "big", "x" * (MAX_VALUE_BYTES + 1))
    with pytest.raises(ValueError):
        store.put("owner", "k" * 300, "v")
    assert store.get("owner", "big") is None


def test_local_store_is_shared_by_processes(tmp_path):
    store = LocalStore(tmp_path)
    store.put("owner", "c1", "work")
    pid = os.fork()
    if pid == 0:  # a second gunicorn worker of the same host
        try:
            child = LocalStore(tmp_path)
            ok = child.get("owner", "c1") == "work" and child.try_lock("x", 5) is not None
            child.incr("account-counts", "work", "requests")
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.try_lock("x", 5) is None  # the child's lock holds across processes
    assert store.counts("account-counts", "work") == {"requests": 1}
    assert oct(os.stat(tmp_path / "state.sqlite3").st_mode & 0o777) == "0o600"


def test_local_store_prunes_a_space_beyond_its_bound(tmp_path, monkeypatch):
    from app.state import local

    monkeypatch.setattr(local, "MAX_ROWS_PER_SPACE", 10)
    store = LocalStore(tmp_path)
    for n in range(25):
        store.put("owner", f"c{n}", n)
    store.put("keys", "k", 1, ttl=0.001)
    time.sleep(0.01)
    store.prune()
    kept = store.get_many("owner", [f"c{n}" for n in range(25)])
    assert sorted(kept.values()) == list(range(15, 25))  # the most recently written survive
    assert store.db.execute("SELECT count(*) FROM kv WHERE space = 'keys'").fetchone()[0] == 0


def test_redis_url_password_never_shown():
    assert display_url("redis://:s3cret@cache.internal:6380/2") == "redis://***@cache.internal:6380/2"
    assert display_url("rediss://app:s3cret@cache:6379/0") == "rediss://app:***@cache:6379/0"
    assert display_url("redis://cache:6379") == "redis://cache:6379"


# -- failover ------------------------------------------------------------------------------------
def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "grok_web_api.state" and r.levelno >= logging.WARNING]


@pytest.fixture
def quick_probe(monkeypatch):
    from app.state import failover

    monkeypatch.setattr(failover, "PROBE_SECONDS", 0.1)


def test_an_outage_degrades_to_the_run_directory_and_recovers(own_redis, tmp_path, caplog, quick_probe):
    caplog.set_level(logging.INFO)
    store = open_store(own_redis.url, tmp_path / "a", "p:")
    other = open_store(own_redis.url, tmp_path / "b", "p:")  # a second host
    assert isinstance(store, FailoverStore)
    store.put("owner", "before", "work")
    store.incr("account-counts", "work", "requests")
    assert store.put_new("keys", "signing", "shared-key")
    assert other.get("owner", "before") == "work"

    own_redis.kill()
    # Every call still answers, from this host's own state; one warning for the whole outage.
    assert store.get("owner", "before") == "work"  # mirrored when it was written
    store.put("owner", "during", "home")
    store.map_set("cooldown", "work", "fast", {"until": 99})
    for _ in range(3):
        store.incr("account-counts", "work", "requests")
    store.incr_many("account-counts", "work", {"requests": 2, "spent.fast": 1})
    store.put_many("owner", {"many": "home"})
    assert store.read_many(("get_many", "owner", ["before", "many"]))[0] == {"before": "work", "many": "home"}
    assert store.put_new("keys", "signing", "local-key") is False  # the mirror knows the shared one
    assert store.put_new("keys", "fresh", "local-value") is True
    token = store.try_lock("session-check:work", 5)
    assert token and store.try_lock("session-check:work", 5) is None
    store.unlock("session-check:work", token)
    assert store.describe() == {"backend": "local", "redis": own_redis.url, "redis_reachable": False}
    assert len(warnings(caplog)) == 1 and "until Redis is back" in warnings(caplog)[0]

    own_redis.start()  # an empty Redis: nothing was persisted
    time.sleep(0.15)
    assert store.get("owner", "during") == "home"
    assert store.describe()["redis_reachable"] is True
    assert warnings(caplog)[1].startswith("Redis at") and "reachable again" in warnings(caplog)[1]
    # What this host wrote during the outage reached Redis, for every other host.
    assert other.get("owner", "during") == "home"
    assert other.map_get("cooldown", "work") == {"fast": {"until": 99}}
    assert other.counts("account-counts", "work") == {"requests": 5, "spent.fast": 1}
    assert other.get("owner", "many") == "home"
    assert other.get("keys", "fresh") == "local-value"
    # A value written before the outage and lost with Redis is still known to its writer.
    assert store.get("owner", "before") == "work"
    assert len(warnings(caplog)) == 2


def test_a_replayed_first_write_does_not_override_another_hosts(own_redis, tmp_path, quick_probe):
    store = open_store(own_redis.url, tmp_path / "a", "p:")
    own_redis.kill()
    assert store.put_new("keys", "signing", "mine") is True
    own_redis.start()
    RedisStore(own_redis.url, "p:").put_new("keys", "signing", "theirs")
    time.sleep(0.15)
    assert store.get("keys", "signing") == "theirs"


def test_redis_down_at_startup_still_serves(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    from tests.support.gunicorn import free_port

    store = open_store(f"redis://:pw@127.0.0.1:{free_port()}/0", tmp_path)
    store.put("owner", "c", "work")
    assert store.get("owner", "c") == "work"
    assert len(warnings(caplog)) == 1 and "pw" not in warnings(caplog)[0]
