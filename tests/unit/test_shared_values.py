"""The client library's SharedValues over the shared-state store (app/ops/shared_values.py)
and in memory (app/grok/shared.py): values by key, and one lock holder at a time."""

from __future__ import annotations

import gevent
import pytest

from app.grok.shared import MemoryValues
from app.ops.shared_values import StoreValues
from app.state import open_store


@pytest.fixture(params=["store", "memory"])
def values(request, tmp_path):
    return StoreValues(open_store(None, tmp_path)) if request.param == "store" else MemoryValues()


def test_get_and_put(values):
    assert values.get("statsig") is None
    values.put("statsig", {"values": {"build": "b1"}, "n": 1})
    assert values.get("statsig") == {"values": {"build": "b1"}, "n": 1}
    assert values.get("modes") is None


def test_one_holder_at_a_time_and_a_bounded_wait(values):
    order = []

    def hold(name: str, seconds: float):
        with values.lock("statsig", timeout=5):
            order.append(f"{name} in")
            gevent.sleep(seconds)
            order.append(f"{name} out")

    first = gevent.spawn(hold, "a", 0.2)
    gevent.sleep(0.05)
    second = gevent.spawn(hold, "b", 0)
    gevent.joinall([first, second], raise_error=True)
    assert order == ["a in", "a out", "b in", "b out"]
    with values.lock("statsig", timeout=1):
        with pytest.raises(TimeoutError):
            with values.lock("statsig", timeout=0.1):
                pass
    with values.lock("statsig", timeout=0.1):  # released after the failed wait
        pass


def test_store_values_live_in_their_own_space(tmp_path):
    store = open_store(None, tmp_path)
    StoreValues(store).put("statsig", {"x": 1})
    assert store.get("grok", "statsig") == {"x": 1} and store.get("health", "statsig") is None


def test_a_worker_reads_the_store_again_after_a_while_and_always_under_the_lock(tmp_path):
    one, two = StoreValues(open_store(None, tmp_path), fresh_seconds=0.3), StoreValues(open_store(None, tmp_path))
    one.put("modes", {"list": ["auto"]})
    assert two.get("modes") == {"list": ["auto"]}
    one.put("modes", {"list": ["auto", "fast"]})
    assert one.get("modes") == {"list": ["auto", "fast"]}  # its own write at once
    got = two.get("modes")
    got["list"].append("changed by the caller")
    assert two.get("modes") == {"list": ["auto"]}  # still the copy read a moment ago, unchanged
    with two.lock("modes", timeout=5):
        assert two.get("modes") == {"list": ["auto", "fast"]}  # where a refresh is decided: the store's
    other = StoreValues(open_store(None, tmp_path), fresh_seconds=0.3)
    assert other.get("statsig") is None
    one.put("statsig", {"build": "b2"})
    gevent.sleep(0.35)
    assert other.get("statsig") == {"build": "b2"}
