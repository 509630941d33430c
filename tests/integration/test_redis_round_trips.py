"""What a chat costs the shared state with REDIS_URL: a few Redis round trips per request, none
per token (the pool's view of its accounts in one pipeline, its counters in another, the
continuity records written together, the mode list read once per few seconds per worker)."""

from __future__ import annotations

import pytest

from app.state import redis_store
from tests.integration.test_account_pool import (  # noqa: F401 (the module's autouse fixture applies here too)
    Pool,
    _fresh_redactor,
)

CHATS = 20
# choose an account (1), count its start (1), continuity: read the conversation's tip and write
# the new records (2); the rest is rarer (a parked view a second old, the lane switch, health).
MOST_PER_CHAT = 5


@pytest.mark.parametrize("stream", [False, True])
def test_a_chat_costs_a_few_redis_round_trips_and_none_per_token(fake, tmp_path, own_redis, monkeypatch, stream):
    pool = Pool(fake, tmp_path, {"work": {}, "home": {}}, REDIS_URL=own_redis.url)
    trips = []
    real = redis_store.RedisStore._call
    monkeypatch.setattr(
        redis_store.RedisStore, "_call", lambda self, fn, *a, **k: trips.append(1) or real(self, fn, *a, **k)
    )
    for _ in range(3):  # the first chats read and cache the mode list and the statsig values
        assert pool.chat(stream=stream).status_code == 200
    trips.clear()
    for n in range(CHATS):
        long = n % 2 == 0  # a long answer costs no more than a short one
        text = "hello #scenario:slow?n=60&delay=0" if long else "hello"
        response = pool.chat(text, stream=stream)
        assert response.status_code == 200 and response.get_data()
    assert len(trips) <= MOST_PER_CHAT * CHATS, len(trips) / CHATS
    assert pool.app.extensions["grok_web_api"].store.describe()["redis_reachable"] is True
